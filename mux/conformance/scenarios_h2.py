"""Client-mode scenarios for HTTP/2 clients (RFC 9113).

The HTTP/2 twins of :mod:`mux.conformance.scenarios_mux`: each scenario is
selected by its path prefix, its ``workload`` tells the person (or test)
driving the client what to send, and it judges one requirement of RFC 9113.
Rules the RFC states as SHOULD or MAY (retrying what the server did not
process) are ``strict`` scenarios, only run with ``--strict``. See
:mod:`mux.conformance.clientmode` for how scenarios are served and judged.
"""

from __future__ import annotations

from collections.abc import Callable

import trio

from mux.conformance.case import CaseFailed, CaseSkipped
from mux.conformance.clientmode import Scenario, ScenarioContext, ScenarioRun, scenario_of
from mux.conformance.h2wire import MAX_CONCURRENT_STREAMS
from mux.conformance.serverwire_h2 import H2_INITIAL_SETTINGS, H2ClientPeer
from mux.conformance.wire import ClosedEvent, FrameEvent, GarbageEvent, TimeoutEvent, WireEvent
from mux.errors import ErrorCode

SOURCE = "RFC 9113"
#: How long "the client must not do X" checks watch (the only short window).
QUIET = 0.4
#: HTTP/2 error codes (RFC 9113 §7) the reset-codes scenario uses: all but REFUSED_STREAM.
H2_RESET_CODES = tuple(c for c in ErrorCode if c < 0x100 and c is not ErrorCode.REFUSED_STREAM)
#: The stream window every client-mode connection advertises.
WINDOW = H2_INITIAL_SETTINGS[0x4]
#: Body size of the flow-control scenario's second request.
FLOW_BODY = 65536

Ctx = ScenarioContext[H2ClientPeer]
Peer = H2ClientPeer | None

SCENARIOS: list[Scenario] = []
_numbers: dict[str, int] = {}


def scenario(
    name: str, section: str, title: str, description: str, requirement: str, workload: str,
    *, strict: bool = False,
) -> Callable[[ScenarioRun], ScenarioRun]:  # fmt: skip
    """Decorator: register the next HTTP/2 client scenario."""

    def register(run: ScenarioRun) -> ScenarioRun:
        _numbers[section] = _numbers.get(section, 0) + 1
        SCENARIOS.append(
            Scenario(
                name,
                f"client-h2/{section}/{_numbers[section]}",
                "h2",
                section,
                SOURCE,
                title,
                description,
                requirement,
                workload,
                run,
                strict=strict,
            )
        )
        return run

    return register


def is_request(event: WireEvent, name: str) -> bool:
    """True for a request HEADERS whose path selects scenario ``name``."""
    return (
        isinstance(event, FrameEvent)
        and event.kind == "HEADERS"
        and bool(event.detail)
        and scenario_of(event.detail) == name
    )


def _hostile(event: WireEvent) -> bool:
    """The client gave up on the connection (GOAWAY, close, garbage)."""
    if isinstance(event, FrameEvent):
        return event.kind == "GOAWAY"
    return isinstance(event, ClosedEvent | GarbageEvent)


def _describe(ctx: Ctx, peer: Peer, event: WireEvent) -> str:
    text = event.describe()
    return f"{text} on {ctx.label(peer)}" if peer is not None else text


async def _wait_ack(ctx: Ctx, peer: H2ClientPeer) -> None:
    while peer.acks_received < peer.settings_sent:
        p, event = await ctx.next()
        if isinstance(event, TimeoutEvent) or (p is peer and _hostile(event)):
            raise CaseFailed(f"SETTINGS(ACK) for our SETTINGS #{peer.settings_sent}",
                             _describe(ctx, p, event))  # fmt: skip


async def _open_requests(ctx: Ctx, name: str, count: int) -> tuple[H2ClientPeer, dict[int, str]]:
    peer, first = await ctx.first_request()
    streams = {first.stream_id: first.detail}
    while len(streams) < count:
        p, event = await ctx.next()
        if isinstance(event, TimeoutEvent):
            raise CaseFailed(f"{count} concurrent requests on one connection", f"{len(streams)}")
        if p is peer and is_request(event, name):
            assert isinstance(event, FrameEvent)
            streams[event.stream_id] = event.detail
    return peer, streams


# ---------------------------------------------------------------- GOAWAY


async def _goaway(ctx: Ctx, name: str, *, need_retries: bool) -> None:
    peer, streams = await _open_requests(ctx, name, 3)
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
        await _after_goaway(ctx, peer, streams, p, event, seen)
    until = trio.current_time() + QUIET
    while (left := until - trio.current_time()) > 0:
        p, event = await ctx.next(left)
        await _after_goaway(ctx, peer, streams, p, event, seen)


async def _after_goaway(
    ctx: Ctx, old: H2ClientPeer, streams: dict[int, str], p: Peer, event: WireEvent,
    seen: set[str],
) -> None:  # fmt: skip
    if p is None or not isinstance(event, FrameEvent) or event.kind != "HEADERS":
        return
    low = min(streams)
    if p is old and event.stream_id not in streams:
        raise CaseFailed(f"no new stream on {ctx.label(old)} after its GOAWAY",
                         _describe(ctx, p, event))  # fmt: skip
    if p is not old and event.detail == streams[low]:
        raise CaseFailed(f"no retry of stream {low} (<= last_stream_id {low}, processed)",
                         _describe(ctx, p, event))  # fmt: skip
    if p is not old:
        seen.add(event.detail)
        await p.respond(event.stream_id)


