"""Client mode: a scripted, misbehaving server that judges a mux or HTTP/2 CLIENT.

Theory of operation
-------------------
``mux conformance serve`` listens on one port and runs every selected
:class:`Scenario` at once. The client under test picks a scenario by the
first segment of the request path: a connection whose first request is
``/goaway/...`` belongs to the ``goaway`` scenario, and so do the later
connections that start with that prefix (retries). Each scenario therefore
needs its own client (or at least its own connections); its ``workload``
says which requests to send.

The listener (:func:`serve`) does the handshake of every accepted connection
on the raw wire (:class:`~mux.conformance.serverwire.ClientPeer` for mux,
:class:`~mux.conformance.serverwire_h2.H2ClientPeer` for HTTP/2), reads up
to the first HEADERS, and hands the connection to the scenario named by the
path. A scenario's :class:`ScenarioContext` starts one reader task per
connection it owns and merges their events into one stream, so a script is
one loop over :meth:`ScenarioContext.next` that misbehaves on purpose and
raises :class:`~mux.conformance.case.CaseFailed` with *expected* versus
*actual* when the client breaks a rule. Results are the same
:class:`~mux.conformance.case.CaseResult` records server mode reports, so the
text, JSON and JUnit reports are shared.

Bounds: a scenario waits at most ``wait_timeout`` for its first connection
(no connection is an ``error``), then at most ``reply_timeout`` for each
thing it expects, and ``wait_timeout + 10 * reply_timeout`` in total. Only
"the client must NOT do X" checks use a short fixed window (``QUIET`` in the
scenario modules), so a busy machine slows a run down but does not turn a
slow client into a failing one.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeGuard, TypeVar
from typing import Protocol as TypingProtocol

import attrs
import trio

from mux.conformance.case import CaseFailed, CaseResult, CaseSkipped, Protocol, TestCase
from mux.conformance.serverwire import ClientPeer, request_path
from mux.conformance.wire import ClosedEvent, FrameEvent, TimeoutEvent, WireEvent

ScenarioRun = Callable[["ScenarioContext[Any]"], Awaitable[None]]


class ScriptedPeer(TypingProtocol):
    """What the listener needs of a server-side raw peer (mux or HTTP/2)."""

    closed: bool

    async def handshake(self) -> WireEvent | None: ...
    async def next_frame(self, wait: float | None = None) -> WireEvent: ...
    def push_back(self, event: WireEvent) -> None: ...
    def path_of(self, event: FrameEvent) -> str: ...
    async def respond(
        self, stream_id: int, body: bytes = b"ok", *, status: int = 200, end: bool = True
    ) -> None: ...
    async def aclose(self) -> None: ...


P = TypeVar("P", bound=ScriptedPeer)
PeerFactory = Callable[[trio.abc.Stream, float], ScriptedPeer]


class NoClient(Exception):
    """No client connection arrived for the scenario in time."""


async def _not_a_server_case(_: object) -> None:
    raise CaseSkipped("client-mode scenarios run under `mux conformance serve`")


@attrs.frozen
class Scenario:
    """One client requirement, played out by a scripted server.

    Attributes:
        name: path prefix that selects the scenario (``/goaway/...``).
        id: stable id, ``client-<protocol>/<section>/<n>``.
        workload: what the client under test must send.
        run: the script.
    """

    name: str
    id: str
    protocol: Protocol
    section: str
    source: str
    title: str
    description: str
    requirement: str
    workload: str
    run: ScenarioRun = attrs.field(eq=False, repr=False)
    #: True for SHOULD/MAY-level behaviour, only judged with ``--strict``.
    strict: bool = False

    def as_case(self) -> TestCase:
        """The same metadata as a :class:`TestCase`, for the shared reports."""
        return TestCase(
            id=self.id,
            protocol=self.protocol,
            section=self.section,
            source=self.source,
            title=self.title,
            description=self.description,
            requirement=self.requirement,
            run=_not_a_server_case,
            strict=self.strict,
        )


@attrs.define(eq=False)
class ScenarioContext(Generic[P]):
    """What a running scenario gets: its connections, merged into one event stream."""

    scenario: Scenario
    reply_timeout: float
    wait_timeout: float
    incoming: trio.MemoryReceiveChannel[P]
    nursery: trio.Nursery
    peers: list[P] = attrs.Factory(list)
    _send: trio.MemorySendChannel[tuple[P, WireEvent]] | None = None
    _receive: trio.MemoryReceiveChannel[tuple[P, WireEvent]] | None = None

    def __attrs_post_init__(self) -> None:
        self._send, self._receive = trio.open_memory_channel[tuple[P, WireEvent]](256)
        self.nursery.start_soon(self._accept_loop)

    async def _accept_loop(self) -> None:
        async for peer in self.incoming:
            self.peers.append(peer)
            self.nursery.start_soon(self._read, peer)

    async def _read(self, peer: P) -> None:
        assert self._send is not None
        while True:
            event = await peer.next_frame(3600)
            await self._send.send((peer, event))
            if isinstance(event, ClosedEvent) or peer.closed:
                return

    async def next(self, wait: float | None = None) -> tuple[P | None, WireEvent]:
        """The next event from any of the scenario's connections (TimeoutEvent if none)."""
        assert self._receive is not None
        wait = self.reply_timeout if wait is None else wait
        with trio.move_on_after(wait):
            return await self._receive.receive()
        return None, TimeoutEvent(wait)

    async def first_request(self) -> tuple[P, FrameEvent]:
        """Wait (up to ``wait_timeout``) for the scenario's first request."""
        peer, event = await self.next(self.wait_timeout)
        if peer is None:
            raise NoClient(f"no connection opened /{self.scenario.name}/... within "
                           f"{self.wait_timeout:g} s")  # fmt: skip
        while not (isinstance(event, FrameEvent) and event.kind == "HEADERS"):
            peer, event = await self.next()
            if peer is None:
                raise CaseFailed("the first request", "no HEADERS")
        return peer, event

    def label(self, peer: P | None) -> str:
        """``connection 2`` for reports."""
        return f"connection {self.peers.index(peer) + 1}" if peer in self.peers else "?"

    async def drain(self) -> None:
        """Let the client read our last frames: wait (briefly) until it closes its connections.

        Closing a socket with unread input resets it, which could destroy a
        response still in flight to the client.
        """
        with trio.move_on_after(self.reply_timeout):
            while any(not peer.closed for peer in self.peers):
                await self.next()

    async def aclose(self) -> None:
        """Close every connection the scenario owns."""
        for peer in self.peers:
            await peer.aclose()


