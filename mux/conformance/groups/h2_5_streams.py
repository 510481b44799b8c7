"""RFC 9113 §5: stream states, identifiers, concurrency, priority, errors, extensions."""

from __future__ import annotations

import struct

from mux.conformance.case import CaseSkipped, Group
from mux.conformance.context import CaseContext
from mux.conformance.groups._h2 import (
    CANCEL,
    PROTOCOL_ERROR,
    REFUSED_STREAM,
    RFC9113,
    STREAM_CLOSED,
    connection_error,
    error_case,
    open_post,
    stream_end,
    stream_error,
)
from mux.conformance.h2wire import (
    CONTINUATION,
    END_HEADERS,
    END_STREAM,
    HEADERS,
    MAX_CONCURRENT_STREAMS,
    PING,
    PRIORITY_FLAG,
    H2Peer,
)
from mux.conformance.verify import verify_alive, verify_closed, verify_connection_error

states = Group("h2", "5.1", "Stream States", RFC9113)
identifiers = Group("h2", "5.1.1", "Stream Identifiers", RFC9113)
concurrency = Group("h2", "5.1.2", "Stream Concurrency", RFC9113)
priority = Group("h2", "5.3.1", "Background on Priority in RFC 7540", RFC9113)
conn_errors = Group("h2", "5.4.1", "Connection Error Handling", RFC9113)
extending = Group("h2", "5.5", "Extending HTTP/2", RFC9113)

_IDLE_RULE = "a connection error of type PROTOCOL_ERROR."


async def _get(peer: H2Peer, stream_id: int = 1) -> None:
    await peer.send_headers(stream_id, end_stream=True)


