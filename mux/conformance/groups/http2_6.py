"""h2spec's "http2" suite, RFC 7540 §6: the frame definitions.

Ids and numbering are h2spec 2.6's (``http2/6.9.1/3`` ...). Cases that need a
response body (window of 1, a negative window) skip when ``--path`` answers
without one, as h2spec does. See ``mux/conformance/H2SPEC.md``.
"""

from __future__ import annotations

import struct

from mux.conformance.case import Group
from mux.conformance.context import CaseContext
from mux.conformance.groups._h2 import (
    CANCEL,
    FLOW_CONTROL_ERROR,
    FRAME_SIZE_ERROR,
    PROTOCOL_ERROR,
    STREAM_CLOSED,
)
from mux.conformance.groups._h2steps import (
    conn_error,
    continuation,
    data,
    data_of_length,
    frame,
    frame_of,
    h2case,
    headers_on,
    needs_body,
    pause,
    ping,
    ping_ack,
    priority,
    request,
    settings,
    settings_ack,
    stream_err,
    window_update,
)
from mux.conformance.h2wire import (
    ACK,
    DATA,
    ENABLE_PUSH,
    GOAWAY,
    HEADERS,
    INITIAL_WINDOW_SIZE,
    MAX_FRAME_SIZE,
    MAX_WINDOW,
    PADDED,
    PING,
    PRIORITY,
    RST_STREAM,
    SETTINGS,
    WINDOW_UPDATE,
    H2Peer,
)
from mux.conformance.verify import verify_frame

RFC7540 = "RFC 7540"


def _group(section: str, title: str) -> Group:
    return Group("h2", section, title, RFC7540, "http2")


data_g = _group("6.1", "DATA")
headers_g = _group("6.2", "HEADERS")
priority_g = _group("6.3", "PRIORITY")
rst_g = _group("6.4", "RST_STREAM")
settings_g = _group("6.5", "SETTINGS")
parameters = _group("6.5.2", "Defined SETTINGS Parameters")
synchronization = _group("6.5.3", "Settings Synchronization")
ping_g = _group("6.7", "PING")
goaway_g = _group("6.8", "GOAWAY")
window_g = _group("6.9", "WINDOW_UPDATE")
flow_window = _group("6.9.1", "The Flow-Control Window")
initial_window = _group("6.9.2", "Initial Flow-Control Window Size")
continuation_g = _group("6.10", "CONTINUATION")

_CONN = "MUST be a connection error of type"
_STREAM = "MUST draw a stream error of type"

# -- 6.1-6.4 -----------------------------------------------------------------

h2case(data_g, "Sends DATA on stream 0",
       f"DATA on stream 0x0 {_CONN} PROTOCOL_ERROR.",
       data(0), conn_error(PROTOCOL_ERROR))  # fmt: skip
h2case(data_g, "Sends DATA on a stream that is half-closed (remote)",
       f"DATA on a stream not open nor half-closed (local) {_STREAM} STREAM_CLOSED.",
       request("POST"), data(), stream_err(STREAM_CLOSED))  # fmt: skip
h2case(data_g, "Sends DATA whose pad length (6) exceeds its payload (5 octets)",
       f"Padding as long as the payload or longer {_CONN} PROTOCOL_ERROR.",
       request("POST", end_stream=False, extra=[("content-length", "4")]),
       frame(DATA, PADDED | 0x1, 1, b"\x06test"), conn_error(PROTOCOL_ERROR))  # fmt: skip

h2case(headers_g, "Sends HEADERS without END_HEADERS, then PRIORITY",
       f"A HEADERS without END_HEADERS MUST be followed by CONTINUATION; anything else "
       f"{_CONN} PROTOCOL_ERROR.",
       request(end_stream=False, end_headers=False), priority(1), continuation(),
       conn_error(PROTOCOL_ERROR))  # fmt: skip
h2case(headers_g, "Sends HEADERS without END_HEADERS, then HEADERS on stream 3",
       f"A frame of another stream inside a field block {_CONN} PROTOCOL_ERROR.",
       request(end_stream=False, end_headers=False), request(sid=3), continuation(),
       conn_error(PROTOCOL_ERROR))  # fmt: skip
h2case(headers_g, "Sends HEADERS on stream 0",
       f"HEADERS on stream 0x0 {_CONN} PROTOCOL_ERROR.",
       request(sid=0), conn_error(PROTOCOL_ERROR))  # fmt: skip


async def _overpadded(ctx: CaseContext, peer: H2Peer) -> None:
    block = peer.encode(peer.request_headers())
    # The frame holds the block and the pad-length octet; the pad length claims one more.
    await peer.send_frame(HEADERS, PADDED | 0x5, 1, bytes([len(block) + 2]) + block)


