"""Client-mode scenarios for mux/msgpack clients (spec/mux-protocol.md).

Each scenario is selected by its path prefix; its ``workload`` tells the
person (or test) driving the client what to send. See
:mod:`mux.conformance.clientmode` for how scenarios are served and judged.
"""

from __future__ import annotations

from collections.abc import Callable

import trio

from mux.conformance.case import CaseFailed, CaseSkipped
from mux.conformance.clientmode import Scenario, ScenarioContext, ScenarioRun, is_request
from mux.conformance.serverwire import INITIAL_SETTINGS, ClientPeer, request_path
from mux.conformance.wire import ClosedEvent, FrameEvent, GarbageEvent, TimeoutEvent, WireEvent
from mux.core import frames as f
from mux.errors import ErrorCode, code_name

SPEC = "spec/mux-protocol.md"
#: How long "the client must not do X" checks watch.
QUIET = 0.4
#: Codes the reset-codes scenario uses (every code but REFUSED_STREAM).
RESET_CODES = tuple(c for c in ErrorCode if c is not ErrorCode.REFUSED_STREAM)

SCENARIOS: list[Scenario] = []
_numbers: dict[str, int] = {}


def scenario(
    name: str, section: str, title: str, description: str, requirement: str, workload: str
) -> Callable[[ScenarioRun], ScenarioRun]:
    """Decorator: register the next mux client scenario."""

    def register(run: ScenarioRun) -> ScenarioRun:
        _numbers[section] = _numbers.get(section, 0) + 1
        SCENARIOS.append(
            Scenario(
                name,
                f"client-mux/{section}/{_numbers[section]}",
                "mux",
                section,
                SPEC,
                title,
                description,
                requirement,
                workload,
                run,
            )
        )
        return run

    return register


def _ends(event: WireEvent, stream_id: int) -> bool:
    return (
        isinstance(event, FrameEvent)
        and event.stream_id == stream_id
        and (event.kind in ("DATA", "HEADERS") and event.has("END_STREAM"))
    )


def _hostile(event: WireEvent) -> bool:
    """The client gave up on the connection (GOAWAY, close, garbage)."""
    if isinstance(event, FrameEvent):
        return event.kind == "GOAWAY"
    return isinstance(event, ClosedEvent | GarbageEvent)


def _describe(ctx: ScenarioContext[ClientPeer], peer: ClientPeer | None, event: WireEvent) -> str:
    text = event.describe()
    if isinstance(event, FrameEvent) and event.kind == "HEADERS":
        text = f"HEADERS(stream {event.stream_id}, {request_path(event)})"
    return f"{text} on {ctx.label(peer)}" if peer is not None else text


@scenario(
    "goaway", "9.2", "Retry semantics",
    "GOAWAY(last_stream_id = first stream) while three calls are open",
    "After GOAWAY the client MUST NOT open streams on that connection and MUST retry only "
    "the streams above last_stream_id (on a new connection).",
    "3 concurrent POST /goaway/<n> (n = 1..3) with a small body, on one connection; all succeed",
)  # fmt: skip
async def goaway(ctx: ScenarioContext[ClientPeer]) -> None:
    peer, first = await ctx.first_request()
    streams = {first.stream_id: request_path(first)}
    while len(streams) < 3:
        p, event = await ctx.next()
        if isinstance(event, TimeoutEvent):
            raise CaseFailed("3 concurrent requests on one connection", f"{len(streams)}")
        if p is peer and is_request(event, "goaway"):
            assert isinstance(event, FrameEvent)
            streams[event.stream_id] = request_path(event)
    low = min(streams)
    await peer.send_goaway(low, ErrorCode.NO_ERROR, b"client-mode goaway")
    await peer.respond(low)
    retried = {path for sid, path in streams.items() if sid > low}
    seen: set[str] = set()
    while seen != retried:
        p, event = await ctx.next()
        if isinstance(event, TimeoutEvent):
            missing = ", ".join(sorted(retried - seen))
            raise CaseFailed(f"retries of {missing} on a new connection", "none")
        await _after_goaway(ctx, peer, streams, p, event, seen)
    until = trio.current_time() + QUIET
    while (left := until - trio.current_time()) > 0:
        p, event = await ctx.next(left)
        await _after_goaway(ctx, peer, streams, p, event, seen)


async def _after_goaway(
    ctx: ScenarioContext[ClientPeer],
    old: ClientPeer,
    streams: dict[int, str],
    p: ClientPeer | None,
    event: WireEvent,
    seen: set[str],
) -> None:
    if p is None or not isinstance(event, FrameEvent) or event.kind != "HEADERS":
        return
    low = min(streams)
    if p is old and event.stream_id not in streams:
        raise CaseFailed(f"no new stream on {ctx.label(old)} after its GOAWAY",
                         _describe(ctx, p, event))  # fmt: skip
    path = request_path(event)
    if p is not old and path == streams[low]:
        raise CaseFailed(f"no retry of stream {low} (<= last_stream_id {low})",
                         _describe(ctx, p, event))  # fmt: skip
    if p is not old:
        seen.add(path)
        await p.respond(event.stream_id)