@states.case("idle: sends DATA", "DATA on an idle stream MUST be " + _IDLE_RULE)
async def idle_data(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await peer.send_data(1, b"test", end_stream=True)
    await connection_error(ctx, peer, PROTOCOL_ERROR)


@states.case("idle: sends RST_STREAM", "RST_STREAM on an idle stream MUST be " + _IDLE_RULE)
async def idle_rst(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await peer.send_rst_stream(1, CANCEL)
    await connection_error(ctx, peer, PROTOCOL_ERROR)


@states.case("idle: sends WINDOW_UPDATE", "WINDOW_UPDATE on an idle stream MUST be " + _IDLE_RULE)
async def idle_window_update(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await peer.send_window_update(1, 100)
    await connection_error(ctx, peer, PROTOCOL_ERROR)


@states.case("idle: sends CONTINUATION", "CONTINUATION on an idle stream MUST be " + _IDLE_RULE)
async def idle_continuation(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await peer.send_frame(CONTINUATION, END_HEADERS, 1, peer.encode(peer.request_headers()))
    await connection_error(ctx, peer, PROTOCOL_ERROR)


_HALF_CLOSED = (
    "Frames other than WINDOW_UPDATE, PRIORITY or RST_STREAM on a half-closed (remote) stream "
    "MUST get a stream error of type STREAM_CLOSED."
)


@states.case("half-closed (remote): sends DATA", _HALF_CLOSED)
async def half_closed_data(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await _get(peer)
    await peer.send_data(1, b"test", end_stream=True)
    await stream_error(peer, 1, STREAM_CLOSED)


@states.case("half-closed (remote): sends HEADERS", _HALF_CLOSED)
async def half_closed_headers(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await _get(peer)
    await peer.send_headers(1, end_stream=True)
    await stream_error(peer, 1, STREAM_CLOSED)


@states.case(
    "half-closed (remote): sends CONTINUATION",
    "A CONTINUATION on a half-closed (remote) stream MUST be an error of type STREAM_CLOSED "
    "(or PROTOCOL_ERROR: no field block is open).",
)
async def half_closed_continuation(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await _get(peer)
    await peer.send_frame(CONTINUATION, END_HEADERS, 1, peer.encode([("x-test", "1")]))
    await stream_error(peer, 1, STREAM_CLOSED, PROTOCOL_ERROR)


_AFTER_RST = (
    "Any frame other than PRIORITY received after RST_STREAM MUST get a stream error of "
    "type STREAM_CLOSED."
)


@states.case("closed: sends DATA after RST_STREAM", _AFTER_RST)
async def closed_data_after_rst(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await open_post(peer)
    await peer.send_rst_stream(1, CANCEL)
    await peer.send_data(1, b"test", end_stream=True)
    await stream_error(peer, 1, STREAM_CLOSED)


@states.case("closed: sends HEADERS after RST_STREAM", _AFTER_RST)
async def closed_headers_after_rst(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await open_post(peer)
    await peer.send_rst_stream(1, CANCEL)
    await peer.send_headers(1, [("x-trailer", "1")], end_stream=True)
    await stream_error(peer, 1, STREAM_CLOSED)


_AFTER_END = (
    "Frames received on a stream after it closed with END_STREAM in both directions MUST get "
    "an error of type STREAM_CLOSED."
)


@states.case("closed: sends DATA after the stream closed", _AFTER_END)
async def closed_data(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await _get(peer)
    await stream_end(peer, 1)
    await peer.send_data(1, b"test", end_stream=True)
    await stream_error(peer, 1, STREAM_CLOSED)


@states.case("closed: sends HEADERS after the stream closed", _AFTER_END)
async def closed_headers(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await _get(peer)
    await stream_end(peer, 1)
    await peer.send_headers(1, end_stream=True)
    await stream_error(peer, 1, STREAM_CLOSED)


@identifiers.case(
    "Sends an even-numbered stream identifier",
    "A client-initiated stream with an even identifier MUST be a connection error of type "
    "PROTOCOL_ERROR.",
)
async def even_stream(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await _get(peer, 2)
    await connection_error(ctx, peer, PROTOCOL_ERROR)


@identifiers.case(
    "Sends a stream identifier smaller than a previous one",
    "A new stream identifier MUST be larger than every identifier already opened by the peer; "
    "otherwise a connection error of type PROTOCOL_ERROR.",
)
async def decreasing_stream(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await _get(peer, 5)
    await _get(peer, 3)
    await connection_error(ctx, peer, PROTOCOL_ERROR)


@concurrency.case(
    "Opens more streams than SETTINGS_MAX_CONCURRENT_STREAMS",
    "A HEADERS frame that exceeds the advertised stream limit MUST get a stream error of type "
    "PROTOCOL_ERROR or REFUSED_STREAM.",
)
async def too_many_streams(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    limit = peer.server_settings.get(MAX_CONCURRENT_STREAMS)
    if limit is None or limit > 1000:
        raise CaseSkipped(f"server advertises SETTINGS_MAX_CONCURRENT_STREAMS={limit}")
    hold = peer.request_headers("POST", ctx.target.hold_path)
    blocks = [peer.encode(hold) for _ in range(limit + 1)]
    for index, block in enumerate(blocks):
        await peer.send_frame(HEADERS, END_HEADERS, 1 + 2 * index, block)
    await stream_error(peer, 1 + 2 * limit, PROTOCOL_ERROR, REFUSED_STREAM)


@priority.case(
    "Sends HEADERS whose priority depends on its own stream",
    "A stream cannot depend on itself: it MUST be a stream error of type PROTOCOL_ERROR.",
)
async def headers_self_dependency(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    block = struct.pack(">IB", 1, 15) + peer.encode(peer.request_headers())
    await peer.send_frame(HEADERS, END_STREAM | END_HEADERS | PRIORITY_FLAG, 1, block)
    await stream_error(peer, 1, PROTOCOL_ERROR)


error_case(
    priority,
    "Sends PRIORITY that depends on its own stream",
    "A stream cannot depend on itself: it MUST be a stream error of type PROTOCOL_ERROR.",
    lambda p: p.send_priority(1, 1),
    code=PROTOCOL_ERROR,
    on_stream=1,
)


@conn_errors.case(
    "Sends an invalid PING and expects the connection to close",
    "After a connection error the endpoint MUST close the TCP connection.",
)
async def closes_after_error(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await peer.send_frame(PING, 0, 0, b"\x00" * 6)
    await verify_closed(peer)


@conn_errors.case(
    "Sends an invalid PING and expects GOAWAY before the close",
    "An endpoint that encounters a connection error SHOULD first send a GOAWAY frame.",
    strict=True,
)
async def goaway_before_close(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await peer.send_frame(PING, 0, 0, b"\x00" * 6)
    await verify_connection_error(peer, 0x6, require_goaway=True)
    await verify_closed(peer)


@extending.case(
    "Sends a frame of an unknown type",
    "Frames of unknown types MUST be ignored and discarded.",
)
async def unknown_frame(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await peer.send_frame(0xBE, 0, 0, b"unknown frame")
    await verify_alive(peer)


@extending.case(
    "Sends a frame of an unknown type in the middle of a field block",
    "Any frame other than CONTINUATION inside a field block MUST be a connection error of "
    "type PROTOCOL_ERROR, unknown types included.",
)
async def unknown_frame_inside_block(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await peer.send_frame(HEADERS, END_STREAM, 1, peer.encode(peer.request_headers()))
    await peer.send_frame(0xBE, 0, 1, b"unknown frame")
    await peer.send_frame(CONTINUATION, END_HEADERS, 1, peer.encode([("x-test", "1")]))
    await connection_error(ctx, peer, PROTOCOL_ERROR)


GROUPS = [states, identifiers, concurrency, priority, conn_errors, extending]
