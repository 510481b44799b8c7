"""RFC 9113 §6.9: WINDOW_UPDATE, the flow-control window, the initial window size."""

from __future__ import annotations

from mux.conformance.case import Group
from mux.conformance.context import CaseContext
from mux.conformance.groups._h2 import (
    FLOW_CONTROL_ERROR,
    FRAME_SIZE_ERROR,
    PROTOCOL_ERROR,
    RFC9113,
    error_case,
    one_octet_data,
    raw,
)
from mux.conformance.h2wire import INITIAL_WINDOW_SIZE, MAX_WINDOW, WINDOW_UPDATE
from mux.conformance.verify import verify_silence

window_update = Group("h2", "6.9", "WINDOW_UPDATE", RFC9113)
window = Group("h2", "6.9.1", "The Flow-Control Window", RFC9113)
initial = Group("h2", "6.9.2", "Initial Flow-Control Window Size", RFC9113)

#: Default initial window (RFC 9113 §6.9.2).
_DEFAULT_WINDOW = 65535

error_case(
    window_update,
    "Sends WINDOW_UPDATE with an increment of 0 on the connection",
    "A WINDOW_UPDATE increment of 0 on stream 0 MUST be a connection error of type PROTOCOL_ERROR.",
    lambda p: p.send_window_update(0, 0),
    code=PROTOCOL_ERROR,
)
error_case(
    window_update,
    "Sends WINDOW_UPDATE with an increment of 0 on a stream",
    "A WINDOW_UPDATE increment of 0 on a stream MUST be a stream error of type PROTOCOL_ERROR.",
    lambda p: p.send_window_update(1, 0),
    code=PROTOCOL_ERROR,
    open_stream=True,
    on_stream=1,
)
error_case(
    window_update,
    "Sends WINDOW_UPDATE with a length of 3",
    "A WINDOW_UPDATE whose length is not 4 MUST be a connection error of type FRAME_SIZE_ERROR.",
    raw(WINDOW_UPDATE, 0, 0, b"\x00\x00\x01"),
    code=FRAME_SIZE_ERROR,
)
error_case(
    window,
    "Sends WINDOW_UPDATEs that push the connection window past 2^31-1",
    "A connection window above 2^31-1 MUST be a connection error of type FLOW_CONTROL_ERROR.",
    lambda p: p.send_window_update(0, MAX_WINDOW),
    lambda p: p.send_window_update(0, MAX_WINDOW),
    code=FLOW_CONTROL_ERROR,
)
error_case(
    window,
    "Sends WINDOW_UPDATEs that push a stream window past 2^31-1",
    "A stream window above 2^31-1 MUST be a stream error of type FLOW_CONTROL_ERROR.",
    lambda p: p.send_window_update(1, MAX_WINDOW),
    lambda p: p.send_window_update(1, MAX_WINDOW),
    code=FLOW_CONTROL_ERROR,
    open_stream=True,
    on_stream=1,
)


@window.case(
    "Sets the initial window to 1 and requests a response",
    "A sender MUST NOT send a DATA frame longer than the receiver's available window.",
)
async def data_respects_window(ctx: CaseContext) -> None:
    peer = await ctx.h2(settings={INITIAL_WINDOW_SIZE: 1})
    await peer.send_headers(1)
    await one_octet_data(peer)


error_case(
    initial,
    "Raises SETTINGS_INITIAL_WINDOW_SIZE so an open stream's window passes 2^31-1",
    "A SETTINGS_INITIAL_WINDOW_SIZE change that makes any window exceed 2^31-1 MUST be a "
    "connection error of type FLOW_CONTROL_ERROR.",
    lambda p: p.send_window_update(1, MAX_WINDOW - _DEFAULT_WINDOW),
    lambda p: p.send_settings({INITIAL_WINDOW_SIZE: _DEFAULT_WINDOW + 1}),
    code=FLOW_CONTROL_ERROR,
    open_stream=True,
)


@initial.case(
    "Sets the initial window to 0, then opens the window of the stream",
    "With a zero window the sender MUST NOT send DATA until a WINDOW_UPDATE opens it.",
)
async def zero_window_then_update(ctx: CaseContext) -> None:
    peer = await ctx.h2(settings={INITIAL_WINDOW_SIZE: 0})
    await peer.send_headers(1)
    await verify_silence(peer, lambda f: f.kind == "DATA" and len(f.payload) > 0, "DATA yet")
    await peer.send_window_update(1, 1)
    await one_octet_data(peer)


GROUPS = [window_update, window, initial]