@scenario(
    "max-streams", "7.4", "Concurrency and REFUSED_STREAM",
    "Lowers MAX_CONCURRENT_STREAMS to 2 by SETTINGS after the first request",
    "After acknowledging the new MAX_CONCURRENT_STREAMS the client MUST NOT have more streams "
    "open than it allows (it queues the rest).",
    "POST /max-streams/0, wait for its answer, then 4 concurrent POST /max-streams/<n>; "
    "all succeed",
)  # fmt: skip
async def max_streams(ctx: ScenarioContext[ClientPeer]) -> None:
    peer, first = await ctx.first_request()
    await peer.send_settings({0x1: 2})
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


async def _wait_ack(ctx: ScenarioContext[ClientPeer], peer: ClientPeer) -> None:
    while peer.acks_received < peer.settings_sent:
        p, event = await ctx.next()
        if isinstance(event, TimeoutEvent) or (p is peer and _hostile(event)):
            raise CaseFailed(f"SETTINGS ACK for our SETTINGS #{peer.settings_sent}",
                             _describe(ctx, p, event))  # fmt: skip


@scenario(
    "flow-control", "8.1", "Flow control principles",
    "Advertises a 4096-byte stream window and sends no WINDOW_UPDATE for a while",
    "The client MUST NOT send more DATA than the stream window allows, and MUST resume when "
    "WINDOW_UPDATE opens it.",
    "POST /flow-control/<n> with a 16384-byte body; succeeds",
)  # fmt: skip
async def flow_control(ctx: ScenarioContext[ClientPeer]) -> None:
    peer, first = await ctx.first_request()
    sid = first.stream_id
    window = INITIAL_SETTINGS[0x2] if peer.acks_received else 262144
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
                raise CaseSkipped(f"the body ({sent} bytes) fit the window; send 16384 bytes")
    if window != INITIAL_SETTINGS[0x2]:
        raise CaseSkipped("the request came before the client acknowledged our SETTINGS")
    await peer.send_window_update(sid, 65536)
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


async def _alive(ctx: ScenarioContext[ClientPeer], peer: ClientPeer, data: bytes) -> None:
    """The client answers our PING with the same payload and keeps the connection."""
    await peer.send_ping(data)
    while True:
        p, event = await ctx.next()
        if isinstance(event, TimeoutEvent) or (p is peer and _hostile(event)):
            raise CaseFailed(f"PING(ACK, {data!r}) and the connection kept open",
                             _describe(ctx, p, event))  # fmt: skip
        if (p is peer and isinstance(event, FrameEvent) and event.kind == "PING"
                and event.has("ACK") and event.payload == data):  # fmt: skip
            return


@scenario(
    "data-after-reset", "7.3", "Closed streams",
    "Resets the stream with INTERNAL_ERROR, then sends DATA on it",
    "DATA arriving on a stream the server reset MUST NOT break the connection: the client "
    "ignores it (or resets the stream), answers PING and sends its next request on it.",
    "POST /data-after-reset/1 (fails with a reset, INTERNAL_ERROR), then POST "
    "/data-after-reset/2 with the same client (succeeds)",
)  # fmt: skip
async def data_after_reset(ctx: ScenarioContext[ClientPeer]) -> None:
    peer, first = await ctx.first_request()
    sid = first.stream_id
    await peer.respond(sid, b"", end=False)
    await peer.send_rst_stream(sid, ErrorCode.INTERNAL_ERROR)
    await peer.send_frame(f.FrameType.DATA, 0, sid, b"late" * 256)
    await peer.send_frame(f.FrameType.DATA, f.END_STREAM, sid, b"late")
    await peer.send_ping(b"reset-ok")
    ponged = False
    second: int | None = None
    while not (ponged and second):
        p, event = await ctx.next()
        if isinstance(event, TimeoutEvent) or (p is peer and _hostile(event)):
            wanted = [] if ponged else ["PING(ACK, b'reset-ok')"]
            wanted += [] if second else [f"the next request on {ctx.label(peer)}"]
            raise CaseFailed(" and ".join(wanted), _describe(ctx, p, event))
        if p is not peer or not isinstance(event, FrameEvent):
            continue
        if event.kind == "PING" and event.has("ACK") and event.payload == b"reset-ok":
            ponged = True
        elif is_request(event, "data-after-reset") and event.stream_id != sid:
            second = event.stream_id
    await peer.respond(second)