h2case(headers_g, "Sends HEADERS whose pad length exceeds the rest of the frame",
       "Padding longer than what remains for the field block MUST be treated as "
       "PROTOCOL_ERROR.",
       _overpadded, stream_err(PROTOCOL_ERROR))  # fmt: skip

h2case(priority_g, "Sends PRIORITY on stream 0",
       f"PRIORITY on stream 0x0 {_CONN} PROTOCOL_ERROR.",
       priority(0), conn_error(PROTOCOL_ERROR))  # fmt: skip
h2case(priority_g, "Sends PRIORITY with a length of 4",
       f"PRIORITY with a length other than 5 {_STREAM} FRAME_SIZE_ERROR.",
       request(), frame(PRIORITY, 0, 1, b"\x80\x00\x00\x01"),
       stream_err(FRAME_SIZE_ERROR))  # fmt: skip
h2case(priority_g, "Sends PRIORITY for idle stream 3, then a request on stream 1",
       "PRIORITY may name an idle stream; a lower stream id MUST still be answered.",
       priority(3), request(), headers_on(), strict=True)  # fmt: skip

h2case(rst_g, "Sends RST_STREAM on stream 0",
       f"RST_STREAM on stream 0x0 {_CONN} PROTOCOL_ERROR.",
       frame(RST_STREAM, 0, 0, struct.pack(">I", CANCEL)), conn_error(PROTOCOL_ERROR))  # fmt: skip
h2case(rst_g, "Sends RST_STREAM on an idle stream",
       f"RST_STREAM on an idle stream {_CONN} PROTOCOL_ERROR.",
       frame(RST_STREAM, 0, 1, struct.pack(">I", CANCEL)), conn_error(PROTOCOL_ERROR))  # fmt: skip
h2case(rst_g, "Sends RST_STREAM with a length of 3",
       f"RST_STREAM with a length other than 4 {_CONN} FRAME_SIZE_ERROR.",
       request(), frame(RST_STREAM, 0, 1, b"\x00\x00\x00"),
       stream_err(FRAME_SIZE_ERROR))  # fmt: skip

# -- 6.5 ---------------------------------------------------------------------

h2case(settings_g, "Sends SETTINGS with ACK and a 1-octet payload",
       f"SETTINGS with ACK and a non-empty payload {_CONN} FRAME_SIZE_ERROR.",
       frame(SETTINGS, ACK, 0, b"\x00"), conn_error(FRAME_SIZE_ERROR))  # fmt: skip
h2case(settings_g, "Sends SETTINGS on stream 1",
       f"SETTINGS on a stream other than 0x0 {_CONN} PROTOCOL_ERROR.",
       frame(SETTINGS, 0, 1, b"\x00\x03\x00\x00\x00\x64"),
       conn_error(PROTOCOL_ERROR))  # fmt: skip
h2case(settings_g, "Sends SETTINGS with a length of 8",
       f"SETTINGS whose length is not a multiple of 6 {_CONN} FRAME_SIZE_ERROR "
       "(h2spec also takes PROTOCOL_ERROR).",
       frame(SETTINGS, 0, 0, b"\x00\x03\x00\x00\x00\x64\x00\x02"),
       stream_err(FRAME_SIZE_ERROR, PROTOCOL_ERROR, sid=None))  # fmt: skip

h2case(parameters, "Sends SETTINGS_ENABLE_PUSH = 2",
       f"SETTINGS_ENABLE_PUSH other than 0 or 1 {_CONN} PROTOCOL_ERROR.",
       settings({ENABLE_PUSH: 2}), conn_error(PROTOCOL_ERROR))  # fmt: skip
h2case(parameters, "Sends SETTINGS_INITIAL_WINDOW_SIZE = 2^31",
       f"SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1 {_CONN} FLOW_CONTROL_ERROR.",
       settings({INITIAL_WINDOW_SIZE: 2**31}), conn_error(FLOW_CONTROL_ERROR))  # fmt: skip
h2case(parameters, "Sends SETTINGS_MAX_FRAME_SIZE = 16383",
       f"SETTINGS_MAX_FRAME_SIZE below 2^14 {_CONN} PROTOCOL_ERROR.",
       settings({MAX_FRAME_SIZE: 16383}), conn_error(PROTOCOL_ERROR))  # fmt: skip