@scenario(
    "goaway", "6.8", "GOAWAY",
    "GOAWAY(NO_ERROR, last_stream_id = first stream) while three requests are open",
    "After GOAWAY the client MUST NOT open streams on that connection, and MUST NOT treat "
    "the streams above last_stream_id as processed nor retry the processed one.",
    "3 concurrent POST /goaway/<n> (n = 1..3) with a small body, on one connection",
)  # fmt: skip
async def goaway(ctx: Ctx) -> None:
    await _goaway(ctx, "goaway", need_retries=False)


@scenario(
    "goaway-retry", "8.7", "Request Reliability",
    "GOAWAY(NO_ERROR, last_stream_id = first stream) while three requests are open",
    "Requests on streams above GOAWAY's last_stream_id were not processed: the client "
    "retries them on a new connection (SHOULD/MAY, strict).",
    "3 concurrent POST /goaway-retry/<n> (n = 1..3) with a small body, on one connection; "
    "all succeed",
    strict=True,
)  # fmt: skip
async def goaway_retry(ctx: Ctx) -> None:
    await _goaway(ctx, "goaway-retry", need_retries=True)


# ---------------------------------------------------------------- limits


@scenario(
    "max-streams", "5.1.2", "Stream Concurrency",
    "Lowers SETTINGS_MAX_CONCURRENT_STREAMS to 2 after the first request",
    "After acknowledging the lower SETTINGS_MAX_CONCURRENT_STREAMS the client MUST NOT have "
    "more streams open than it allows.",
    "POST /max-streams/0, wait for its answer, then 4 concurrent POST /max-streams/<n>; "
    "all succeed",
)  # fmt: skip
async def max_streams(ctx: Ctx) -> None:
    peer, first = await ctx.first_request()
    await peer.send_settings({MAX_CONCURRENT_STREAMS: 2})
    await _wait_ack(ctx, peer)
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
        if p is peer and is_request(event, "max-streams"):
            assert isinstance(event, FrameEvent)
            if len(open_) >= 2:
                raise CaseFailed("at most 2 open streams (MAX_CONCURRENT_STREAMS=2, acked)",
                                 f"stream {event.stream_id} opened while "
                                 f"{sorted(open_)} were open")  # fmt: skip
            open_[event.stream_id] = trio.current_time() + 0.15


@scenario(
    "flow-control", "6.9.1", "The Flow-Control Window",
    f"Advertises SETTINGS_INITIAL_WINDOW_SIZE={WINDOW}, then no WINDOW_UPDATE for a while",
    "The client MUST NOT send more DATA than the stream window allows, and MUST resume when "
    "WINDOW_UPDATE opens it.",
    f"POST /flow-control/0 with a small body, wait for its answer, then POST /flow-control/1 "
    f"with a {FLOW_BODY}-byte body on the same connection; both succeed",
)  # fmt: skip
async def flow_control(ctx: Ctx) -> None:
    peer, first = await ctx.first_request()
    await _wait_ack(ctx, peer)
    await peer.respond(first.stream_id)
    await peer.send_window_update(0, 1 << 24)  # only the stream window binds
    sid = await _next_request(ctx, peer, "flow-control", first.stream_id)
    sent = 0
    starve_until = trio.current_time() + QUIET
    while (left := starve_until - trio.current_time()) > 0:
        p, event = await ctx.next(left)
        if p is peer and isinstance(event, FrameEvent) and event.stream_id == sid:
            sent += len(event.payload) if event.kind == "DATA" else 0
            if sent > WINDOW:
                raise CaseFailed(f"at most {WINDOW} bytes of DATA on stream {sid} (its window)",
                                 f"{sent} bytes")  # fmt: skip
            if event.has("END_STREAM"):
                raise CaseSkipped(f"the body ({sent} bytes) fit the window; send {FLOW_BODY}")
    await peer.send_window_update(sid, 1 << 20)
    while True:
        p, event = await ctx.next()
        if isinstance(event, TimeoutEvent) or (p is peer and _hostile(event)):
            raise CaseFailed(f"the rest of the body on stream {sid} after WINDOW_UPDATE",
                             f"{sent} bytes, then {_describe(ctx, p, event)}")  # fmt: skip
        if p is peer and isinstance(event, FrameEvent) and event.stream_id == sid:
            sent += len(event.payload) if event.kind == "DATA" else 0
            if event.has("END_STREAM"):
                await peer.respond(sid)
                return


async def _next_request(ctx: Ctx, peer: H2ClientPeer, name: str, after: int) -> int:
    while True:
        p, event = await ctx.next()
        if isinstance(event, TimeoutEvent) or (p is peer and _hostile(event)):
            raise CaseFailed(f"a second request /{name}/... on {ctx.label(peer)}",
                             _describe(ctx, p, event))  # fmt: skip
        if p is peer and is_request(event, name):
            assert isinstance(event, FrameEvent)
            if event.stream_id != after:
                return event.stream_id


@scenario(
    "settings-ack", "6.5.3", "Settings Synchronization",
    "Sends a second SETTINGS frame during a request",
    "Upon receiving SETTINGS without ACK the client MUST apply it and send SETTINGS(ACK).",
    "POST /settings-ack/<n>; succeeds",
)  # fmt: skip
async def settings_ack(ctx: Ctx) -> None:
    peer, first = await ctx.first_request()
    await peer.send_settings({0x5: 32768, 0x6: 65536})
    await _wait_ack(ctx, peer)
    await peer.respond(first.stream_id)


# Importing registers the remaining scenarios (resets, PING, close) in order.
from mux.conformance import scenarios_h2_resets as _resets  # noqa: E402

__all__ = ["FLOW_BODY", "H2_RESET_CODES", "SCENARIOS", "WINDOW", "_resets"]
