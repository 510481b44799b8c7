"""Verifiers: wait for the server's answer and judge it (h2spec's verifier idea).

Theory of operation
-------------------
Every case ends in one of these. A verifier reads :class:`~.wire.WireEvent`
values from the peer until it sees what the rule asks for, sees something
that contradicts it, or runs out of time, and raises
:class:`~.case.CaseFailed` with *expected* and *actual* text such as
``expected GOAWAY(FRAME_SIZE_ERROR), got connection closed without GOAWAY``.
Frames that neither satisfy nor contradict the rule (a SETTINGS ACK, a
WINDOW_UPDATE, a response to an earlier request) are skipped but remembered,
so a timeout report can say what did arrive.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import trio

from mux.conformance.case import CaseFailed
from mux.conformance.wire import (
    ClosedEvent,
    FrameEvent,
    GarbageEvent,
    Peer,
    TimeoutEvent,
    WireEvent,
)
from mux.errors import code_from_int, code_name

#: How long "nothing should happen" checks listen before concluding so.
QUIET_PERIOD = 0.3
#: Opaque data of the liveness PING the verifiers send.
ALIVE_PING = b"mux-live"


def _names(codes: Iterable[int]) -> str:
    return " or ".join(code_name(code_from_int(code)) for code in codes)


def _actual(event: WireEvent, skipped: list[FrameEvent]) -> str:
    text = event.describe()
    if isinstance(event, TimeoutEvent):
        text = f"no answer within {event.waited:g} s"
        if skipped:
            seen = ", ".join(frame.describe() for frame in skipped[-3:])
            text += f" (received only {seen})"
    return text


async def verify_connection_error(peer: Peer, *codes: int, require_goaway: bool = True) -> None:
    """Pass when the server ends the connection with GOAWAY carrying one of ``codes``.

    Args:
        peer: the connection.
        codes: acceptable error codes.
        require_goaway: when False, a bare close also passes (HTTP/2 makes
            the GOAWAY a SHOULD, RFC 9113 §5.4.1).
    """
    expected = f"GOAWAY({_names(codes)})"
    skipped: list[FrameEvent] = []
    while True:
        event = await peer.next_event()
        if isinstance(event, FrameEvent) and event.kind == "GOAWAY":
            if event.code in codes:
                return
            raise CaseFailed(expected, event.describe())
        if isinstance(event, ClosedEvent):
            if not require_goaway:
                return
            raise CaseFailed(expected, f"{event.describe()} without GOAWAY")
        if isinstance(event, FrameEvent):
            skipped.append(event)
            continue
        raise CaseFailed(expected, _actual(event, skipped))


async def verify_stream_error(
    peer: Peer,
    stream_id: int | None,
    *codes: int,
    allow_connection_error: bool = True,
    tolerate_other_resets: bool = False,
) -> None:
    """Pass on RST_STREAM(``codes``) for ``stream_id``.

    Args:
        peer: the connection.
        stream_id: the stream that must be reset (None: any stream).
        codes: acceptable error codes.
        allow_connection_error: also accept GOAWAY with one of ``codes`` or a
            bare close (HTTP/2 lets an endpoint escalate a stream error).
        tolerate_other_resets: an RST_STREAM with another code does not fail
            on sight; the wait goes on for the right one (h2spec's verdict:
            for example RST_STREAM(NO_ERROR) after an early response, then
            the error the case provokes).
    """
    where = f" on stream {stream_id}" if stream_id is not None else ""
    expected = f"RST_STREAM({_names(codes)}){where}"
    if allow_connection_error:
        expected += f" or GOAWAY({_names(codes)})"
    skipped: list[FrameEvent] = []
    while True:
        event = await peer.next_event()
        if isinstance(event, FrameEvent):
            if event.kind == "RST_STREAM" and stream_id in (None, event.stream_id):
                if event.code in codes:
                    return
                if not tolerate_other_resets:
                    raise CaseFailed(expected, event.describe())
            if event.kind == "GOAWAY":
                if allow_connection_error and event.code in codes:
                    return
                raise CaseFailed(expected, event.describe())
            skipped.append(event)
            continue
        if isinstance(event, ClosedEvent) and allow_connection_error:
            return
        if isinstance(event, ClosedEvent):
            raise CaseFailed(expected, f"{event.describe()} without RST_STREAM")
        raise CaseFailed(expected, _actual(event, skipped))


async def verify_closed(peer: Peer) -> None:
    """Pass when the server closes the connection (frames before that are fine)."""
    skipped: list[FrameEvent] = []
    while True:
        event = await peer.next_event()
        if isinstance(event, ClosedEvent):
            return
        if isinstance(event, FrameEvent):
            skipped.append(event)
            continue
        raise CaseFailed("connection closed", _actual(event, skipped))


async def verify_frame(
    peer: Peer,
    expected: str,
    match: Callable[[FrameEvent], bool],
    *,
    reject: Callable[[FrameEvent], bool] | None = None,
) -> FrameEvent:
    """Wait for the first frame that ``match`` accepts and return it.

    Args:
        peer: the connection.
        expected: what the frame is, for the failure report.
        match: predicate of the awaited frame.
        reject: predicate of frames that break the rule on sight.
    """
    skipped: list[FrameEvent] = []
    while True:
        event = await peer.next_event()
        if isinstance(event, FrameEvent):
            if match(event):
                return event
            if reject is not None and reject(event):
                raise CaseFailed(expected, event.describe())
            skipped.append(event)
            continue
        raise CaseFailed(expected, _actual(event, skipped))


def is_error_frame(frame: FrameEvent) -> bool:
    """True for GOAWAY or RST_STREAM, which an "ignore this" rule forbids."""
    return frame.kind in ("GOAWAY", "RST_STREAM")


async def verify_alive(peer: Peer) -> None:
    """Pass when the connection still answers a PING with the same payload.

    Used after input the server must ignore: any GOAWAY or close before the
    PONG fails the case.
    """
    await peer.send_ping(ALIVE_PING)
    await verify_frame(
        peer,
        "PING(ACK) answering our PING (connection still usable)",
        lambda f: f.kind == "PING" and f.has("ACK") and f.payload == ALIVE_PING,
        reject=lambda f: f.kind == "GOAWAY",
    )


async def verify_silence(peer: Peer, forbidden: Callable[[FrameEvent], bool], what: str) -> None:
    """Pass when no ``forbidden`` frame and no close arrives for :data:`QUIET_PERIOD`."""
    with trio.move_on_after(QUIET_PERIOD):
        while True:
            event = await peer.next_event(QUIET_PERIOD)
            if isinstance(event, TimeoutEvent):
                return
            if isinstance(event, FrameEvent) and forbidden(event):
                raise CaseFailed(f"no {what}", event.describe())
            if isinstance(event, ClosedEvent | GarbageEvent):
                raise CaseFailed(f"no {what} and the connection kept open", event.describe())
