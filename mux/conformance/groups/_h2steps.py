"""Steps of the HTTP/2 cases: what a case sends, what it waits for, how it is judged.

Theory of operation
-------------------
Most HTTP/2 cases are a short script on one fresh connection: the SETTINGS
exchange, a few frames (often illegal on purpose), then a verdict. A
:data:`Step` is one awaitable piece of such a script taking the case context
and the peer; :func:`h2case` declares a case as a list of steps, the last of
which is the verdict. Senders (:func:`request`, :func:`data`, :func:`rst` ...)
build frames for the target (its ``--path`` plays the part of h2spec's ``/``);
verdicts (:func:`conn_error`, :func:`stream_err`, :func:`headers_on` ...)
follow h2spec's rules of acceptance:

* a connection error passes on GOAWAY with the code, or on a close (GOAWAY
  is a SHOULD); ``--strict`` wants the GOAWAY;
* a stream error passes on RST_STREAM with the code, GOAWAY with the code,
  or a close; an RST_STREAM with another code does not fail on sight (the
  wait goes on, as h2spec's does);
* "accepts X" cases pass on the response HEADERS (or the PING answer) and
  fail on any RST_STREAM or GOAWAY before it.
"""

from __future__ import annotations

import struct
from collections.abc import Awaitable, Callable, Sequence

import trio

from mux.conformance.case import CaseFailed, CaseSkipped, Group
from mux.conformance.context import CaseContext
from mux.conformance.groups._h2 import connection_error, literal_block
from mux.conformance.h2wire import (
    CONTINUATION,
    DATA,
    END_HEADERS,
    END_STREAM,
    HEADERS,
    PADDED,
    PRIORITY,
    PRIORITY_FLAG,
    H2Peer,
)
from mux.conformance.verify import (
    is_error_frame,
    verify_closed,
    verify_frame,
    verify_stream_error,
)
from mux.conformance.wire import ClosedEvent, FrameEvent

#: One piece of a case script.
Step = Callable[[CaseContext, H2Peer], Awaitable[None]]
Fields = list[tuple[str, str]]
#: Value length of the filler header fields (h2spec's default --max-header-length).
DUMMY_LENGTH = 4000


def dummy_fields(count: int = 1) -> Fields:
    """``count`` filler fields ``x-dummyN`` of :data:`DUMMY_LENGTH` octets."""
    return [(f"x-dummy{i}", "x" * DUMMY_LENGTH) for i in range(count)]


def h2case(
    group: Group,
    description: str,
    requirement: str,
    *steps: Step,
    settings: dict[int, int] | None = None,
    strict: bool = False,
) -> None:
    """Declare the case "handshake (with our ``settings``), then run ``steps``"."""

    async def run(ctx: CaseContext) -> None:
        peer = await ctx.h2(settings=settings)
        for step in steps:
            await step(ctx, peer)

    group.case(description, requirement, strict=strict)(run)


# -- senders -----------------------------------------------------------------


def request_fields(
    peer: H2Peer, method: str = "GET", extra: Sequence[tuple[str, str]] = ()
) -> Fields:
    """h2spec's request fields (method, scheme, path, authority), then ``extra``."""
    return [*peer.request_headers(method), *extra]


def request(
    method: str = "GET",
    *,
    sid: int = 1,
    end_stream: bool = True,
    end_headers: bool = True,
    extra: Sequence[tuple[str, str]] = (),
    fields: Callable[[H2Peer], Fields] | None = None,
    literal: bool = False,
    priority: tuple[int, bool, int] | None = None,
    pad: int = 0,
) -> Step:
    """HEADERS carrying a request (``fields`` replaces the default list).

    ``literal`` encodes without the dynamic table, byte for byte as given
    (needed for names the encoder would change). ``priority`` is
    (dependency, exclusive, weight octet); ``pad`` adds that much padding.
    """

    async def send(ctx: CaseContext, peer: H2Peer) -> None:
        listed = fields(peer) if fields is not None else request_fields(peer, method, extra)
        block = literal_block(listed) if literal else peer.encode(listed)
        flags = (END_STREAM if end_stream else 0) | (END_HEADERS if end_headers else 0)
        if priority is not None:
            dependency, exclusive, weight = priority
            block = struct.pack(">IB", dependency | (exclusive << 31), weight) + block
            flags |= PRIORITY_FLAG
        if pad:
            block = bytes([pad]) + block + b"\x00" * pad
            flags |= PADDED
        await peer.send_frame(HEADERS, flags, sid, block)

    return send