def is_request(event: WireEvent, scenario: str) -> TypeGuard[FrameEvent]:
    """True for a HEADERS whose path belongs to ``scenario``."""
    return (
        isinstance(event, FrameEvent)
        and event.kind == "HEADERS"
        and scenario_of(request_path(event)) == scenario
    )


def scenario_of(path: str) -> str:
    """The scenario a request path selects: its first segment."""
    return path.lstrip("/").split("/", 1)[0].split("?", 1)[0]


# ---------------------------------------------------------------- the listener


@attrs.define(eq=False)
class _Dispatch:
    channels: dict[str, trio.MemorySendChannel[ScriptedPeer]]
    reply_timeout: float
    wait_timeout: float
    make_peer: PeerFactory

    async def handle(self, stream: trio.abc.Stream) -> None:
        peer = self.make_peer(stream, self.reply_timeout)
        try:
            if await peer.handshake() is not None:
                return
            first = await self._first_headers(peer)
            if first is None:
                return
            name = scenario_of(peer.path_of(first))
            channel = self.channels.get(name)
            if channel is None:
                await self._unknown(peer, first, name)
                return
            peer.push_back(first)
            try:
                channel.send_nowait(peer)
            except (trio.ClosedResourceError, trio.BrokenResourceError, trio.WouldBlock):
                return
            await trio.sleep_forever()  # the scenario owns it now; cancelled at the end
        finally:
            with trio.CancelScope(shield=True):
                await peer.aclose()

    async def _first_headers(self, peer: ScriptedPeer) -> FrameEvent | None:
        while True:
            event = await peer.next_frame(self.wait_timeout)
            if isinstance(event, FrameEvent) and event.kind == "HEADERS":
                return event
            if not isinstance(event, FrameEvent):
                return None

    async def _unknown(self, peer: ScriptedPeer, first: FrameEvent, name: str) -> None:
        known = ", ".join(f"/{n}/" for n in self.channels)
        body = f"no scenario {name!r}; paths: {known}\n".encode()
        await peer.respond(first.stream_id, body, status=404)
        await trio.sleep(0.2)


