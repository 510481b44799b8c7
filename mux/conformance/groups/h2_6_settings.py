"""RFC 9113 §6.5: SETTINGS format, defined parameters, synchronization."""

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
from mux.conformance.h2wire import (
    ACK,
    ENABLE_PUSH,
    INITIAL_WINDOW_SIZE,
    MAX_FRAME_SIZE,
    SETTINGS,
    H2Peer,
)
from mux.conformance.verify import is_error_frame, verify_alive, verify_frame

settings = Group("h2", "6.5", "SETTINGS", RFC9113)
parameters = Group("h2", "6.5.2", "Defined Settings Parameters", RFC9113)
synchronization = Group("h2", "6.5.3", "Settings Synchronization", RFC9113)


async def _settings_ack(peer: H2Peer) -> None:
    await verify_frame(
        peer,
        "SETTINGS(ACK)",
        lambda f: f.kind == "SETTINGS" and f.has("ACK"),
        reject=is_error_frame,
    )


error_case(
    settings,
    "Sends SETTINGS with ACK and a payload",
    "A SETTINGS frame with ACK and a non-empty payload MUST be a connection error of type "
    "FRAME_SIZE_ERROR.",
    raw(SETTINGS, ACK, 0, b"\x00\x04\x00\x00\x00\x01"),
    code=FRAME_SIZE_ERROR,
)


error_case(
    settings,
    "Sends SETTINGS on stream 1",
    "SETTINGS whose stream identifier is not 0x0 MUST be a connection error of type "
    "PROTOCOL_ERROR.",
    raw(SETTINGS, 0, 1, b"\x00\x04\x00\x00\xff\xff"),
    code=PROTOCOL_ERROR,
)


error_case(
    settings,
    "Sends SETTINGS with a length of 3",
    "A SETTINGS length that is not a multiple of 6 MUST be a connection error of type "
    "FRAME_SIZE_ERROR.",
    raw(SETTINGS, 0, 0, b"\x00\x04\x00"),
    code=FRAME_SIZE_ERROR,
)


@settings.case(
    "Sends SETTINGS and waits for the ACK",
    "On receipt of SETTINGS the recipient MUST apply it and send SETTINGS with ACK.",
)
async def settings_acked(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await peer.send_settings({INITIAL_WINDOW_SIZE: 65535})
    await _settings_ack(peer)


error_case(
    parameters,
    "Sends SETTINGS_ENABLE_PUSH = 2",
    "A SETTINGS_ENABLE_PUSH value other than 0 or 1 MUST be a connection error of type "
    "PROTOCOL_ERROR.",
    lambda p: p.send_settings({ENABLE_PUSH: 2}),
    code=PROTOCOL_ERROR,
)


error_case(
    parameters,
    "Sends SETTINGS_INITIAL_WINDOW_SIZE = 2^31",
    "A SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1 MUST be a connection error of type "
    "FLOW_CONTROL_ERROR.",
    lambda p: p.send_settings({INITIAL_WINDOW_SIZE: 2**31}),
    code=FLOW_CONTROL_ERROR,
)


error_case(
    parameters,
    "Sends SETTINGS_MAX_FRAME_SIZE = 16383",
    "A SETTINGS_MAX_FRAME_SIZE below 16384 MUST be a connection error of type PROTOCOL_ERROR.",
    lambda p: p.send_settings({MAX_FRAME_SIZE: 16383}),
    code=PROTOCOL_ERROR,
)


error_case(
    parameters,
    "Sends SETTINGS_MAX_FRAME_SIZE = 2^24",
    "A SETTINGS_MAX_FRAME_SIZE above 2^24-1 MUST be a connection error of type PROTOCOL_ERROR.",
    lambda p: p.send_settings({MAX_FRAME_SIZE: 2**24}),
    code=PROTOCOL_ERROR,
)


@parameters.case(
    "Sends a SETTINGS parameter with an unknown identifier",
    "Settings with unknown or unsupported identifiers MUST be ignored.",
)
async def unknown_setting(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await peer.send_settings({0xFF: 1})
    await _settings_ack(peer)
    await verify_alive(peer)


@synchronization.case(
    "Sends one SETTINGS with SETTINGS_INITIAL_WINDOW_SIZE twice (100, then 1)",
    "Values in a SETTINGS frame MUST be processed in order, so the last value applies.",
)
async def last_value_wins(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    payload = b"\x00\x04\x00\x00\x00\x64" + b"\x00\x04\x00\x00\x00\x01"
    await peer.send_frame(SETTINGS, 0, 0, payload)
    await _settings_ack(peer)
    await peer.send_headers(1)
    await one_octet_data(peer)


GROUPS = [settings, parameters, synchronization]
