"""An upstream cluster: pick an endpoint, take a pooled stream, retry what is safe.

Theory of operation
-------------------
A :class:`Cluster` owns, for each of its endpoints, one SDK
:class:`~mux_client.channel.Channel` (the connection pool of that ``host:port``:
HTTP/2 and mux carry many streams per connection up to the peer's
MAX_CONCURRENT_STREAMS and open another connection only when the streams run
out, with a single-flight connect; HTTP/1.1 keeps up to ``pool.max_connections``
keep-alive connections of one exchange each). All channels of all clusters live
in the one nursery of :func:`open_clusters`, together with the health-check and
DNS tasks, so everything stops when it exits.

:meth:`Cluster.open_call` serves one forwarded request:

1. the circuit breakers admit it or fail fast (``OVERLOADED``,
   :mod:`mux.gateway.breaker`);
2. the balancer (:mod:`mux.gateway.balance`) picks a usable endpoint (healthy
   by the active checks, not ejected by outlier detection), preferring one not
   tried yet for this request;
3. one *attempt*, bounded by the per-try timeout and the overall deadline:
   take a stream slot from the endpoint's channel, open the stream with the
   request headers and, when the request is complete (``end_stream`` or a known
   ``body``), send the body and wait for the response headers;
4. a failed attempt becomes a :class:`~mux.gateway.errors.GatewayError`. It is
   retried on another endpoint when it provably was not processed (connect
   failure, REFUSED_STREAM, above a GOAWAY's last id, a connection that closed
   before the request was written), when the route is idempotent, or when the
   method is idempotent (RFC 9110 §9.2.2: GET, HEAD, OPTIONS, TRACE, PUT,
   DELETE) and the connection closed before any response arrived; always
   within ``max_attempts`` and the deadline. Retries take from the retry
   budget, except those of requests that never reached an upstream (never
   written, connect failures, above a GOAWAY's last id): they add no load;
5. the :class:`UpstreamCall` is handed to the forwarder inside a cancel scope
   bounded by the deadline (its expiry raises ``GatewayError(TIMEOUT)``). On
   exit, a call that did not finish cleanly is reset upstream (HTTP/1.1: its
   connection closes instead of returning to the pool), the slot goes back to
   the pool and the outcome feeds outlier detection: a 5xx status, an SDK
   error escaping the block, or an upstream fault seen on the stream (its
   connection died, it reset the stream) even when the forwarder caught the
   error itself.

Failures after the call was handed out are not retried: they surface from the
:class:`~mux_client.calls.Call` as SDK errors and the forwarder maps them. The
per-try timeout covers a complete request up to its response headers; for a
streamed request body it covers taking the slot and opening the stream only.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType

import attrs
import trio

from mux.core.events import Headers
from mux.driver.connection import ConnectionDriver
from mux.driver.stream import Stream
from mux.errors import ConnectionClosed, ErrorCode, LocalProtocolError, StreamError
from mux.gateway import dns
from mux.gateway.balance import Candidate, Ring, least_request, ring_hash, round_robin
from mux.gateway.breaker import Breakers
from mux.gateway.errors import FailureKind, GatewayError
from mux.gateway.health import Checker, next_wait
from mux.gateway.model import ClusterConfig, LbPolicy
from mux.gateway.outlier import is_failure, may_eject
from mux.gateway.upstream import (
    EndpointState,
    UpstreamCall,
    UpstreamRequest,
    channel_options,
    gateway_error,
)
from mux_client.calls import Call, translate_failure
from mux_client.channel import Channel, ChannelOptions
from mux_client.errors import CallError, CallReset, ConnectionLost
from mux_client.pool import Ticket
from mux_client.retry import Phase

logger = logging.getLogger("mux.gateway.cluster")


class Cluster:
    """A named group of interchangeable upstream endpoints (see the module docs)."""

    def __init__(self, config: ClusterConfig, nursery: trio.Nursery) -> None:
        self.name = config.name
        self.config = config
        self._nursery = nursery
        self._options = channel_options(config)
        self._rng = random.Random()
        self._credits: dict[str, int] = {}
        self.breakers = Breakers(config.breakers, config.retry, cluster=config.name)
        self.endpoints: list[EndpointState] = []
        self._resolved: list[dns.Resolved] = []
        self._ring = Ring((), ())
        self._closed = False
        self.set_endpoints(dns.static_endpoints(config.endpoints))

    # ------------------------------------------------------------ endpoints

    def set_endpoints(self, resolved: list[dns.Resolved]) -> None:
        """Replace the endpoint set (DNS refresh); kept endpoints keep their state."""
        old = {ep.key: ep for ep in self.endpoints}
        new: list[EndpointState] = []
        for endpoint, key in resolved:
            state = old.pop(key, None)
            if state is None:
                options = self._options
                if options.tls is not None and options.server_hostname is None:
                    # A resolved address still presents the name's certificate.
                    options = attrs.evolve(options, server_hostname=endpoint.host)
                channel = Channel(key, self._nursery, options)
                state = EndpointState(endpoint, key, channel, weight=endpoint.weight)
                if self.config.health_check is not None and not self._closed:
                    self._nursery.start_soon(self._health_loop, state, options)
            new.append(state)
        self.endpoints = new
        self._resolved = list(resolved)
        for gone in old.values():
            self._nursery.start_soon(gone.channel.aclose)
        self._ring = Ring.build([(ep.key, ep.weight) for ep in new])

    async def start(self) -> None:
        """Resolve DNS names once and start the refresh task (see :mod:`mux.gateway.dns`)."""
        if not dns.needs_dns(self.config.endpoints):
            return
        with trio.move_on_after(self.config.timeouts.connect):
            self.set_endpoints(await dns.resolve_all(self.config.endpoints, self._resolved))
        self._nursery.start_soon(
            dns.refresh_loop,
            self.config.endpoints,
            self.config.dns_refresh,
            lambda: self._resolved,
            self.set_endpoints,
        )

    async def _health_loop(self, ep: EndpointState, options: ChannelOptions) -> None:
        """Active checks of ``ep`` until it leaves the cluster."""
        config = self.config.health_check
        assert config is not None
        checker = Checker(ep.key, config, options, self._nursery)
        try:
            # The first check soon (staggered), then every interval (jittered).
            await trio.sleep(self._rng.uniform(0, config.interval * max(config.jitter, 0.05)))
            while any(e is ep for e in self.endpoints):
                error = await checker.check()
                if ep.health.record(error is None, config, error):
                    verdict = "healthy" if ep.health.healthy else f"unhealthy ({error})"
                    logger.info("cluster %s: endpoint %s is %s", self.name, ep.key, verdict)
                await trio.sleep(next_wait(config, self._rng))
        finally:
            await checker.aclose()

    def has_healthy_endpoint(self) -> bool:
        """True when at least one endpoint is healthy and not ejected."""
        now = trio.current_time()
        return any(ep.usable(now) for ep in self.endpoints)

    def connection_count(self) -> int:
        """Upstream connections open or opening, over all endpoints."""
        return sum(len(ep.channel.connections) for ep in self.endpoints)

    def pick(self, request: UpstreamRequest, exclude: set[str]) -> EndpointState | None:
        """The endpoint for ``request``, avoiding ``exclude`` while others are usable."""
        now = trio.current_time()
        endpoints = self.endpoints
        if len(endpoints) == 1:  # the common small case: nothing to balance
            only = endpoints[0]
            return only if only.usable(now) else None
        usable = {ep.key for ep in endpoints if ep.usable(now)}
        if exclude and usable - exclude:
            usable -= exclude
        cands = [Candidate(ep.key, ep.weight, ep.active, ep.key in usable) for ep in endpoints]
        lb = self.config.lb
        if lb is LbPolicy.LEAST_REQUEST:
            chosen = least_request(cands, self._rng)
        elif lb is LbPolicy.RING_HASH:
            chosen = ring_hash(cands, self._ring, request.hash_key, self._rng)
        else:
            chosen = round_robin(cands, self._credits)
        if chosen is None:
            return None
        return next(ep for ep in self.endpoints if ep.key == chosen.key)

    # ------------------------------------------------------------------ calls

    def open_call(
        self, request: UpstreamRequest, *, waiter: Stream | None = None
    ) -> AbstractAsyncContextManager[UpstreamCall]:
        """Forward ``request``; see the module docstring. Raises :class:`GatewayError`.

        ``waiter`` (the downstream stream) is told while the pool waits for a
        stream slot or a connection (:meth:`Stream.set_wait`).
        """
        return _OpenCall(self, request, waiter)

    async def _start(
        self, request: UpstreamRequest, deadline: float, waiter: Stream | None = None
    ) -> tuple[EndpointState, Ticket, Call, Stream, int]:
        tried: set[str] = set()
        attempts = 0
        retry = self.config.retry
        per_try = self.config.timeouts.per_try
        error: GatewayError | None = None
        budgeted = False  # this attempt is a retry that took from the budget
        while True:
            if trio.current_time() >= deadline:
                raise error or GatewayError(
                    FailureKind.TIMEOUT, f"{request.what}: deadline exceeded"
                )
            ep = self.pick(request, tried)
            if ep is None:
                raise error or GatewayError(
                    FailureKind.NO_HEALTHY_UPSTREAM,
                    f"cluster {self.name!r} has no healthy endpoint",
                    processed=False,
                )
            attempts += 1
            tried.add(ep.key)
            ep.active += 1
            ep.requests += 1
            retrying = budgeted
            if retrying:
                self.breakers.retrying += 1
            phase = [Phase.QUEUED]
            try_deadline = (
                deadline if per_try is None else min(deadline, trio.current_time() + per_try)
            )
            try:
                if try_deadline == math.inf:  # no scope to pay for
                    ticket, call, stream = await self._attempt(ep, request, phase, waiter)
                    return ep, ticket, call, stream, attempts
                with trio.CancelScope(deadline=try_deadline) as scope:
                    ticket, call, stream = await self._attempt(ep, request, phase, waiter)
                if not scope.cancelled_caught:
                    return ep, ticket, call, stream, attempts
                error = GatewayError(
                    FailureKind.TIMEOUT,
                    f"{request.what}: no response within the "
                    f"{'per-try timeout' if try_deadline < deadline else 'deadline'}",
                    processed=phase[0] is not Phase.QUEUED,
                    endpoint=ep.key,
                )
            except CallError as exc:
                error = gateway_error(exc, ep.key, request)
            except GatewayError as exc:  # a breaker, or a request that cannot be sent
                ep.active -= 1
                raise exc
            except BaseException:
                ep.active -= 1
                raise
            finally:
                if retrying:
                    self.breakers.retrying -= 1
            ep.active -= 1
            if error.kind is not FailureKind.OVERLOADED:
                self._record(ep, False)
            budgeted = not _never_reached(error)
            if not (
                attempts < retry.max_attempts
                and _may_retry(error, request)
                and trio.current_time() < deadline
                and (not budgeted or self.breakers.retry_allowed())
            ):
                raise error

    async def _attempt(
        self,
        ep: EndpointState,
        request: UpstreamRequest,
        phase: list[Phase],
        waiter: Stream | None = None,
    ) -> tuple[Ticket, Call, Stream]:
        """One try on ``ep``; ``phase[0]`` says how far it got (for a timeout)."""
        channel = ep.channel
        waits = not channel.has_capacity()
        if waits and channel.would_open():
            self.breakers.check_connections(self.connection_count())
        if waits:
            self.breakers.enter_pending()
        try:
            ticket, driver = await channel.acquire(waiter)
        finally:
            if waits:
                self.breakers.leave_pending()
        try:
            call, stream = await self._send(ep, driver, request, phase)
            return ticket, call, stream
        except CallError as exc:
            if isinstance(exc, CallReset) and exc.code == ErrorCode.REFUSED_STREAM:
                channel.retire(driver)  # the retry goes to a fresh connection
            channel.release(ticket)
            raise
        except BaseException:
            channel.release(ticket)
            raise

    async def _send(
        self,
        ep: EndpointState,
        driver: ConnectionDriver,
        request: UpstreamRequest,
        phase: list[Phase],
    ) -> tuple[Call, Stream]:
        payload = request.body or b""
        try:
            head: Headers = [
                (b":method", request.method.encode("ascii")),
                (b":scheme", request.scheme.encode("ascii")),
                (b":authority", (request.authority or ep.key).encode("ascii")),
                (b":path", request.path.encode("ascii")),
                *request.headers,
            ]
            stream = await driver.open_stream(head, end_stream=request.complete and not payload)
        except (LocalProtocolError, UnicodeEncodeError) as exc:
            raise GatewayError(
                FailureKind.BAD_REQUEST,
                f"{request.what}: cannot be sent upstream: {exc}",
                processed=False,
                endpoint=ep.key,
            ) from exc
        except Exception as exc:
            error = translate_failure(exc, phase=Phase.QUEUED, stream_id=None, what=request.what)
            if error is None:
                raise
            raise error from exc
        phase[0] = Phase.SENT
        call = Call(stream, what=request.what, request_ended=request.complete)
        try:
            if payload:
                await call.send(payload, end=True)
            if request.complete:
                await call.response()
        except BaseException:
            call.abort()
            raise
        return call, stream

    def _record(self, ep: EndpointState, ok: bool) -> None:
        """Feed one outcome to outlier detection."""
        now = trio.current_time()
        allowed = False  # a success ejects nothing: no need to count the ejected
        if not ok:
            ep.failures += 1
            ejected = sum(1 for e in self.endpoints if e.outlier.is_ejected(now))
            allowed = may_eject(ejected, len(self.endpoints), self.config.outlier)
        ep.outlier.record(ok, now, self.config.outlier, may_eject=allowed)

    # ------------------------------------------------------------------ admin

    def snapshot(self) -> dict[str, object]:
        """JSON-able state for the admin API."""
        now = trio.current_time()
        return {
            "name": self.name,
            "protocol": self.config.protocol.value,
            "lb": self.config.lb.value,
            "breakers": self.breakers.snapshot(),
            "endpoints": [
                {
                    "address": ep.key,
                    "configured": str(ep.endpoint),
                    "weight": ep.weight,
                    "healthy": ep.healthy,
                    "health_error": ep.health.last_error,
                    "ejected": ep.outlier.is_ejected(now),
                    "ejections": ep.outlier.ejections,
                    "active": ep.active,
                    "requests": ep.requests,
                    "failures": ep.failures,
                    "connections": len(ep.channel.connections),
                }
                for ep in self.endpoints
            ],
        }

    async def aclose(self) -> None:
        """Close every pooled connection (GOAWAY on HTTP/2 and mux)."""
        self._closed = True
        for ep in self.endpoints:
            await ep.channel.aclose()


class _OpenCall:
    """:meth:`Cluster.open_call`'s context: pick, send, then release and record.

    A plain class rather than an ``@asynccontextmanager`` generator: no async
    generator, hook or generator frame per forwarded request. ``__aenter__``
    starts the call (with retries) and, under a deadline, enters a cancel scope
    that ``__aexit__`` leaves: the body runs within the deadline; a body cut
    short by it is a TIMEOUT. ``__aexit__`` always aborts what is left of the
    call, releases its stream slot and records the outcome.
    """

    __slots__ = (
        "_call",
        "_cluster",
        "_ep",
        "_request",
        "_scope",
        "_stream",
        "_ticket",
        "_waiter",
    )

    def __init__(
        self, cluster: Cluster, request: UpstreamRequest, waiter: Stream | None = None
    ) -> None:
        self._cluster = cluster
        self._request = request
        self._waiter = waiter
        self._scope: trio.CancelScope | None = None

    async def __aenter__(self) -> UpstreamCall:
        cluster, request = self._cluster, self._request
        cluster.breakers.enter_request()
        try:
            deadline = request.deadline
            overall = cluster.config.timeouts.overall
            if overall is not None:
                deadline = min(deadline, trio.current_time() + overall)
            ep, ticket, call, stream, attempts = await cluster._start(
                request, deadline, self._waiter
            )
        except BaseException:
            cluster.breakers.leave_request()
            raise
        self._ep, self._ticket, self._call, self._stream = ep, ticket, call, stream
        if deadline != math.inf:  # no scope to pay for without a deadline
            self._scope = trio.CancelScope(deadline=deadline)
            self._scope.__enter__()
        return UpstreamCall(call, ep.key, attempts)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        cluster, ep, call, scope = self._cluster, self._ep, self._call, self._scope
        try:
            failed = isinstance(exc, CallError)
            try:
                if scope is not None:
                    scope.__exit__(exc_type, exc, tb)  # swallows its own Cancelled
            finally:
                failed = failed or _upstream_fault(self._stream)
                call.abort()
                ep.channel.release(self._ticket)
                ep.active -= 1
                if failed or call.status:
                    cluster._record(ep, not is_failure(call.status, failed))
            if scope is not None and scope.cancelled_caught:
                raise GatewayError(
                    FailureKind.TIMEOUT,
                    f"{self._request.what}: deadline exceeded",
                    endpoint=ep.key,
                )
            return False
        finally:
            cluster.breakers.leave_request()


#: Methods whose requests may be retried after the connection closed before
#: any response arrived (RFC 9110 §9.2.2), whatever the route says.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})


def _may_retry(error: GatewayError, request: UpstreamRequest) -> bool:
    """Safe to send again: not processed, an idempotent route, or an idempotent
    method whose connection closed before any response (all failures here are)."""
    if not error.processed or request.idempotent:
        return True
    lost = isinstance(error.__cause__, ConnectionLost)
    return lost and request.method.upper() in IDEMPOTENT_METHODS


def _upstream_fault(stream: Stream) -> bool:
    """The upstream broke the exchange: its connection died, or it reset the
    stream with an error (our own resets, and NO_ERROR after an early answer,
    are not its fault). For outlier detection, whatever the forwarder caught."""
    error = stream.error
    if isinstance(error, ConnectionClosed):
        return True
    return isinstance(error, StreamError) and error.remote and error.code != ErrorCode.NO_ERROR


def _never_reached(error: GatewayError) -> bool:
    """The request never reached an upstream's application (never written, a
    connection that failed or closed first, above a GOAWAY's last id): its retry
    adds no load, so it takes nothing from the retry budget. A REFUSED_STREAM
    is the server shedding load: that retry is budgeted."""
    cause = error.__cause__
    refused = isinstance(cause, CallReset) and cause.code == ErrorCode.REFUSED_STREAM
    return not error.processed and not refused


@asynccontextmanager
async def open_clusters(configs: Mapping[str, ClusterConfig]) -> AsyncIterator[dict[str, Cluster]]:
    """Start every cluster (pools, health checks, DNS refresh) in one nursery; stop on exit."""
    try:
        async with trio.open_nursery() as nursery:
            clusters = {name: Cluster(config, nursery) for name, config in configs.items()}
            try:
                for cluster in clusters.values():
                    await cluster.start()
                yield clusters
            finally:
                with trio.CancelScope(shield=True):
                    for cluster in clusters.values():
                        await cluster.aclose()
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # The nursery is an implementation detail: let the caller's own
        # exception (or Cancelled) out unwrapped when it is the only one.
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from group.exceptions[0].__cause__
        raise


__all__ = ["Cluster", "EndpointState", "UpstreamCall", "UpstreamRequest", "open_clusters"]
