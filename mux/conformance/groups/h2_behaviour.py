"""Behaviour h2spec only brushes against: HEAD, early responses, frames after RST_STREAM.

Theory of operation
-------------------
These three cases check what h2spec's probes trip over without naming it:

* ``h2/5.1/1``: after the *server's* RST_STREAM, DATA the client had already
  sent is ignored (RFC 9113 §5.1, closed: MUST ignore) yet still counted and
  credited to the connection window (§6.9: MUST account for it). The case
  provokes a stream error (a body longer than its content-length, RFC 9113
  §8.1.1), then sends the rest of a stream window of DATA on the reset stream,
  over as many streams as it takes to use up the connection window: one
  RST_STREAM per late frame, or no WINDOW_UPDATE on stream 0 once the window
  is used up, fails.
* ``h2/8.1/1``: a response to HEAD carries no content (RFC 9110 §9.3.2): the
  response HEADERS has END_STREAM and no DATA with octets follows.
* ``h2/8.1/2``: a server whose handler answers before the request body has
  arrived (RFC 9113 §8.1 allows it) must not reset the stream with an error
  code, and the body frames the client still sends are accepted (no
  RST_STREAM(STREAM_CLOSED) for each). ``h2/8.1/3`` (``--strict``) wants the
  body read to its end before any RST_STREAM(NO_ERROR), as nginx does.

The early-response cases POST to ``--path`` (the demo's ``/bytes/4096``
answers without reading the body); a server that waits for the body first
has nothing to check and the case is skipped.
"""

from __future__ import annotations

import trio

from mux.conformance.case import CaseFailed, CaseSkipped, Group
from mux.conformance.context import CaseContext
from mux.conformance.groups._h2 import RFC9113, response_headers
from mux.conformance.h2wire import INITIAL_WINDOW_SIZE, H2Peer
from mux.conformance.verify import QUIET_PERIOD
from mux.conformance.wire import FrameEvent, TimeoutEvent

states = Group("h2", "5.1", "Stream States", RFC9113)
framing = Group("h2", "8.1", "HTTP Message Framing", RFC9113)

#: The connection and stream windows every connection starts with (RFC 9113 §6.9.2).
_INITIAL_WINDOW = 65535
#: Most late DATA the reset case sends (it sends a connection window's worth up to this),
#: and the most streams it resets to do so.
_LATE_CAP, _LATE_STREAMS = 4 << 20, 16
_LATE_PING = b"late-ok!"
#: The DATA that makes a request malformed (content-length: 1).
_OVERRUN = b"four"
#: The request body of the early-response cases: frames x octets.
_BODY_FRAMES, _BODY_FRAME = 4, 1000


def _connection_credit(peer: H2Peer) -> int:
    """The connection window the server has opened so far (initial plus updates)."""
    return _INITIAL_WINDOW + sum(
        int(f.detail.lstrip("+"))
        for f in peer.history
        if f.kind == "WINDOW_UPDATE" and not f.stream_id
    )


async def _until_ping(peer: H2Peer, payload: bytes, on_frame: _FrameCheck) -> None:
    """Read until PING(ACK, ``payload``), handing every other frame to ``on_frame``."""
    await peer.send_ping(payload)
    while True:
        event = await peer.next_event()
        if not isinstance(event, FrameEvent):
            raise CaseFailed(
                f"PING(ACK, {payload!r}) with the connection kept open", event.describe()
            )
        if event.kind == "PING" and event.has("ACK") and event.payload == payload:
            return
        on_frame(event)