def headers_block(sid: int, flags: int, block: Callable[[H2Peer], bytes]) -> Step:
    """HEADERS whose block the case builds (to append raw HPACK representations)."""

    async def send(ctx: CaseContext, peer: H2Peer) -> None:
        await peer.send_frame(HEADERS, flags, sid, block(peer))

    return send


def continuation(sid: int = 1, *, end_headers: bool = True, fields: Fields | None = None) -> Step:
    """CONTINUATION carrying ``fields`` (one filler field by default)."""

    async def send(ctx: CaseContext, peer: H2Peer) -> None:
        block = peer.encode(fields if fields is not None else dummy_fields())
        await peer.send_frame(CONTINUATION, END_HEADERS if end_headers else 0, sid, block)

    return send


def data(sid: int = 1, payload: bytes = b"test", *, end: bool = True) -> Step:
    """DATA."""
    return lambda ctx, peer: peer.send_data(sid, payload, end_stream=end)


def rst(sid: int, code: int) -> Step:
    """RST_STREAM."""
    return lambda ctx, peer: peer.send_rst_stream(sid, code)


def ping(payload: bytes = bytes(8), *, ack: bool = False) -> Step:
    """PING (or PING ACK)."""
    return lambda ctx, peer: peer.send_ping(payload, ack=ack)


def settings(values: dict[int, int]) -> Step:
    """SETTINGS with ``values`` (sent in this order)."""
    return lambda ctx, peer: peer.send_settings(values)


def window_update(sid: int, increment: int) -> Step:
    """WINDOW_UPDATE."""
    return lambda ctx, peer: peer.send_window_update(sid, increment)


def priority(sid: int, depends_on: int = 0, weight: int = 255, *, exclusive: bool = False) -> Step:
    """PRIORITY (``weight`` is the octet on the wire)."""
    payload = struct.pack(">IB", depends_on | (exclusive << 31), weight)
    return lambda ctx, peer: peer.send_frame(PRIORITY, 0, sid, payload)


def goaway(last_stream_id: int, code: int, debug: bytes = b"") -> Step:
    """GOAWAY."""
    return lambda ctx, peer: peer.send_goaway(last_stream_id, code, debug)


def frame(frame_type: int, flags: int, sid: int, payload: bytes = b"") -> Step:
    """One raw frame, exactly as given."""
    return lambda ctx, peer: peer.send_frame(frame_type, flags, sid, payload)


#: How long :func:`pause` waits: enough for a local server's early answer to come first.
EARLY_ANSWER_WAIT = 0.2


def pause() -> Step:
    """Wait briefly after opening a request, so a server that answers before the request
    ends does so first: the next frames then meet the stream as h2spec's do over TLS or
    a real network, not in the same read as the HEADERS."""

    async def wait(ctx: CaseContext, peer: H2Peer) -> None:
        await trio.sleep(EARLY_ANSWER_WAIT)

    return wait


def raw_bytes(payload: bytes) -> Step:
    """Bytes as they are."""
    return lambda ctx, peer: peer.send_raw(payload)


# -- verdicts ----------------------------------------------------------------


def conn_error(*codes: int) -> Step:
    """Connection error with one of ``codes`` (a bare close passes unless --strict)."""
    return lambda ctx, peer: connection_error(ctx, peer, *codes)


def stream_err(*codes: int, sid: int | None = 1) -> Step:
    """Stream error with one of ``codes`` on ``sid`` (None: any stream); escalation passes."""
    return lambda ctx, peer: verify_stream_error(
        peer, sid, *codes, allow_connection_error=True, tolerate_other_resets=True
    )


def closed() -> Step:
    """The server closes the connection; frames before the close do not matter."""

    async def verdict(ctx: CaseContext, peer: H2Peer) -> None:
        await verify_closed(peer)

    return verdict


def headers_on(sid: int = 1) -> Step:
    """The response HEADERS on ``sid``; RST_STREAM or GOAWAY first fails."""

    async def verdict(ctx: CaseContext, peer: H2Peer) -> None:
        await verify_frame(
            peer,
            f"HEADERS response on stream {sid}",
            lambda f: f.kind == "HEADERS" and f.stream_id == sid,
            reject=is_error_frame,
        )

    return verdict


def ping_ack(payload: bytes = bytes(8)) -> Step:
    """PING(ACK) with ``payload``; GOAWAY or another PING first fails."""

    async def verdict(ctx: CaseContext, peer: H2Peer) -> None:
        await verify_frame(
            peer,
            f"PING(ACK) with payload {payload!r}",
            lambda f: f.kind == "PING" and f.has("ACK") and f.payload == payload,
            reject=lambda f: f.kind in ("GOAWAY", "PING"),
        )

    return verdict


