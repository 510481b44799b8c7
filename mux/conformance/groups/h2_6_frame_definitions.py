"""RFC 9113 §6.1-6.4, 6.7, 6.8: DATA, HEADERS, PRIORITY, RST_STREAM, PING, GOAWAY."""

from __future__ import annotations

import struct

from mux.conformance.case import Group
from mux.conformance.context import CaseContext
from mux.conformance.groups._h2 import (
    FRAME_SIZE_ERROR,
    PROTOCOL_ERROR,
    RFC9113,
    error_case,
    raw,
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
    H2Peer,
)
from mux.conformance.verify import verify_frame

data = Group("h2", "6.1", "DATA", RFC9113)
headers = Group("h2", "6.2", "HEADERS", RFC9113)
priority = Group("h2", "6.3", "PRIORITY", RFC9113)
rst_stream = Group("h2", "6.4", "RST_STREAM", RFC9113)
ping = Group("h2", "6.7", "PING", RFC9113)
goaway = Group("h2", "6.8", "GOAWAY", RFC9113)


async def _overpadded_headers(peer: H2Peer) -> None:
    block = peer.encode(peer.request_headers())
    payload = bytes([len(block) + 1]) + block
    await peer.send_frame(HEADERS, END_STREAM | END_HEADERS | PADDED, 1, payload)


error_case(
    data,
    "Sends DATA on stream 0",
    "DATA on stream 0x0 MUST be a connection error of type PROTOCOL_ERROR.",
    lambda p: p.send_data(0, b"test"),
    code=PROTOCOL_ERROR,
    open_stream=True,
)
error_case(
    data,
    "Sends DATA whose pad length is not less than the payload",
    "A pad length greater than or equal to the rest of the payload MUST be a connection "
    "error of type PROTOCOL_ERROR.",
    raw(DATA, PADDED | END_STREAM, 1, b"\x06" + b"test"),
    code=PROTOCOL_ERROR,
    open_stream=True,
)
error_case(
    headers,
    "Sends HEADERS on stream 0",
    "HEADERS on stream 0x0 MUST be a connection error of type PROTOCOL_ERROR.",
    lambda p: p.send_headers(0),
    code=PROTOCOL_ERROR,
)
error_case(
    headers,
    "Sends HEADERS whose pad length is not less than the payload",
    "Padding that is as long as the rest of the payload MUST be a connection error of type "
    "PROTOCOL_ERROR.",
    _overpadded_headers,
    code=PROTOCOL_ERROR,
)
error_case(
    headers,
    "Sends HEADERS without END_HEADERS followed by DATA",
    "A HEADERS frame without END_HEADERS MUST be followed by CONTINUATION for the same "
    "stream; any other frame is a connection error of type PROTOCOL_ERROR.",
    lambda p: p.send_frame(HEADERS, 0, 1, p.encode(p.request_headers("POST"))),
    lambda p: p.send_data(1, b"test", end_stream=True),
    code=PROTOCOL_ERROR,
)
error_case(
    priority,
    "Sends PRIORITY on stream 0",
    "PRIORITY on stream 0x0 MUST be a connection error of type PROTOCOL_ERROR.",
    lambda p: p.send_priority(0, 1),
    code=PROTOCOL_ERROR,
)
error_case(
    priority,
    "Sends PRIORITY with a length of 4",
    "PRIORITY with a length other than 5 MUST be a stream error of type FRAME_SIZE_ERROR.",
    raw(PRIORITY, 0, 1, struct.pack(">I", 0)),
    code=FRAME_SIZE_ERROR,
    open_stream=True,
    on_stream=1,
)
error_case(
    rst_stream,
    "Sends RST_STREAM on stream 0",
    "RST_STREAM on stream 0x0 MUST be a connection error of type PROTOCOL_ERROR.",
    lambda p: p.send_rst_stream(0, 0x8),
    code=PROTOCOL_ERROR,
)
error_case(
    rst_stream,
    "Sends RST_STREAM with a length of 3",
    "RST_STREAM with a length other than 4 MUST be a connection error of type FRAME_SIZE_ERROR.",
    raw(RST_STREAM, 0, 1, b"\x00\x00\x08"),
    code=FRAME_SIZE_ERROR,
    open_stream=True,
)


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


error_case(
    ping,
    "Sends PING on stream 1",
    "A PING whose stream identifier is not 0x0 MUST be a connection error of type PROTOCOL_ERROR.",
    raw(PING, 0, 1, b"\x00" * 8),
    code=PROTOCOL_ERROR,
)
error_case(
    ping,
    "Sends PING with a length of 6",
    "A PING whose length is not 8 MUST be a connection error of type FRAME_SIZE_ERROR.",
    raw(PING, 0, 0, b"\x00" * 6),
    code=FRAME_SIZE_ERROR,
)
error_case(
    goaway,
    "Sends GOAWAY on stream 1",
    "A GOAWAY whose stream identifier is not 0x0 MUST be a connection error of type "
    "PROTOCOL_ERROR.",
    raw(GOAWAY, 0, 1, struct.pack(">II", 0, 0)),
    code=PROTOCOL_ERROR,
)


GROUPS = [data, headers, priority, rst_stream, ping, goaway]