class _FrameCheck:
    """Judges the frames that arrive while late DATA is handled; remembers credit."""

    def __init__(self, stream_id: int, expected: str, *, allow_no_error: bool) -> None:
        self.stream_ids = {stream_id}
        self.expected = expected
        self.allow_no_error = allow_no_error
        self.credited = 0
        self.resets: list[str] = []

    def __call__(self, event: FrameEvent) -> None:
        if event.kind == "GOAWAY":
            raise CaseFailed(self.expected, event.describe())
        if event.kind == "WINDOW_UPDATE" and not event.stream_id:
            self.credited += int(event.detail.lstrip("+"))
        mine = event.kind == "RST_STREAM" and event.stream_id in self.stream_ids
        if mine and not (self.allow_no_error and event.code == 0):
            self.resets.append(event.describe())

    def check(self) -> None:
        if self.resets:
            count = f" x{len(self.resets)}" if len(self.resets) > 1 else ""
            raise CaseFailed(self.expected, f"{self.resets[0]}{count}")


async def _quiet(peer: H2Peer, on_frame: _FrameCheck) -> None:
    """Hand the frames of a short quiet period to ``on_frame`` (stragglers)."""
    with trio.move_on_after(QUIET_PERIOD):
        while True:
            event = await peer.next_event(QUIET_PERIOD)
            if isinstance(event, TimeoutEvent):
                return
            if not isinstance(event, FrameEvent):
                raise CaseFailed(on_frame.expected, event.describe())
            on_frame(event)


async def _reset_one(peer: H2Peer, stream_id: int, path: str, check: _FrameCheck) -> bool:
    """Open ``stream_id`` and provoke the server's RST_STREAM; False if it sent GOAWAY.

    Frames that arrive meanwhile (answers to the late DATA of earlier streams)
    go to ``check``.
    """
    fields = [*peer.request_headers("POST", path), ("content-length", "1")]
    await peer.send_headers(stream_id, fields, end_stream=False)
    await peer.send_data(stream_id, _OVERRUN)  # malformed: longer than content-length
    while True:
        event = await peer.next_event()
        if not isinstance(event, FrameEvent):
            expected = f"RST_STREAM on stream {stream_id} (a body longer than content-length)"
            raise CaseFailed(expected, event.describe())
        if event.kind == "GOAWAY":
            return False
        if event.kind == "RST_STREAM" and event.stream_id == stream_id:
            return True
        check(event)