def ping_ack_or_close(payload: bytes = bytes(8)) -> Step:
    """PING(ACK) with ``payload``, or the connection closed."""

    async def verdict(ctx: CaseContext, peer: H2Peer) -> None:
        expected = f"PING(ACK) with payload {payload!r}, or the connection closed"
        while True:
            event = await peer.next_event()
            if isinstance(event, ClosedEvent):
                return
            if not isinstance(event, FrameEvent):
                raise CaseFailed(expected, event.describe())
            if event.kind == "PING" and event.has("ACK") and event.payload == payload:
                return

    return verdict


def settings_ack() -> Step:
    """SETTINGS(ACK); GOAWAY or RST_STREAM first fails."""

    async def verdict(ctx: CaseContext, peer: H2Peer) -> None:
        await verify_frame(
            peer,
            "SETTINGS(ACK)",
            lambda f: f.kind == "SETTINGS" and f.has("ACK"),
            reject=is_error_frame,
        )

    return verdict


def frame_of(kind: str, sid: int | None = None) -> Step:
    """The next frame of type ``kind`` (on ``sid`` when given); GOAWAY first fails."""

    async def verdict(ctx: CaseContext, peer: H2Peer) -> None:
        where = f" on stream {sid}" if sid is not None else ""
        await verify_frame(
            peer,
            f"{kind}{where}",
            lambda f: f.kind == kind and sid in (None, f.stream_id),
            reject=lambda f: f.kind == "GOAWAY",
        )

    return verdict


def stream_closed(sid: int = 1) -> Step:
    """The response on ``sid`` ends (END_STREAM, or RST_STREAM(NO_ERROR))."""

    async def verdict(ctx: CaseContext, peer: H2Peer) -> None:
        await verify_frame(
            peer,
            f"the end of the response on stream {sid}",
            lambda f: (
                f.stream_id == sid
                and (
                    (f.kind in ("HEADERS", "DATA") and f.has("END_STREAM"))
                    or (f.kind == "RST_STREAM" and f.code == 0)
                )
            ),
            reject=lambda f: f.kind == "GOAWAY" or (f.kind == "RST_STREAM" and f.code != 0),
        )

    return verdict


def data_of_length(length: int, sid: int = 1) -> Step:
    """The next DATA on ``sid`` carries exactly ``length`` octets (skip: no body)."""

    async def verdict(ctx: CaseContext, peer: H2Peer) -> None:
        event = await verify_frame(
            peer,
            f"DATA of {length} octet(s) on stream {sid}",
            lambda f: f.stream_id == sid and (f.kind == "DATA" or f.has("END_STREAM")),
            reject=is_error_frame,
        )
        if event.kind != "DATA" or (not event.payload and event.has("END_STREAM")):
            raise CaseSkipped(f"the response to {ctx.target.path} has no body; try --path")
        if len(event.payload) != length:
            raise CaseFailed(f"DATA of {length} octet(s) on stream {sid}", event.describe())

    return verdict


def needs_body(minimum: int) -> Step:
    """Skip unless ``--path`` answers with at least ``minimum`` octets (h2spec's check)."""

    async def check(ctx: CaseContext, peer: H2Peer) -> None:
        probe = await ctx.h2()
        await probe.send_headers(1)
        received = 0
        while True:
            event = await probe.next_event()
            if not isinstance(event, FrameEvent) or event.kind in ("GOAWAY", "RST_STREAM"):
                raise CaseSkipped(f"GET {ctx.target.path} got no complete response")
            if event.stream_id == 1 and event.kind == "DATA":
                received += len(event.payload)
            if event.stream_id == 1 and event.has("END_STREAM"):
                break
        if received < minimum:
            raise CaseSkipped(
                f"the response to {ctx.target.path} has {received} octets, "
                f"this case needs {minimum}; try --path"
            )

    return check


__all__ = [
    "DATA",
    "DUMMY_LENGTH",
    "Step",
    "closed",
    "conn_error",
    "continuation",
    "data",
    "data_of_length",
    "dummy_fields",
    "frame",
    "frame_of",
    "goaway",
    "h2case",
    "headers_block",
    "headers_on",
    "needs_body",
    "pause",
    "ping",
    "ping_ack",
    "ping_ack_or_close",
    "priority",
    "raw_bytes",
    "request",
    "request_fields",
    "rst",
    "settings",
    "settings_ack",
    "stream_closed",
    "stream_err",
    "window_update",
]
