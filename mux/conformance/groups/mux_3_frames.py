"""spec/mux-protocol.md §3-4: frame size, order of checks, unknown types, fixed sizes."""

from __future__ import annotations

from mux.conformance.case import Group
from mux.conformance.context import CaseContext
from mux.conformance.groups._mux import SPEC, connection_error
from mux.conformance.verify import verify_alive, verify_frame
from mux.core import frames as f
from mux.errors import ErrorCode

frame_size = Group("mux", "3.2", "Frame size", SPEC)
order = Group("mux", "3.3", "Order of checks", SPEC)
unknown = Group("mux", "3.4", "Unknown types and flags", SPEC)
ping = Group("mux", "4.5", "PING", SPEC)

#: Default MAX_FRAME_SIZE (§6.1).
_DEFAULT_MAX_FRAME = 65536


def _header(frame_type: int, length: int, stream_id: int = 0) -> bytes:
    return f.HEADER_STRUCT.pack(length, frame_type, 0, stream_id)


@frame_size.case(
    "Sends only a DATA header claiming 2^32-1 bytes",
    "Length above MAX_FRAME_SIZE MUST be a connection error FRAME_SIZE_ERROR, detected from "
    "the 10 header bytes alone (before any payload).",
)
async def header_only_oversize(ctx: CaseContext) -> None:
    peer = await ctx.mux()
    await peer.send_headers(1, end_stream=False)
    await peer.send_raw(_header(f.FrameType.DATA, 2**32 - 1, 1))
    await connection_error(peer, ErrorCode.FRAME_SIZE_ERROR)


@frame_size.case(
    "Sends a frame of unknown type one byte above MAX_FRAME_SIZE (header only)",
    "The size check applies to every frame type, unknown types included.",
)
async def unknown_type_oversize(ctx: CaseContext) -> None:
    peer = await ctx.mux()
    limit = peer.server_settings.get(0x4, _DEFAULT_MAX_FRAME)
    await peer.send_raw(_header(0x42, limit + 1))
    await connection_error(peer, ErrorCode.FRAME_SIZE_ERROR)


@frame_size.case(
    "Sends a frame of unknown type of exactly MAX_FRAME_SIZE bytes",
    "A frame of exactly MAX_FRAME_SIZE payload bytes is valid.",
)
async def exact_max_size(ctx: CaseContext) -> None:
    peer = await ctx.mux()
    limit = peer.server_settings.get(0x4, _DEFAULT_MAX_FRAME)
    await peer.send_frame(0x42, 0, 0, b"\x00" * limit)
    await verify_alive(peer)


@order.case(
    "Sends a 7-byte PING on stream 1",
    "The stream id class is checked before the payload size: PROTOCOL_ERROR, not FRAME_SIZE_ERROR.",
)
async def ping_stream_before_size(ctx: CaseContext) -> None:
    peer = await ctx.mux()
    await peer.send_frame(f.FrameType.PING, 0, 1, b"\x00" * 7)
    await connection_error(peer, ErrorCode.PROTOCOL_ERROR)


@unknown.case(
    "Sends a frame of unknown type on an idle stream",
    "Frames of unknown type MUST be ignored, on any stream id.",
)
async def unknown_type_ignored(ctx: CaseContext) -> None:
    peer = await ctx.mux()
    await peer.send_frame(0xFF, 0xFF, 7, b"ignored")
    await verify_alive(peer)


@ping.case(
    "Sends PING with undefined flags",
    "Undefined flags MUST be ignored: the PING is answered with ACK and the same 8 bytes.",
)
async def ping_unknown_flags(ctx: CaseContext) -> None:
    peer = await ctx.mux()
    await peer.send_frame(f.FrameType.PING, 0xFE, 0, b"flagtest")
    await verify_frame(
        peer,
        "PING(ACK) with payload b'flagtest'",
        lambda e: e.kind == "PING" and e.has("ACK") and e.payload == b"flagtest",
        reject=lambda e: e.kind == "GOAWAY",
    )


GROUPS = [frame_size, order, unknown, ping]
