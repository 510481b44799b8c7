"""RFC 9113 §6.9: WINDOW_UPDATE, the flow-control window, the initial window size."""

from __future__ import annotations

from mux.conformance.case import CaseFailed, Group
from mux.conformance.context import CaseContext
from mux.conformance.groups._h2 import (
    FLOW_CONTROL_ERROR,
    FRAME_SIZE_ERROR,
    PROTOCOL_ERROR,
    RFC9113,
    connection_error,
    open_post,
    stream_error,
)
from mux.conformance.groups.h2_6_settings import first_data
from mux.conformance.h2wire import INITIAL_WINDOW_SIZE, MAX_WINDOW, WINDOW_UPDATE
from mux.conformance.verify import verify_silence

window_update = Group("h2", "6.9", "WINDOW_UPDATE", RFC9113)
window = Group("h2", "6.9.1", "The Flow-Control Window", RFC9113)
initial = Group("h2", "6.9.2", "Initial Flow-Control Window Size", RFC9113)

#: Default initial window (RFC 9113 §6.9.2).
_DEFAULT_WINDOW = 65535


@window_update.case(
    "Sends WINDOW_UPDATE with an increment of 0 on the connection",
    "A WINDOW_UPDATE increment of 0 on stream 0 MUST be a connection error of type PROTOCOL_ERROR.",
)
async def zero_increment_connection(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await peer.send_window_update(0, 0)
    await connection_error(ctx, peer, PROTOCOL_ERROR)


@window_update.case(
    "Sends WINDOW_UPDATE with an increment of 0 on a stream",
    "A WINDOW_UPDATE increment of 0 on a stream MUST be a stream error of type PROTOCOL_ERROR.",
)
async def zero_increment_stream(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await open_post(peer)
    await peer.send_window_update(1, 0)
    await stream_error(peer, 1, PROTOCOL_ERROR)


@window_update.case(
    "Sends WINDOW_UPDATE with a length of 3",
    "A WINDOW_UPDATE whose length is not 4 MUST be a connection error of type FRAME_SIZE_ERROR.",
)
async def window_update_bad_length(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await peer.send_frame(WINDOW_UPDATE, 0, 0, b"\x00\x00\x01")
    await connection_error(ctx, peer, FRAME_SIZE_ERROR)


@window.case(
    "Sends WINDOW_UPDATEs that push the connection window past 2^31-1",
    "A connection window above 2^31-1 MUST be a connection error of type FLOW_CONTROL_ERROR.",
)
async def connection_window_overflow(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await peer.send_window_update(0, MAX_WINDOW)
    await peer.send_window_update(0, MAX_WINDOW)
    await connection_error(ctx, peer, FLOW_CONTROL_ERROR)


@window.case(
    "Sends WINDOW_UPDATEs that push a stream window past 2^31-1",
    "A stream window above 2^31-1 MUST be a stream error of type FLOW_CONTROL_ERROR.",
)
async def stream_window_overflow(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await open_post(peer)
    await peer.send_window_update(1, MAX_WINDOW)
    await peer.send_window_update(1, MAX_WINDOW)
    await stream_error(peer, 1, FLOW_CONTROL_ERROR)


@window.case(
    "Sets the initial window to 1 and requests a response",
    "A sender MUST NOT send a DATA frame longer than the receiver's available window.",
)
async def data_respects_window(ctx: CaseContext) -> None:
    peer = await ctx.h2(settings={INITIAL_WINDOW_SIZE: 1})
    await peer.send_headers(1)
    frame = await first_data(peer, 1)
    if len(frame.payload) > 1:
        raise CaseFailed("DATA of at most 1 octet (stream window 1)", frame.describe())


@initial.case(
    "Raises SETTINGS_INITIAL_WINDOW_SIZE so an open stream's window passes 2^31-1",
    "A SETTINGS_INITIAL_WINDOW_SIZE change that makes any window exceed 2^31-1 MUST be a "
    "connection error of type FLOW_CONTROL_ERROR.",
)
async def initial_window_overflow(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await open_post(peer)
    await peer.send_window_update(1, MAX_WINDOW - _DEFAULT_WINDOW)
    await peer.send_settings({INITIAL_WINDOW_SIZE: _DEFAULT_WINDOW + 1})
    await connection_error(ctx, peer, FLOW_CONTROL_ERROR)


@initial.case(
    "Sets the initial window to 0, then opens the window of the stream",
    "With a zero window the sender MUST NOT send DATA until a WINDOW_UPDATE opens it.",
)
async def zero_window_then_update(ctx: CaseContext) -> None:
    peer = await ctx.h2(settings={INITIAL_WINDOW_SIZE: 0})
    await peer.send_headers(1)
    await verify_silence(peer, lambda f: f.kind == "DATA" and len(f.payload) > 0, "DATA yet")
    await peer.send_window_update(1, 1)
    frame = await first_data(peer, 1)
    if len(frame.payload) > 1:
        raise CaseFailed("DATA of at most 1 octet (stream window 1)", frame.describe())


GROUPS = [window_update, window, initial]
