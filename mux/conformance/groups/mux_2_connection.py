"""spec/mux-protocol.md §2: preface and version negotiation."""

from __future__ import annotations

from mux.conformance.case import CaseFailed, Group
from mux.conformance.context import CaseContext
from mux.conformance.groups._common import first_settings, raw_case
from mux.conformance.groups._mux import SPEC, expect_connection_error, mux_no_handshake
from mux.conformance.verify import verify_closed, verify_frame
from mux.core import frames as f
from mux.errors import ErrorCode

preface = Group("mux", "2.2", "Preface", SPEC)
version = Group("mux", "2.3", "Version negotiation", SPEC)

_SETTINGS = f.encode_frame(f.FrameType.SETTINGS, 0, 0, f.encode_settings({}))


@preface.case(
    "Sends the preface and SETTINGS, reads the server's opening",
    "The server MUST send its 8-byte preface followed by a SETTINGS frame without ACK.",
)
async def server_opening(ctx: CaseContext) -> None:
    peer = await ctx.mux(handshake=False)
    await peer.send_raw(f.PREFACE + _SETTINGS)
    first = await verify_frame(peer, "the server preface", lambda e: True)
    if first.kind != "PREFACE" or first.payload != f.PREFACE:
        raise CaseFailed(f"preface {f.PREFACE.hex()}", first.describe())
    await first_settings(peer, "SETTINGS (non-ACK) as the first frame")


@preface.case(
    "Sends the preface without waiting, then nothing",
    "The server MUST NOT wait for the client's SETTINGS before sending its own.",
)
async def server_does_not_wait(ctx: CaseContext) -> None:
    peer = await ctx.mux(handshake=False)
    await peer.send_raw(f.PREFACE)
    await verify_frame(peer, "server SETTINGS", lambda e: e.kind == "SETTINGS")


raw_case(
    preface,
    "Sends a preface whose magic is wrong in byte 6",
    "A wrong preface magic MUST be a connection error PROTOCOL_ERROR.",
    connect=mux_no_handshake,
    data=b"\x89MUX\r\n\x1b\x01" + _SETTINGS,
    verdict=expect_connection_error(ErrorCode.PROTOCOL_ERROR),
)


raw_case(
    preface,
    "Sends PING as the first frame",
    "Any first frame other than SETTINGS without ACK MUST be a connection error PROTOCOL_ERROR.",
    connect=mux_no_handshake,
    data=f.PREFACE + f.encode_frame(f.FrameType.PING, 0, 0, b"\x00" * 8),
    verdict=expect_connection_error(ErrorCode.PROTOCOL_ERROR),
)


raw_case(
    preface,
    "Sends SETTINGS with ACK as the first frame",
    "A SETTINGS ACK as the first frame MUST be a connection error PROTOCOL_ERROR.",
    connect=mux_no_handshake,
    data=f.PREFACE + f.encode_frame(f.FrameType.SETTINGS, f.ACK, 0),
    verdict=expect_connection_error(ErrorCode.PROTOCOL_ERROR),
)


raw_case(
    preface,
    "Sends a frame of unknown type as the first frame",
    "An unknown frame type as the first frame MUST be a connection error PROTOCOL_ERROR.",
    connect=mux_no_handshake,
    data=f.PREFACE + f.encode_frame(0x42, 0, 0, b"x"),
    verdict=expect_connection_error(ErrorCode.PROTOCOL_ERROR),
)


@version.case(
    "Sends a preface naming version 2",
    "The server MUST answer an unsupported version with its own preface (version 1), "
    "GOAWAY(last_stream_id 0, UNSUPPORTED_VERSION) and close the connection.",
)
async def unsupported_version(ctx: CaseContext) -> None:
    peer = await ctx.mux(handshake=False)
    await peer.send_raw(f.PREFACE_MAGIC + b"\x02" + _SETTINGS)
    first = await verify_frame(peer, "the server preface", lambda e: True)
    if first.payload != f.PREFACE:
        raise CaseFailed(f"server preface {f.PREFACE.hex()} (version 1)", first.describe())
    goaway = await verify_frame(peer, "GOAWAY(UNSUPPORTED_VERSION)", lambda e: e.kind == "GOAWAY")
    if goaway.code != ErrorCode.UNSUPPORTED_VERSION or goaway.last_stream_id != 0:
        raise CaseFailed("GOAWAY(UNSUPPORTED_VERSION, last_stream_id=0)", goaway.describe())
    await verify_closed(peer)


@version.case(
    "Sends a preface naming version 2 and reads the GOAWAY debug data",
    "The GOAWAY for an unsupported version SHOULD list the supported versions in its debug data.",
    strict=True,
)
async def unsupported_version_debug(ctx: CaseContext) -> None:
    peer = await ctx.mux(handshake=False)
    await peer.send_raw(f.PREFACE_MAGIC + b"\x02" + _SETTINGS)
    goaway = await verify_frame(peer, "GOAWAY(UNSUPPORTED_VERSION)", lambda e: e.kind == "GOAWAY")
    if "1" not in goaway.detail:
        raise CaseFailed("debug data naming supported version 1", goaway.describe())


GROUPS = [preface, version]