@states.case(
    "Provokes RST_STREAM (body over content-length), then sends a window's worth of DATA on it",
    "Frames that arrive on a stream after the server reset it MUST be ignored (no RST_STREAM "
    "per frame), and their DATA still credited to the connection window (WINDOW_UPDATE).",
)
async def data_after_our_reset(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    path = ctx.target.hold_path or ctx.target.path
    window = min(_connection_credit(peer), _LATE_CAP)
    stream_window = peer.server_settings.get(INITIAL_WINDOW_SIZE, _INITIAL_WINDOW)
    chunk = min(peer.max_frame_size, 16384)
    sent, stream_id, streams = 0, 1, list[int]()
    check = _FrameCheck(0, "late DATA ignored (no RST_STREAM) and credited", allow_no_error=False)
    while sent < window and len(streams) < _LATE_STREAMS:
        if not await _reset_one(peer, stream_id, path, check):
            raise CaseSkipped("the server ended the connection instead of resetting the stream")
        streams.append(stream_id)
        check.stream_ids.add(stream_id)
        sent += len(_OVERRUN)
        quota = max(0, min(stream_window - len(_OVERRUN), window - sent))
        while quota:
            size = min(chunk, quota)
            quota -= size
            sent += size
            await peer.send_data(stream_id, b"x" * size, end_stream=not quota)
        stream_id += 2
    check.expected = f"the {sent} late DATA octets ignored (no RST_STREAM) and credited"
    await _until_ping(peer, _LATE_PING, check)
    await _quiet(peer, check)
    check.check()
    if sent < window:
        return  # the window was not used up: the server may credit later
    need = min(16384, window // 2)  # room for a frame again: the connection is not stuck
    while window + check.credited - sent < need:
        event = await peer.next_event()
        if not isinstance(event, FrameEvent):
            raise CaseFailed(
                f"WINDOW_UPDATE on stream 0 crediting the {sent} late DATA octets (at least "
                f"{need} octets of window open again)",
                f"{window + check.credited - sent} octets open, then {event.describe()}",
            )
        check(event)
    check.check()


@framing.case(
    "Sends a HEAD request",
    "A response to HEAD has no content: its HEADERS carries END_STREAM and no DATA with "
    "octets follows (RFC 9110 §9.3.2).",
)
async def head_without_content(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await peer.send_headers(1, peer.request_headers("HEAD"))
    headers = await response_headers(peer, 1)
    expected = "HEADERS with END_STREAM and no DATA in the response to HEAD"
    ended = headers.has("END_STREAM")
    if not ended and ctx.strict:
        raise CaseFailed(expected, headers.describe())
    deadline = trio.current_time() + (QUIET_PERIOD if ended else ctx.timeout)
    while (left := deadline - trio.current_time()) > 0:
        event = await peer.next_event(left)
        if isinstance(event, TimeoutEvent):
            break
        if not isinstance(event, FrameEvent):
            raise CaseFailed(expected, event.describe())
        if event.stream_id == 1 and event.kind == "DATA" and (event.payload or ended):
            raise CaseFailed(expected, f"{headers.describe()}, then {event.describe()}")
        if event.stream_id == 1 and event.has("END_STREAM"):
            ended = True
            deadline = trio.current_time() + QUIET_PERIOD
    if not ended:
        raise CaseFailed(expected, f"{headers.describe()}, then no END_STREAM")


async def _early_response(ctx: CaseContext, *, keep_reading: bool) -> None:
    peer = await ctx.h2()
    length = _BODY_FRAMES * _BODY_FRAME
    fields = [*peer.request_headers("POST"), ("content-length", str(length))]
    await peer.send_headers(1, fields, end_stream=False)
    expected = "no RST_STREAM with an error code after the early response"
    if keep_reading:
        expected = "no RST_STREAM before the request body ended (the server reads it on)"
    check = _FrameCheck(1, expected, allow_no_error=not keep_reading)
    while True:  # the response, if it comes before the body
        event = await peer.next_event()
        if isinstance(event, TimeoutEvent):
            for index in range(_BODY_FRAMES):
                await peer.send_data(1, b"x" * _BODY_FRAME, end_stream=index == _BODY_FRAMES - 1)
            raise CaseSkipped(
                f"POST {ctx.target.path} is answered only after its body; point --path at a "
                "handler that answers first"
            )
        if not isinstance(event, FrameEvent):
            raise CaseFailed(expected, event.describe())
        check(event)
        check.check()
        if event.stream_id == 1 and event.has("END_STREAM"):
            break
    await _quiet(peer, check)
    check.check()
    for index in range(_BODY_FRAMES):
        await peer.send_data(1, b"x" * _BODY_FRAME, end_stream=index == _BODY_FRAMES - 1)
    check.expected = "the rest of the request body accepted (no RST_STREAM with an error code)"
    check.allow_no_error = True
    await _until_ping(peer, _LATE_PING, check)
    await _quiet(peer, check)
    check.check()


@framing.case(
    "Sends a POST with content-length and no body yet; the answer comes first; then the body",
    "A server that answers before the request ends MUST NOT reset the stream with an error "
    "code, and MUST accept (or, after RST_STREAM(NO_ERROR), ignore) the body frames that follow.",
)
async def early_response(ctx: CaseContext) -> None:
    await _early_response(ctx, keep_reading=False)


@framing.case(
    "Sends a POST whose answer comes before the body; expects the body read on",
    "After an early response the server SHOULD read the rest of the request body (within a "
    "bound) before any RST_STREAM(NO_ERROR).",
    strict=True,
)
async def early_response_reads_on(ctx: CaseContext) -> None:
    await _early_response(ctx, keep_reading=True)


GROUPS = [states, framing]
