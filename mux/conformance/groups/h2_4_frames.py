"""RFC 9113 §4: frame format, frame size, field section compression."""

from __future__ import annotations

from mux.conformance.case import Group
from mux.conformance.context import CaseContext
from mux.conformance.groups._h2 import (
    COMPRESSION_ERROR,
    FRAME_SIZE_ERROR,
    PROTOCOL_ERROR,
    RFC9113,
    connection_error,
    open_post,
    response_headers,
    stream_error,
)
from mux.conformance.h2wire import (
    CONTINUATION,
    DATA,
    END_HEADERS,
    END_STREAM,
    HEADERS,
    PING,
)
from mux.conformance.verify import verify_frame

frame_format = Group("h2", "4.1", "Frame Format", RFC9113)
frame_size = Group("h2", "4.2", "Frame Size", RFC9113)
compression = Group("h2", "4.3", "Field Section Compression and Decompression", RFC9113)


@frame_format.case(
    "Sends a PING with undefined flags set",
    "Flags with no defined meaning for a frame type MUST be ignored.",
)
async def undefined_flags(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await peer.send_frame(PING, 0xFE, 0, b"flagtest")
    await verify_frame(
        peer,
        "PING(ACK) with the same payload",
        lambda f: f.kind == "PING" and f.has("ACK") and f.payload == b"flagtest",
        reject=lambda f: f.kind == "GOAWAY",
    )


@frame_format.case(
    "Sends HEADERS with the reserved bit of the stream identifier set",
    "The reserved bit of the stream identifier MUST be ignored when receiving.",
)
async def reserved_bit(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    block = peer.encode(peer.request_headers())
    await peer.send_frame(HEADERS, END_STREAM | END_HEADERS, 0x80000001, block)
    await response_headers(peer, 1)


@frame_size.case(
    "Sends DATA one octet longer than SETTINGS_MAX_FRAME_SIZE",
    "A frame exceeding SETTINGS_MAX_FRAME_SIZE MUST cause a FRAME_SIZE_ERROR.",
)
async def data_too_large(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await open_post(peer)
    await peer.send_frame(DATA, 0, 1, b"x" * (peer.max_frame_size + 1))
    await stream_error(peer, 1, FRAME_SIZE_ERROR)


@frame_size.case(
    "Sends HEADERS longer than SETTINGS_MAX_FRAME_SIZE",
    "A frame size error in a frame carrying a field block MUST be a connection error of "
    "type FRAME_SIZE_ERROR.",
)
async def headers_too_large(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    filler = [(f"x-filler-{i}", "v" * 90) for i in range(peer.max_frame_size // 50 + 2)]
    block = peer.encode([*peer.request_headers(), *filler])
    await peer.send_frame(HEADERS, END_STREAM | END_HEADERS, 1, block)
    await connection_error(ctx, peer, FRAME_SIZE_ERROR)


@compression.case(
    "Sends a field block that cannot be decoded",
    "A field block that fails to decompress MUST be a connection error of type COMPRESSION_ERROR.",
)
async def undecodable_block(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    # Literal with incremental indexing, new name of length 10, but no name octets.
    await peer.send_frame(HEADERS, END_STREAM | END_HEADERS, 1, b"\x40\x0a")
    await connection_error(ctx, peer, COMPRESSION_ERROR)


@compression.case(
    "Sends a PRIORITY frame in the middle of a field block",
    "A field block MUST be sent as a contiguous sequence of frames; an interleaved frame is a "
    "connection error of type PROTOCOL_ERROR.",
)
async def priority_inside_block(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    block = peer.encode(peer.request_headers())
    await peer.send_frame(HEADERS, END_STREAM, 1, block[:1])
    await peer.send_priority(1, 0)
    await peer.send_frame(CONTINUATION, END_HEADERS, 1, block[1:])
    await connection_error(ctx, peer, PROTOCOL_ERROR)


@compression.case(
    "Sends HEADERS for another stream in the middle of a field block",
    "Frames of another stream MUST NOT interleave with a field block; doing so is a "
    "connection error of type PROTOCOL_ERROR.",
)
async def other_stream_inside_block(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    block = peer.encode(peer.request_headers())
    await peer.send_frame(HEADERS, END_STREAM, 1, block)
    await peer.send_frame(HEADERS, END_STREAM | END_HEADERS, 3, peer.encode(peer.request_headers()))
    await connection_error(ctx, peer, PROTOCOL_ERROR)


GROUPS = [frame_format, frame_size, compression]