async def _run_one(
    scenario: Scenario,
    incoming: trio.MemoryReceiveChannel[ScriptedPeer],
    *,
    reply_timeout: float,
    wait_timeout: float,
) -> CaseResult:
    start = time.monotonic()
    status, expected, actual = "passed", "", ""
    async with trio.open_nursery() as nursery:
        ctx = ScenarioContext[ScriptedPeer](
            scenario, reply_timeout, wait_timeout, incoming, nursery
        )
        try:
            with trio.fail_after(wait_timeout + 10 * reply_timeout):
                await scenario.run(ctx)
                await ctx.drain()
        except CaseFailed as exc:
            status, expected, actual = "failed", exc.expected, exc.actual
        except CaseSkipped as exc:
            status, actual = "skipped", str(exc)
        except NoClient as exc:
            status, expected, actual = "error", f"a client for {scenario.workload}", str(exc)
        except trio.TooSlowError:
            status, expected, actual = "failed", "the scenario to finish", "it timed out"
        finally:
            nursery.cancel_scope.cancel()
            with trio.CancelScope(shield=True):
                await ctx.aclose()
            incoming.close()
    duration = time.monotonic() - start
    return CaseResult(scenario.as_case(), status, expected, actual, duration)  # type: ignore[arg-type]


def _peer_factory(scenarios: Sequence[Scenario]) -> PeerFactory:
    protocols = {s.protocol for s in scenarios}
    if len(protocols) > 1:
        raise ValueError(f"scenarios of one protocol per listener, got {sorted(protocols)}")
    if protocols == {"h2"}:
        from mux.conformance.serverwire_h2 import H2ClientPeer

        return H2ClientPeer
    return ClientPeer


async def serve(
    scenarios: Sequence[Scenario],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    reply_timeout: float = 2.0,
    wait_timeout: float = 60.0,
    on_result: Callable[[CaseResult], None] | None = None,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> list[CaseResult]:
    """Listen on ``host:port``, run ``scenarios`` against whatever client comes.

    ``task_status.started`` reports the bound port (useful with ``port=0``).
    Returns one result per scenario, in the order given.
    """
    listeners = await trio.open_tcp_listeners(port, host=host)
    bound: int = listeners[0].socket.getsockname()[1]
    pairs = {s.name: trio.open_memory_channel[ScriptedPeer](16) for s in scenarios}
    dispatch = _Dispatch(
        {n: p[0] for n, p in pairs.items()}, reply_timeout, wait_timeout, _peer_factory(scenarios)
    )
    results: dict[str, CaseResult] = {}

    async def run(scenario: Scenario) -> None:
        result = await _run_one(
            scenario,
            pairs[scenario.name][1],
            reply_timeout=reply_timeout,
            wait_timeout=wait_timeout,
        )
        pairs[scenario.name][0].close()
        results[scenario.name] = result
        if on_result is not None:
            on_result(result)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, dispatch.handle, listeners)
        task_status.started(bound)
        async with trio.open_nursery() as runs:
            for scenario in scenarios:
                runs.start_soon(run, scenario)
        nursery.cancel_scope.cancel()
    return [results[s.name] for s in scenarios]
