"""RFC 9113 §6.10: CONTINUATION."""

from __future__ import annotations

from mux.conformance.case import Group
from mux.conformance.context import CaseContext
from mux.conformance.groups._h2 import (
    PROTOCOL_ERROR,
    RFC9113,
    connection_error,
    open_post,
    response_headers,
)
from mux.conformance.h2wire import CONTINUATION, END_HEADERS, END_STREAM, HEADERS

continuation = Group("h2", "6.10", "CONTINUATION", RFC9113)


@continuation.case(
    "Sends HEADERS followed by two CONTINUATION frames",
    "A field block split over HEADERS and CONTINUATION frames MUST be processed as one block.",
)
async def split_block(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    block = peer.encode(peer.request_headers())
    third = max(1, len(block) // 3)
    await peer.send_frame(HEADERS, END_STREAM, 1, block[:third])
    await peer.send_frame(CONTINUATION, 0, 1, block[third : 2 * third])
    await peer.send_frame(CONTINUATION, END_HEADERS, 1, block[2 * third :])
    await response_headers(peer, 1)


@continuation.case(
    "Sends CONTINUATION without END_HEADERS followed by DATA",
    "A CONTINUATION without END_HEADERS MUST be followed by another CONTINUATION; any other "
    "frame is a connection error of type PROTOCOL_ERROR.",
)
async def continuation_then_data(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    block = peer.encode(peer.request_headers("POST"))
    await peer.send_frame(HEADERS, 0, 1, block[:1])
    await peer.send_frame(CONTINUATION, 0, 1, block[1:])
    await peer.send_data(1, b"test", end_stream=True)
    await connection_error(ctx, peer, PROTOCOL_ERROR)


@continuation.case(
    "Sends CONTINUATION on stream 0",
    "CONTINUATION on stream 0x0 MUST be a connection error of type PROTOCOL_ERROR.",
)
async def continuation_stream_zero(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    block = peer.encode(peer.request_headers())
    await peer.send_frame(HEADERS, END_STREAM, 1, block[:1])
    await peer.send_frame(CONTINUATION, END_HEADERS, 0, block[1:])
    await connection_error(ctx, peer, PROTOCOL_ERROR)


@continuation.case(
    "Sends CONTINUATION after HEADERS that had END_HEADERS",
    "A CONTINUATION not preceded by HEADERS, PUSH_PROMISE or CONTINUATION without "
    "END_HEADERS MUST be a connection error of type PROTOCOL_ERROR.",
)
async def continuation_after_end_headers(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await peer.send_headers(1, peer.request_headers("POST", ctx.target.hold_path), end_stream=False)
    await peer.send_frame(CONTINUATION, END_HEADERS, 1, peer.encode([("x-test", "1")]))
    await connection_error(ctx, peer, PROTOCOL_ERROR)


@continuation.case(
    "Sends CONTINUATION for a different stream than the HEADERS",
    "A CONTINUATION on another stream than the open field block MUST be a connection error "
    "of type PROTOCOL_ERROR.",
)
async def continuation_other_stream(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    block = peer.encode(peer.request_headers())
    await peer.send_frame(HEADERS, END_STREAM, 1, block[:1])
    await peer.send_frame(CONTINUATION, END_HEADERS, 3, block[1:])
    await connection_error(ctx, peer, PROTOCOL_ERROR)


@continuation.case(
    "Sends CONTINUATION after DATA",
    "A CONTINUATION that follows a DATA frame MUST be a connection error of type PROTOCOL_ERROR.",
)
async def continuation_after_data(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await open_post(peer)
    await peer.send_data(1, b"test")
    await peer.send_frame(CONTINUATION, END_HEADERS, 1, peer.encode([("x-test", "1")]))
    await connection_error(ctx, peer, PROTOCOL_ERROR)


GROUPS = [continuation]
