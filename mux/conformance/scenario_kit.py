"""Shared toolkit of the client-mode scenarios, for both framings.

Theory of operation
-------------------
The mux (:mod:`mux.conformance.scenarios_mux`) and HTTP/2
(:mod:`mux.conformance.scenarios_h2`) client scenarios play the same scripts
against a client: GOAWAY with streams open, a lowered stream limit, a starved
flow-control window, resets, PINGs, a connection cut mid-frame. What differs
is small: how a request's path is read from a HEADERS event, how a frame is
encoded, and a few words of the messages. A :class:`Dialect` holds those
differences and registers the scenarios of one framing (its
:meth:`Dialect.scenario` decorator numbers them per section); the script
bodies here take the dialect and stay framing-free.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol as TypingProtocol
from typing import TypeGuard

import attrs
import trio

from mux.conformance.case import CaseFailed, CaseSkipped, Protocol
from mux.conformance.clientmode import Scenario, ScenarioContext, ScenarioRun, ScriptedPeer
from mux.conformance.clientmode import scenario_of as scenario_of
from mux.conformance.wire import ClosedEvent, FrameEvent, GarbageEvent, TimeoutEvent, WireEvent
from mux.errors import ErrorCode, code_name

#: How long "the client must not do X" checks watch (the only short window).
QUIET = 0.4


class KitPeer(ScriptedPeer, TypingProtocol):
    """What the shared scripts need of a server-side raw peer (mux or HTTP/2)."""

    acks_received: int
    settings_sent: int
    ping_delay: float

    async def send_raw(self, data: bytes) -> None: ...
    async def send_frame(
        self, frame_type: int, flags: int, stream_id: int, payload: bytes = b""
    ) -> None: ...
    async def send_settings(self, settings: dict[int, int]) -> None: ...
    async def send_ping(self, data: bytes, *, ack: bool = False) -> None: ...
    async def send_goaway(self, last_stream_id: int, code: int, debug: bytes = b"") -> None: ...
    async def send_rst_stream(self, stream_id: int, code: int) -> None: ...
    async def send_window_update(self, stream_id: int, increment: int) -> None: ...


Ctx = ScenarioContext[KitPeer]


@attrs.define(eq=False)
class Dialect:
    """What differs between the mux and the HTTP/2 scenarios, and their registry.

    Attributes:
        prefix: scenario ids are ``<prefix>/<section>/<n>``.
        path: the ``:path`` of a HEADERS event ("" when absent).
        encode: builds one frame (type, flags, stream id, payload) as bytes.
        data: the DATA frame type; ``end_stream`` its END_STREAM flag.
        ack_label: how the messages name a SETTINGS acknowledgement.
        headers_path: describe HEADERS events as ``HEADERS(stream n, path)``.
        processed_note: appended to the "no retry of stream" expectation.
    """

    prefix: str
    protocol: Protocol
    source: str
    path: Callable[[FrameEvent], str]
    encode: Callable[[int, int, int, bytes], bytes]
    data: int
    end_stream: int
    ack_label: str
    headers_path: bool = False
    processed_note: str = ""
    scenarios: list[Scenario] = attrs.Factory(list)
    _numbers: dict[str, int] = attrs.Factory(dict)

    def scenario(
        self, name: str, section: str, title: str, description: str, requirement: str,
        workload: str, *, strict: bool = False,
    ) -> Callable[[ScenarioRun], ScenarioRun]:  # fmt: skip
        """Decorator: register the next scenario of this framing."""

        def register(run: ScenarioRun) -> ScenarioRun:
            self._numbers[section] = self._numbers.get(section, 0) + 1
            number = self._numbers[section]
            sid = f"{self.prefix}/{section}/{number}"
            meta = (self.protocol, section, self.source, title, description, requirement)
            self.scenarios.append(Scenario(name, sid, *meta, workload, run, strict=strict))
            return run

        return register

    def is_request(self, event: WireEvent, name: str) -> TypeGuard[FrameEvent]:
        """True for a request HEADERS whose path selects scenario ``name``."""
        return (
            isinstance(event, FrameEvent)
            and event.kind == "HEADERS"
            and scenario_of(self.path(event)) == name
        )

    def describe(self, ctx: Ctx, peer: KitPeer | None, event: WireEvent) -> str:
        """``event`` in words, with the connection it came on."""
        text = event.describe()
        if self.headers_path and isinstance(event, FrameEvent) and event.kind == "HEADERS":
            text = f"HEADERS(stream {event.stream_id}, {self.path(event)})"
        return f"{text} on {ctx.label(peer)}" if peer is not None else text


def hostile(event: WireEvent) -> bool:
    """The client gave up on the connection (GOAWAY, close, garbage)."""
    if isinstance(event, FrameEvent):
        return event.kind == "GOAWAY"
    return isinstance(event, ClosedEvent | GarbageEvent)


async def wait_ack(d: Dialect, ctx: Ctx, peer: KitPeer) -> None:
    """Wait until the client acknowledged every SETTINGS we sent."""
    while peer.acks_received < peer.settings_sent:
        p, event = await ctx.next()
        if isinstance(event, TimeoutEvent) or (p is peer and hostile(event)):
            raise CaseFailed(f"{d.ack_label} for our SETTINGS #{peer.settings_sent}",
                             d.describe(ctx, p, event))  # fmt: skip


async def open_requests(
    d: Dialect, ctx: Ctx, name: str, count: int
) -> tuple[KitPeer, dict[int, str]]:
    """Wait for ``count`` concurrent requests on the first connection: stream id -> path."""
    peer, first = await ctx.first_request()
    streams = {first.stream_id: d.path(first)}
    while len(streams) < count:
        p, event = await ctx.next()
        if isinstance(event, TimeoutEvent):
            raise CaseFailed(f"{count} concurrent requests on one connection", f"{len(streams)}")
        if p is peer and d.is_request(event, name):
            streams[event.stream_id] = d.path(event)
    return peer, streams


# ---------------------------------------------------------------- GOAWAY


async def goaway(d: Dialect, ctx: Ctx, name: str, *, need_retries: bool = True) -> None:
    """GOAWAY(last_stream_id = first stream) with three open; judge the retries."""
    peer, streams = await open_requests(d, ctx, name, 3)
    low = min(streams)
    await peer.send_goaway(low, ErrorCode.NO_ERROR, b"client-mode goaway")
    await peer.respond(low)
    retried = {path for sid, path in streams.items() if sid > low}
    seen: set[str] = set()
    while seen != retried:
        p, event = await ctx.next()
        if isinstance(event, TimeoutEvent):
            if not need_retries:
                break
            missing = ", ".join(sorted(retried - seen))
            raise CaseFailed(f"retries of {missing} on a new connection", "none")
        await _after_goaway(d, ctx, peer, streams, p, event, seen)
    until = trio.current_time() + QUIET
    while (left := until - trio.current_time()) > 0:
        p, event = await ctx.next(left)
        await _after_goaway(d, ctx, peer, streams, p, event, seen)


async def _after_goaway(
    d: Dialect, ctx: Ctx, old: KitPeer, streams: dict[int, str], p: KitPeer | None,
    event: WireEvent, seen: set[str],
) -> None:  # fmt: skip
    if p is None or not isinstance(event, FrameEvent) or event.kind != "HEADERS":
        return
    low = min(streams)
    if p is old and event.stream_id not in streams:
        raise CaseFailed(f"no new stream on {ctx.label(old)} after its GOAWAY",
                         d.describe(ctx, p, event))  # fmt: skip
    path = d.path(event)
    if p is not old and path == streams[low]:
        raise CaseFailed(f"no retry of stream {low} (<= last_stream_id {low}{d.processed_note})",
                         d.describe(ctx, p, event))  # fmt: skip
    if p is not old:
        seen.add(path)
        await p.respond(event.stream_id)


# ---------------------------------------------------------------- limits


async def max_streams(d: Dialect, ctx: Ctx, setting: int) -> None:
    """Lower the stream limit to 2 by SETTINGS ``setting``; at most 2 may be open after."""
    peer, first = await ctx.first_request()
    await peer.send_settings({setting: 2})
    await wait_ack(d, ctx, peer)
    await peer.respond(first.stream_id)
    open_: dict[int, float] = {}
    served = 0
    while served < 4:
        now = trio.current_time()
        idle = not open_
        due = min(open_.values(), default=now + ctx.reply_timeout)
        p, event = await ctx.next(max(0.0, due - now))
        for sid, at in list(open_.items()):
            if at <= trio.current_time():
                del open_[sid]
                served += 1
                await peer.respond(sid)
        if isinstance(event, TimeoutEvent) and idle:
            raise CaseFailed("4 more requests to /max-streams/", f"{served} within the wait")
        if p is peer and d.is_request(event, "max-streams"):
            if len(open_) >= 2:
                raise CaseFailed("at most 2 open streams (MAX_CONCURRENT_STREAMS=2, acked)",
                                 f"stream {event.stream_id} opened while "
                                 f"{sorted(open_)} were open")  # fmt: skip
            open_[event.stream_id] = trio.current_time() + 0.15


async def starve(ctx: Ctx, peer: KitPeer, sid: int, window: int, body: str) -> int:
    """Watch stream ``sid`` for QUIET without WINDOW_UPDATE; the DATA bytes it sent."""
    sent = 0
    starve_until = trio.current_time() + QUIET
    while (left := starve_until - trio.current_time()) > 0:
        p, event = await ctx.next(left)
        if p is peer and isinstance(event, FrameEvent) and event.stream_id == sid:
            sent += len(event.payload) if event.kind == "DATA" else 0
            if sent > window:
                raise CaseFailed(f"at most {window} bytes of DATA on stream {sid} (its window)",
                                 f"{sent} bytes")  # fmt: skip
            if event.has("END_STREAM"):
                raise CaseSkipped(f"the body ({sent} bytes) fit the window; send {body}")
    return sent


async def finish_body(d: Dialect, ctx: Ctx, peer: KitPeer, sid: int, sent: int) -> None:
    """After WINDOW_UPDATE: wait for the rest of the body on ``sid``, then answer."""
    while True:
        p, event = await ctx.next()
        if isinstance(event, TimeoutEvent) or (p is peer and hostile(event)):
            raise CaseFailed(f"the rest of the body on stream {sid} after WINDOW_UPDATE",
                             f"{sent} bytes, then {d.describe(ctx, p, event)}")  # fmt: skip
        if p is peer and isinstance(event, FrameEvent) and event.stream_id == sid:
            sent += len(event.payload) if event.kind == "DATA" else 0
            if event.has("END_STREAM"):
                await peer.respond(sid)
                return


async def settings_ack(d: Dialect, ctx: Ctx, settings: dict[int, int]) -> None:
    """Send a second SETTINGS during a call; the client must acknowledge it."""
    peer, first = await ctx.first_request()
    await peer.send_settings(settings)
    await wait_ack(d, ctx, peer)
    await peer.respond(first.stream_id)


# ---------------------------------------------------------------- resets, PING, close


async def data_after_reset(d: Dialect, ctx: Ctx) -> None:
    """Reset the stream, send DATA on it; the connection must stay usable."""
    peer, first = await ctx.first_request()
    sid = first.stream_id
    await peer.respond(sid, b"", end=False)
    await peer.send_rst_stream(sid, ErrorCode.INTERNAL_ERROR)
    await peer.send_frame(d.data, 0, sid, b"late" * 256)
    await peer.send_frame(d.data, d.end_stream, sid, b"late")
    await peer.send_ping(b"reset-ok")
    ponged = False
    second: int | None = None
    while not (ponged and second):
        p, event = await ctx.next()
        if isinstance(event, TimeoutEvent) or (p is peer and hostile(event)):
            wanted = [] if ponged else ["PING(ACK, b'reset-ok')"]
            wanted += [] if second else [f"the next request on {ctx.label(peer)}"]
            raise CaseFailed(" and ".join(wanted), d.describe(ctx, p, event))
        if p is not peer or not isinstance(event, FrameEvent):
            continue
        if event.kind == "PING" and event.has("ACK") and event.payload == b"reset-ok":
            ponged = True
        elif d.is_request(event, "data-after-reset") and event.stream_id != sid:
            second = event.stream_id
    await peer.respond(second)


async def _alive(d: Dialect, ctx: Ctx, peer: KitPeer, data: bytes) -> None:
    """The client answers our PING with the same payload and keeps the connection."""
    await peer.send_ping(data)
    while True:
        p, event = await ctx.next()
        if isinstance(event, TimeoutEvent) or (p is peer and hostile(event)):
            raise CaseFailed(f"PING(ACK, {data!r}) and the connection kept open",
                             d.describe(ctx, p, event))  # fmt: skip
        if (p is peer and isinstance(event, FrameEvent) and event.kind == "PING"
                and event.has("ACK") and event.payload == data):  # fmt: skip
            return


async def ping(d: Dialect, ctx: Ctx) -> None:
    """PING the client, send a stray PING ACK, answer its PINGs 1 s late."""
    peer, first = await ctx.first_request()
    peer.ping_delay = 1.0
    await _alive(d, ctx, peer, b"pingpong")
    await peer.send_ping(b"stray-ok", ack=True)
    until = trio.current_time() + 1.0
    while (left := until - trio.current_time()) > 0:
        p, event = await ctx.next(left)
        if p is peer and hostile(event):
            raise CaseFailed("the connection kept open", d.describe(ctx, p, event))
        if p is peer and isinstance(event, FrameEvent) and event.kind == "PING":
            raise CaseFailed("no answer to an unmatched PING ACK", d.describe(ctx, p, event))
    await peer.respond(first.stream_id)


async def reset_refused(d: Dialect, ctx: Ctx) -> None:
    """Reset the first attempt with REFUSED_STREAM; the client retries it."""
    peer, first = await ctx.first_request()
    path = d.path(first)
    await peer.send_rst_stream(first.stream_id, ErrorCode.REFUSED_STREAM)
    while True:
        p, event = await ctx.next()
        if isinstance(event, TimeoutEvent):
            raise CaseFailed(f"a retry of {path}", "none")
        if p is not None and d.is_request(event, "reset-refused") and d.path(event) == path:
            await p.respond(event.stream_id)
            return


async def reset_codes(d: Dialect, ctx: Ctx, codes: Sequence[ErrorCode]) -> None:
    """Reset one request per code; none may be retried automatically."""
    peer, first = await ctx.first_request()
    wanted = {code_name(c): c for c in codes}
    done: set[str] = set()
    pending: list[tuple[KitPeer | None, WireEvent]] = [(peer, first)]
    quiet = False
    while True:
        p, event = pending.pop() if pending else await ctx.next(QUIET if quiet else None)
        if isinstance(event, TimeoutEvent):
            if quiet:
                return
            raise CaseFailed("one request per code: " + " ".join(wanted),
                             "missing " + " ".join(sorted(set(wanted) - done)))  # fmt: skip
        if p is None or not d.is_request(event, "reset-codes"):
            continue
        name = d.path(event).rstrip("/").rsplit("/", 1)[-1]
        if name in done:
            raise CaseFailed(f"no automatic retry after RST_STREAM({name})",
                             d.describe(ctx, p, event))  # fmt: skip
        done.add(name)
        await p.send_rst_stream(event.stream_id, wanted.get(name, ErrorCode.INTERNAL_ERROR))
        quiet = done >= set(wanted)


async def close_mid_frame(d: Dialect, ctx: Ctx) -> None:
    """Send the response head, half a DATA frame, then close; no automatic retry."""
    peer, first = await ctx.first_request()
    path = d.path(first)
    await peer.respond(first.stream_id, b"", end=False)
    await peer.send_raw(d.encode(d.data, 0, first.stream_id, b"x" * 100)[:40])
    await peer.aclose()
    while True:
        p, event = await ctx.next(QUIET * 2)
        if isinstance(event, TimeoutEvent):
            return
        if p is not peer and d.is_request(event, "close-mid-frame") and d.path(event) == path:
            raise CaseFailed(f"no automatic retry of {path}", d.describe(ctx, p, event))


__all__ = ["QUIET", "Ctx", "Dialect", "KitPeer", "hostile", "scenario_of"]