h2case(parameters, "Sends SETTINGS_MAX_FRAME_SIZE = 2^24",
       f"SETTINGS_MAX_FRAME_SIZE above 2^24-1 {_CONN} PROTOCOL_ERROR.",
       settings({MAX_FRAME_SIZE: 2**24}), conn_error(PROTOCOL_ERROR))  # fmt: skip
h2case(parameters, "Sends a SETTINGS parameter with unknown identifier 0xFF, then PING",
       "A setting with an unknown identifier MUST be ignored.",
       settings({0xFF: 1}), ping(), frame_of("PING"))  # fmt: skip

h2case(synchronization, "Sends SETTINGS_INITIAL_WINDOW_SIZE twice in one frame (100, then 1)",
       "Values in a SETTINGS frame MUST be processed in order: the last one applies.",
       needs_body(1), frame(SETTINGS, 0, 0, b"\x00\x04\x00\x00\x00\x64"
                                           b"\x00\x04\x00\x00\x00\x01"),
       settings_ack(), request(), data_of_length(1))  # fmt: skip
h2case(synchronization, "Sends SETTINGS without ACK",
       "Once the values are applied the recipient MUST emit SETTINGS with ACK at once.",
       settings({ENABLE_PUSH: 0}), settings_ack())  # fmt: skip

# -- 6.7, 6.8 ----------------------------------------------------------------

h2case(ping_g, "Sends PING",
       "PING without ACK MUST be answered by PING with ACK and an identical payload.",
       ping(b"h2spec\x00\x00"), ping_ack(b"h2spec\x00\x00"))  # fmt: skip
h2case(ping_g, "Sends PING with ACK, then PING",
       "An endpoint MUST NOT respond to a PING with ACK.",
       ping(b"invalid\x00", ack=True), ping(b"h2spec\x00\x00"),
       ping_ack(b"h2spec\x00\x00"))  # fmt: skip
h2case(ping_g, "Sends PING on stream 1",
       f"PING on a stream other than 0x0 {_CONN} PROTOCOL_ERROR.",
       frame(PING, 0, 1, bytes(8)), conn_error(PROTOCOL_ERROR))  # fmt: skip
h2case(ping_g, "Sends PING with a length of 6",
       f"PING whose length is not 8 {_CONN} FRAME_SIZE_ERROR.",
       frame(PING, 0, 0, bytes(6)), conn_error(FRAME_SIZE_ERROR))  # fmt: skip

h2case(goaway_g, "Sends GOAWAY on stream 1",
       f"GOAWAY on a stream other than 0x0 {_CONN} PROTOCOL_ERROR.",
       frame(GOAWAY, 0, 1, bytes(8)), conn_error(PROTOCOL_ERROR))  # fmt: skip

# -- 6.9 ---------------------------------------------------------------------

h2case(window_g, "Sends WINDOW_UPDATE with an increment of 0 on stream 0",
       f"A connection WINDOW_UPDATE of 0 {_CONN} PROTOCOL_ERROR.",
       window_update(0, 0), conn_error(PROTOCOL_ERROR))  # fmt: skip
h2case(window_g, "Sends WINDOW_UPDATE with an increment of 0 on an open stream",
       f"A stream WINDOW_UPDATE of 0 {_STREAM} PROTOCOL_ERROR.",
       request(end_stream=False), pause(), window_update(1, 0),
       stream_err(PROTOCOL_ERROR))  # fmt: skip
h2case(window_g, "Sends WINDOW_UPDATE with a length of 3",
       f"WINDOW_UPDATE whose length is not 4 {_CONN} FRAME_SIZE_ERROR.",
       frame(WINDOW_UPDATE, 0, 0, b"\x00\x00\x01"), conn_error(FRAME_SIZE_ERROR))  # fmt: skip

h2case(flow_window, "Sets the initial window to 1 and sends a request",
       "A sender MUST NOT send a flow-controlled frame longer than the available window.",
       needs_body(1), settings({INITIAL_WINDOW_SIZE: 1}), settings_ack(), request(),
       data_of_length(1))  # fmt: skip


async def _goaway_flow_control(ctx: CaseContext, peer: H2Peer) -> None:
    await verify_frame(
        peer,
        "GOAWAY(FLOW_CONTROL_ERROR)",
        lambda f: f.kind == "GOAWAY" and f.code == FLOW_CONTROL_ERROR,
        reject=lambda f: f.kind == "GOAWAY",
    )


async def _rst_flow_control(ctx: CaseContext, peer: H2Peer) -> None:
    await verify_frame(
        peer,
        "RST_STREAM(FLOW_CONTROL_ERROR) on stream 1",
        lambda f: f.kind == "RST_STREAM" and f.stream_id == 1 and f.code == FLOW_CONTROL_ERROR,
        reject=lambda f: f.kind in ("GOAWAY", "RST_STREAM"),
    )


