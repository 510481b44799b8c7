"""RFC 9113 §6.1-6.4, 6.7, 6.8: DATA, HEADERS, PRIORITY, RST_STREAM, PING, GOAWAY."""

from __future__ import annotations

import struct

from mux.conformance.case import Group
from mux.conformance.context import CaseContext
from mux.conformance.groups._h2 import (
    FRAME_SIZE_ERROR,
    PROTOCOL_ERROR,
    RFC9113,
    connection_error,
    open_post,
    stream_error,
)
from mux.conformance.h2wire import (
    DATA,
    END_HEADERS,
    END_STREAM,
    GOAWAY,
    HEADERS,
    PADDED,
    PING,
    PRIORITY,
    RST_STREAM,
)
from mux.conformance.verify import verify_frame

data = Group("h2", "6.1", "DATA", RFC9113)
headers = Group("h2", "6.2", "HEADERS", RFC9113)
priority = Group("h2", "6.3", "PRIORITY", RFC9113)
rst_stream = Group("h2", "6.4", "RST_STREAM", RFC9113)
ping = Group("h2", "6.7", "PING", RFC9113)
goaway = Group("h2", "6.8", "GOAWAY", RFC9113)


@data.case(
    "Sends DATA on stream 0",
    "DATA on stream 0x0 MUST be a connection error of type PROTOCOL_ERROR.",
)
async def data_stream_zero(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await open_post(peer)
    await peer.send_data(0, b"test")
    await connection_error(ctx, peer, PROTOCOL_ERROR)


@data.case(
    "Sends DATA whose pad length is not less than the payload",
    "A pad length greater than or equal to the rest of the payload MUST be a connection "
    "error of type PROTOCOL_ERROR.",
)
async def data_bad_padding(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await open_post(peer)
    await peer.send_frame(DATA, PADDED | END_STREAM, 1, b"\x06" + b"test")
    await connection_error(ctx, peer, PROTOCOL_ERROR)


@headers.case(
    "Sends HEADERS on stream 0",
    "HEADERS on stream 0x0 MUST be a connection error of type PROTOCOL_ERROR.",
)
async def headers_stream_zero(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await peer.send_headers(0)
    await connection_error(ctx, peer, PROTOCOL_ERROR)


@headers.case(
    "Sends HEADERS whose pad length is not less than the payload",
    "Padding that is as long as the rest of the payload MUST be a connection error of type "
    "PROTOCOL_ERROR.",
)
async def headers_bad_padding(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    block = peer.encode(peer.request_headers())
    payload = bytes([len(block) + 1]) + block
    await peer.send_frame(HEADERS, END_STREAM | END_HEADERS | PADDED, 1, payload)
    await connection_error(ctx, peer, PROTOCOL_ERROR)


@headers.case(
    "Sends HEADERS without END_HEADERS followed by DATA",
    "A HEADERS frame without END_HEADERS MUST be followed by CONTINUATION for the same "
    "stream; any other frame is a connection error of type PROTOCOL_ERROR.",
)
async def headers_then_data(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await peer.send_frame(HEADERS, 0, 1, peer.encode(peer.request_headers("POST")))
    await peer.send_data(1, b"test", end_stream=True)
    await connection_error(ctx, peer, PROTOCOL_ERROR)


@priority.case(
    "Sends PRIORITY on stream 0",
    "PRIORITY on stream 0x0 MUST be a connection error of type PROTOCOL_ERROR.",
)
async def priority_stream_zero(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await peer.send_priority(0, 1)
    await connection_error(ctx, peer, PROTOCOL_ERROR)


@priority.case(
    "Sends PRIORITY with a length of 4",
    "PRIORITY with a length other than 5 MUST be a stream error of type FRAME_SIZE_ERROR.",
)
async def priority_bad_length(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await open_post(peer)
    await peer.send_frame(PRIORITY, 0, 1, struct.pack(">I", 0))
    await stream_error(peer, 1, FRAME_SIZE_ERROR)


@rst_stream.case(
    "Sends RST_STREAM on stream 0",
    "RST_STREAM on stream 0x0 MUST be a connection error of type PROTOCOL_ERROR.",
)
async def rst_stream_zero(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await peer.send_rst_stream(0, 0x8)
    await connection_error(ctx, peer, PROTOCOL_ERROR)


@rst_stream.case(
    "Sends RST_STREAM with a length of 3",
    "RST_STREAM with a length other than 4 MUST be a connection error of type FRAME_SIZE_ERROR.",
)
async def rst_stream_bad_length(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await open_post(peer)
    await peer.send_frame(RST_STREAM, 0, 1, b"\x00\x00\x08")
    await connection_error(ctx, peer, FRAME_SIZE_ERROR)


@ping.case(
    "Sends PING",
    "A PING without ACK MUST be answered by a PING with ACK and an identical payload.",
)
async def ping_answered(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await peer.send_ping(b"h2-ping!")
    await verify_frame(
        peer,
        "PING(ACK) with payload b'h2-ping!'",
        lambda f: f.kind == "PING" and f.has("ACK") and f.payload == b"h2-ping!",
        reject=lambda f: f.kind == "PING" or f.kind == "GOAWAY",
    )


@ping.case(
    "Sends PING with ACK",
    "An endpoint MUST NOT respond to a PING that has the ACK flag set.",
)
async def ping_ack_not_answered(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await peer.send_ping(b"unsolict", ack=True)
    await peer.send_ping(b"solicit!")
    await verify_frame(
        peer,
        "only the ACK of our second PING",
        lambda f: f.kind == "PING" and f.has("ACK") and f.payload == b"solicit!",
        reject=lambda f: f.kind == "PING" or f.kind == "GOAWAY",
    )


@ping.case(
    "Sends PING on stream 1",
    "A PING whose stream identifier is not 0x0 MUST be a connection error of type PROTOCOL_ERROR.",
)
async def ping_on_stream(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await peer.send_frame(PING, 0, 1, b"\x00" * 8)
    await connection_error(ctx, peer, PROTOCOL_ERROR)


@ping.case(
    "Sends PING with a length of 6",
    "A PING whose length is not 8 MUST be a connection error of type FRAME_SIZE_ERROR.",
)
async def ping_bad_length(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await peer.send_frame(PING, 0, 0, b"\x00" * 6)
    await connection_error(ctx, peer, FRAME_SIZE_ERROR)


@goaway.case(
    "Sends GOAWAY on stream 1",
    "A GOAWAY whose stream identifier is not 0x0 MUST be a connection error of type "
    "PROTOCOL_ERROR.",
)
async def goaway_on_stream(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await peer.send_frame(GOAWAY, 0, 1, struct.pack(">II", 0, 0))
    await connection_error(ctx, peer, PROTOCOL_ERROR)


GROUPS = [data, headers, priority, rst_stream, ping, goaway]