@scenario(
    "ping", "4.5", "PING",
    "PINGs the client, sends an unmatched PING ACK, answers the client's PINGs 1 s late",
    "The client MUST answer PING with PING(ACK) and the same 8 bytes, MUST NOT answer a PING "
    "ACK, and MUST NOT fail because our answers are late.",
    "POST /ping/<n>; succeeds (the answer takes about 1 s)",
)  # fmt: skip
async def ping(ctx: ScenarioContext[ClientPeer]) -> None:
    peer, first = await ctx.first_request()
    peer.ping_delay = 1.0
    await _alive(ctx, peer, b"pingpong")
    await peer.send_ping(b"stray-ok", ack=True)
    until = trio.current_time() + 1.0
    while (left := until - trio.current_time()) > 0:
        p, event = await ctx.next(left)
        if p is peer and _hostile(event):
            raise CaseFailed("the connection kept open", _describe(ctx, p, event))
        if p is peer and isinstance(event, FrameEvent) and event.kind == "PING":
            raise CaseFailed("no answer to an unmatched PING ACK", _describe(ctx, p, event))
    await peer.respond(first.stream_id)


@scenario(
    "reset-refused", "7.4", "Concurrency and REFUSED_STREAM",
    "Resets the first attempt with REFUSED_STREAM",
    "REFUSED_STREAM means not processed: the client retries the request (transparently).",
    "POST /reset-refused/<n> with a small body; succeeds",
)  # fmt: skip
async def reset_refused(ctx: ScenarioContext[ClientPeer]) -> None:
    peer, first = await ctx.first_request()
    path = request_path(first)
    await peer.send_rst_stream(first.stream_id, ErrorCode.REFUSED_STREAM)
    while True:
        p, event = await ctx.next()
        if isinstance(event, TimeoutEvent):
            raise CaseFailed(f"a retry of {path}", "none")
        if p is not None and is_request(event, "reset-refused") and request_path(event) == path:
            await p.respond(event.stream_id)
            return


@scenario(
    "reset-codes", "9.2", "Retry semantics",
    "Resets one request with each error code except REFUSED_STREAM",
    "A stream reset with any code but REFUSED_STREAM may have been processed: the client "
    "MUST NOT retry it automatically (it surfaces the error).",
    "POST /reset-codes/<CODE> once for each code name: "
    + " ".join(code_name(c) for c in RESET_CODES),
)  # fmt: skip
async def reset_codes(ctx: ScenarioContext[ClientPeer]) -> None:
    peer, first = await ctx.first_request()
    wanted = {code_name(c): c for c in RESET_CODES}
    done: set[str] = set()
    pending: list[tuple[ClientPeer | None, WireEvent]] = [(peer, first)]
    quiet_from: float | None = None
    while True:
        p, event = pending.pop() if pending else await ctx.next(QUIET if quiet_from else None)
        if isinstance(event, TimeoutEvent):
            if quiet_from is not None:
                return
            raise CaseFailed("one request per code: " + " ".join(wanted),
                             "missing " + " ".join(sorted(set(wanted) - done)))  # fmt: skip
        if p is None or not is_request(event, "reset-codes"):
            continue
        assert isinstance(event, FrameEvent)
        name = request_path(event).rstrip("/").rsplit("/", 1)[-1]
        if name in done:
            raise CaseFailed(f"no automatic retry after RST_STREAM({name})",
                             _describe(ctx, p, event))  # fmt: skip
        done.add(name)
        await p.send_rst_stream(event.stream_id, wanted.get(name, ErrorCode.INTERNAL_ERROR))
        if done >= set(wanted):
            quiet_from = trio.current_time()


@scenario(
    "close-mid-frame", "10.1", "Connection errors",
    "Sends the response head, half a DATA frame, then closes the connection",
    "A connection lost after the response started fails the call (processed) and the client "
    "MUST NOT retry it automatically.",
    "POST /close-mid-frame/<n>; the call fails with a connection error",
)  # fmt: skip
async def close_mid_frame(ctx: ScenarioContext[ClientPeer]) -> None:
    peer, first = await ctx.first_request()
    path = request_path(first)
    await peer.respond(first.stream_id, b"", end=False)
    frame = f.encode_frame(f.FrameType.DATA, 0, first.stream_id, b"x" * 100)
    await peer.send_raw(frame[:40])
    await peer.aclose()
    while True:
        p, event = await ctx.next(QUIET * 2)
        if isinstance(event, TimeoutEvent):
            return
        if p is not peer and is_request(event, "close-mid-frame") and request_path(event) == path:
            raise CaseFailed(f"no automatic retry of {path}", _describe(ctx, p, event))


@scenario(
    "settings-ack", "6.2", "Settings synchronization",
    "Sends a second SETTINGS frame during a call",
    "The client MUST acknowledge every SETTINGS frame with SETTINGS(ACK).",
    "POST /settings-ack/<n>; succeeds",
)  # fmt: skip
async def settings_ack(ctx: ScenarioContext[ClientPeer]) -> None:
    peer, first = await ctx.first_request()
    await peer.send_settings({0x5: 65536, 0x6: 0})
    await _wait_ack(ctx, peer)
    await peer.respond(first.stream_id)