h2case(flow_window, "Sends WINDOW_UPDATEs that push the connection window past 2^31-1",
       "A connection window above 2^31-1 MUST end the connection with GOAWAY("
       "FLOW_CONTROL_ERROR).",
       window_update(0, MAX_WINDOW), window_update(0, MAX_WINDOW),
       _goaway_flow_control)  # fmt: skip
h2case(flow_window, "Sends WINDOW_UPDATEs that push a stream window past 2^31-1",
       "A stream window above 2^31-1 MUST end the stream with RST_STREAM("
       "FLOW_CONTROL_ERROR).",
       request(end_stream=False), pause(), window_update(1, MAX_WINDOW),
       window_update(1, MAX_WINDOW),
       _rst_flow_control)  # fmt: skip

h2case(initial_window, "Sets the initial window to 0, requests, then raises it to 1",
       "A change of SETTINGS_INITIAL_WINDOW_SIZE MUST adjust every open stream's window.",
       needs_body(1), settings({INITIAL_WINDOW_SIZE: 0}), settings_ack(), request(),
       settings({INITIAL_WINDOW_SIZE: 1}), settings_ack(), data_of_length(1))  # fmt: skip
h2case(initial_window, "Makes a stream window negative (3, 3 sent, then 2), opens it by 2",
       "A sender MUST track a negative window and send again only once WINDOW_UPDATE makes "
       "it positive.",
       needs_body(5), settings({INITIAL_WINDOW_SIZE: 3}), settings_ack(), request(),
       frame_of("DATA", 1), settings({INITIAL_WINDOW_SIZE: 2}), settings_ack(),
       window_update(1, 2), data_of_length(1))  # fmt: skip
h2case(initial_window, "Sends SETTINGS_INITIAL_WINDOW_SIZE = 2^31",
       f"A SETTINGS_INITIAL_WINDOW_SIZE above the largest window {_CONN} FLOW_CONTROL_ERROR.",
       frame(SETTINGS, 0, 0, b"\x00\x04\x80\x00\x00\x00"),
       conn_error(FLOW_CONTROL_ERROR))  # fmt: skip

# -- 6.10 --------------------------------------------------------------------

_PRECEDED = "A CONTINUATION not preceded by HEADERS, PUSH_PROMISE or CONTINUATION without "
_PRECEDED += f"END_HEADERS {_CONN} PROTOCOL_ERROR."

h2case(continuation_g, "Sends HEADERS and two CONTINUATION frames",
       "Any number of CONTINUATION frames MUST be accepted after HEADERS without END_HEADERS.",
       request(end_headers=False), continuation(end_headers=False), continuation(),
       headers_on())  # fmt: skip
h2case(continuation_g, "Sends CONTINUATION without END_HEADERS, then DATA",
       f"A frame other than CONTINUATION inside a field block {_CONN} PROTOCOL_ERROR.",
       request("POST", end_stream=False, end_headers=False),
       continuation(end_headers=False), data(), conn_error(PROTOCOL_ERROR))  # fmt: skip
h2case(continuation_g, "Sends CONTINUATION on stream 0",
       f"CONTINUATION on stream 0x0 {_CONN} PROTOCOL_ERROR.",
       request(end_headers=False), continuation(0), conn_error(PROTOCOL_ERROR))  # fmt: skip
_CLOSED_TOO = " (STREAM_CLOSED too, once the response has closed the stream)"
h2case(continuation_g, "Sends CONTINUATION after HEADERS with END_HEADERS",
       _PRECEDED + _CLOSED_TOO,
       request(), continuation(), conn_error(PROTOCOL_ERROR, STREAM_CLOSED))  # fmt: skip
h2case(continuation_g, "Sends CONTINUATION after CONTINUATION with END_HEADERS",
       _PRECEDED + _CLOSED_TOO,
       request(end_headers=False), continuation(), continuation(),
       conn_error(PROTOCOL_ERROR, STREAM_CLOSED))  # fmt: skip
h2case(continuation_g, "Sends CONTINUATION after DATA", _PRECEDED,
       request("POST", end_stream=False, end_headers=False), data(),
       continuation(end_headers=False), continuation(0),
       conn_error(PROTOCOL_ERROR))  # fmt: skip

GROUPS = [
    data_g, headers_g, priority_g, rst_g, settings_g, parameters, synchronization,
    ping_g, goaway_g, window_g, flow_window, initial_window, continuation_g,
]  # fmt: skip

__all__ = ["GROUPS"]
