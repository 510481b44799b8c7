"""RFC 9113 rules h2spec does not test, as ids ``h2/<RFC 9113 section>/<n>``.

These complete the h2spec mirror (``generic/``, ``http2/``, ``hpack/``): a
preface whose first frame is not SETTINGS, the reserved stream-id bit on
HEADERS, a frame over the *advertised* SETTINGS_MAX_FRAME_SIZE (h2spec only
tries the default), a SETTINGS change that overflows an open stream's
window, CONTINUATION on another stream, a line feed in a field value, and
the SHOULD-level flood limits of §10.5 (``--strict``). The behaviour cases
(HEAD, early responses, frames after RST_STREAM) are in
:mod:`mux.conformance.groups.h2_behaviour`.
"""

from __future__ import annotations

from mux.conformance.case import Group
from mux.conformance.context import CaseContext
from mux.conformance.groups._common import raw_case
from mux.conformance.groups._h2 import (
    FLOW_CONTROL_ERROR,
    FRAME_SIZE_ERROR,
    PROTOCOL_ERROR,
    RFC9113,
    connection_error,
    expect_connection_error,
    h2_connect,
    h2_no_handshake,
    h2_open_post,
    literal_block,
    open_post,
    stream_error,
)
from mux.conformance.groups._h2steps import headers_on
from mux.conformance.h2wire import (
    CONTINUATION,
    DATA,
    END_HEADERS,
    END_STREAM,
    HEADERS,
    INITIAL_WINDOW_SIZE,
    MAX_WINDOW,
    PING,
    PREFACE,
    frame_bytes,
)

preface = Group("h2", "3.4", "HTTP/2 Connection Preface", RFC9113)
frame_format = Group("h2", "4.1", "Frame Format", RFC9113)
frame_size = Group("h2", "4.2", "Frame Size", RFC9113)
initial = Group("h2", "6.9.2", "Initial Flow-Control Window Size", RFC9113)
continuation = Group("h2", "6.10", "CONTINUATION", RFC9113)
validity = Group("h2", "8.2.1", "Field Validity", RFC9113)
dos = Group("h2", "10.5", "Denial-of-Service Considerations", RFC9113)

#: Default initial window (RFC 9113 §6.9.2).
_DEFAULT_WINDOW = 65535
ENHANCE_YOUR_CALM = 0xB
#: Frames a flood case sends (CVE-2019-9518 class; servers allow far fewer).
_FLOOD = 2000

raw_case(
    preface,
    "Sends a PING instead of SETTINGS after the preface octets",
    "The client preface MUST be followed by a SETTINGS frame; anything else is an invalid "
    "preface, a connection error of type PROTOCOL_ERROR.",
    connect=h2_no_handshake,
    data=PREFACE + frame_bytes(PING, 0, 0, b"\x00" * 8),
    verdict=expect_connection_error(PROTOCOL_ERROR),
)


@frame_format.case(
    "Sends HEADERS with the reserved bit of the stream identifier set",
    "The reserved bit of the stream identifier MUST be ignored when receiving.",
)
async def reserved_bit(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    block = peer.encode(peer.request_headers())
    await peer.send_frame(HEADERS, END_STREAM | END_HEADERS, 0x80000001, block)
    await headers_on(1)(ctx, peer)


@frame_size.case(
    "Sends HEADERS one field longer than the advertised SETTINGS_MAX_FRAME_SIZE",
    "A frame size error in a frame carrying a field block MUST be a connection error of "
    "type FRAME_SIZE_ERROR, whatever SETTINGS_MAX_FRAME_SIZE the server advertised.",
)
async def headers_too_large(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    filler = [(f"x-filler-{i}", "v" * 90) for i in range(peer.max_frame_size // 50 + 2)]
    block = peer.encode([*peer.request_headers(), *filler])
    await peer.send_frame(HEADERS, END_STREAM | END_HEADERS, 1, block)
    await connection_error(ctx, peer, FRAME_SIZE_ERROR)


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


@continuation.case(
    "Sends CONTINUATION for a different stream than the HEADERS",
    "A CONTINUATION on another stream than the open field block MUST be a connection error "
    "of type PROTOCOL_ERROR.",
)
async def continuation_other_stream(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    block = peer.encode(peer.request_headers())
    await peer.send_frame(HEADERS, END_STREAM, 1, block[:1])
    await peer.send_frame(CONTINUATION, END_HEADERS, 3, block[1:])
    await connection_error(ctx, peer, PROTOCOL_ERROR)


@validity.case(
    "Sends a field value containing a line feed",
    "A field value containing NUL, CR or LF MUST be treated as malformed: a stream error of "
    "type PROTOCOL_ERROR.",
)
async def value_with_newline(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    block = literal_block([*peer.request_headers(), ("x-test", "a\nb")])
    await peer.send_frame(HEADERS, END_STREAM | END_HEADERS, 1, block)
    await stream_error(peer, 1, PROTOCOL_ERROR)


raw_case(
    dos,
    f"Sends {_FLOOD} empty DATA frames without END_STREAM on an open stream",
    "An endpoint that tracks cheap frames (empty DATA, CVE-2019-9518) SHOULD treat a flood "
    "as a connection error of type ENHANCE_YOUR_CALM.",
    connect=h2_connect,
    prepare=h2_open_post,
    data=frame_bytes(DATA, 0, 1) * _FLOOD,
    verdict=expect_connection_error(ENHANCE_YOUR_CALM),
    strict=True,
)
raw_case(
    dos,
    f"Sends {_FLOOD * 10} PING frames back to back",
    "An endpoint SHOULD bound the work and the acknowledgements a PING flood makes it queue "
    "and end such a flood with a connection error of type ENHANCE_YOUR_CALM.",
    connect=h2_connect,
    data=frame_bytes(PING, 0, 0, b"floodpng") * (_FLOOD * 10),
    verdict=expect_connection_error(ENHANCE_YOUR_CALM),
    strict=True,
    read_while_sending=True,
)

GROUPS = [preface, frame_format, frame_size, initial, continuation, validity, dos]
