"""RFC 9113 §3.4: the HTTP/2 connection preface."""

from __future__ import annotations

from mux.conformance.case import Group
from mux.conformance.context import CaseContext
from mux.conformance.groups._common import first_settings, raw_case
from mux.conformance.groups._h2 import (
    PROTOCOL_ERROR,
    RFC9113,
    expect_connection_error,
    h2_no_handshake,
)
from mux.conformance.h2wire import PING, PREFACE, SETTINGS, frame_bytes

preface = Group("h2", "3.4", "HTTP/2 Connection Preface", RFC9113)


@preface.case(
    "Sends the client connection preface",
    "The server connection preface MUST begin with a SETTINGS frame (non-ACK).",
)
async def server_sends_settings_first(ctx: CaseContext) -> None:
    peer = await ctx.h2(handshake=False)
    await peer.send_raw(PREFACE + frame_bytes(SETTINGS, 0, 0))
    await first_settings(peer, "SETTINGS (non-ACK) as the server's first frame")


raw_case(
    preface,
    "Sends an invalid connection preface",
    "An invalid connection preface MUST be treated as a connection error of type PROTOCOL_ERROR.",
    connect=h2_no_handshake,
    data=b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + frame_bytes(SETTINGS, 0, 0),
    verdict=expect_connection_error(PROTOCOL_ERROR),
)


raw_case(
    preface,
    "Sends a PING instead of SETTINGS after the preface octets",
    "The client preface MUST be followed by a SETTINGS frame; anything else is an invalid "
    "preface, a connection error of type PROTOCOL_ERROR.",
    connect=h2_no_handshake,
    data=PREFACE + frame_bytes(PING, 0, 0, b"\x00" * 8),
    verdict=expect_connection_error(PROTOCOL_ERROR),
)


GROUPS = [preface]
