"""A minimal real cluster (fallback): round robin over SDK channels, mux and h2 only.

Theory of operation
-------------------
This module implements the cluster interface the lead agreed on
(``UpstreamRequest``, ``UpstreamCall``, ``Cluster.open_call``,
``open_clusters``; see ``mux/gateway/cluster.py`` once it lands, which
supersedes this file with balancing policies, health checks, outlier
ejection, breakers, HTTP/1.1 pools and retry budgets). It exists so the
gateway forwards end to end over real sockets regardless.

Each endpoint gets one SDK :class:`mux_client.channel.Channel` (the shared
stream layer: single-flight connect, many streams per connection up to the
peer's MAX_CONCURRENT_STREAMS, more connections only when streams run out,
up to ``pool.max_connections``). :meth:`SimpleCluster.open_call` picks
endpoints round robin (weights repeat an endpoint in the rotation), opens a
stream with the request headers, sends a known ``body`` and then waits for the
response head; a failure that provably was not processed (connect failure,
REFUSED_STREAM, above a GOAWAY's last id) is retried on the next endpoint
within ``retry.max_attempts`` (when the request is replayable). Everything
else raises :class:`~mux.gateway.errors.GatewayError`. On exit a call not
finished cleanly is reset upstream (``Call.abort``), and its stream slot is
released.
"""

from __future__ import annotations

import itertools
import math
import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import attrs
import trio

from mux.core.events import Headers
from mux.gateway.errors import FailureKind, GatewayError
from mux.gateway.model import ClusterConfig, UpstreamProtocol
from mux_client.calls import Call, translate_failure
from mux_client.channel import Channel, ChannelOptions
from mux_client.errors import CallError, CallReset, ConnectError, Processed
from mux_client.pool import Ticket
from mux_client.retry import Phase
from mux_client.transport import Protocol, tls_context

#: This fallback cannot forward to HTTP/1.1 upstreams (the SDK has no http1 engine).
SUPPORTS_HTTP1 = False


@attrs.frozen
class UpstreamRequest:
    """What the forwarder asks a cluster to send (see gw_interface.md)."""

    method: str
    path: str
    authority: str | None
    headers: Headers
    end_stream: bool
    body: bytes | None = None
    deadline: float = math.inf
    hash_key: bytes | None = None
    idempotent: bool = False
    scheme: str = "http"


@attrs.define
class UpstreamCall:
    """The call the forwarder drives."""

    call: Call
    endpoint: str
    attempts: int


def _kind_of(error: CallError) -> FailureKind:
    if isinstance(error, ConnectError):
        return FailureKind.CONNECT_FAILED
    return FailureKind.RESET


class SimpleCluster:
    """Round robin over one SDK channel per endpoint (mux and h2 upstreams)."""

    def __init__(self, config: ClusterConfig, nursery: trio.Nursery) -> None:
        if config.protocol is UpstreamProtocol.HTTP1:
            raise ValueError(
                f"cluster {config.name!r}: HTTP/1.1 upstreams need mux.gateway.cluster "
                "(this fallback speaks mux and h2 only)"
            )
        self.name = config.name
        self.config = config
        protocol: Protocol = "h2" if config.protocol is UpstreamProtocol.H2 else "mux"
        context: ssl.SSLContext | None = None
        if config.tls is not None:
            context = ssl.create_default_context(cafile=config.tls.ca_file)
            if not config.tls.verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            context = tls_context(context, protocol)
        self._channels: dict[str, Channel] = {}
        for endpoint in config.endpoints:
            options = ChannelOptions(
                max_connections=config.pool.max_connections,
                connect_timeout=config.timeouts.connect,
                protocol=protocol,
                tls=context,
                server_hostname=config.tls.server_name if config.tls else None,
            )
            self._channels[str(endpoint)] = Channel(str(endpoint), nursery, options)
        rotation = [str(e) for e in config.endpoints for _ in range(e.weight)]
        self._rotation = itertools.cycle(rotation)
        self._requests = 0
        self._active = 0
        self._failures = 0

    def has_healthy_endpoint(self) -> bool:
        """True (this fallback has no health checks: every endpoint counts)."""
        return bool(self._channels)

    def snapshot(self) -> dict[str, object]:
        """JSON-able counters and connections per endpoint."""
        return {
            "name": self.name,
            "protocol": self.config.protocol.value,
            "requests": self._requests,
            "active": self._active,
            "failures": self._failures,
            "endpoints": {
                name: {"connections": len(channel.connections)}
                for name, channel in self._channels.items()
            },
        }

    @asynccontextmanager
    async def open_call(self, request: UpstreamRequest) -> AsyncIterator[UpstreamCall]:
        """Open the upstream call (see the module docstring)."""
        self._requests += 1
        self._active += 1
        try:
            endpoint, channel, ticket, call, attempts = await self._start(request)
            try:
                yield UpstreamCall(call, endpoint, attempts)
            finally:
                call.abort()
                channel.release(ticket)
        finally:
            self._active -= 1

    async def _start(self, request: UpstreamRequest) -> tuple[str, Channel, Ticket, Call, int]:
        attempts = 0
        replayable = request.end_stream or request.body is not None
        most = self.config.retry.max_attempts if replayable else 1
        while True:
            attempts += 1
            endpoint = next(self._rotation)
            channel = self._channels[endpoint]
            try:
                ticket, driver = await channel.acquire()
            except CallError as exc:
                self._failures += 1
                if (
                    attempts < max(most, len(self._channels))
                    and exc.processed is Processed.NOT_PROCESSED
                ):
                    continue
                raise GatewayError(
                    _kind_of(exc), str(exc), processed=False, endpoint=endpoint
                ) from exc
            try:
                call = await self._attempt(request, driver)
            except CallError as exc:
                channel.release(ticket)
                self._failures += 1
                if isinstance(exc, CallReset) and exc.code == 7:
                    channel.retire(driver)
                not_processed = exc.processed is Processed.NOT_PROCESSED
                if not_processed and attempts < most:
                    continue
                raise GatewayError(
                    _kind_of(exc), str(exc), processed=not not_processed, endpoint=endpoint
                ) from exc
            except BaseException:
                channel.release(ticket)
                raise
            return endpoint, channel, ticket, call, attempts

    async def _attempt(self, request: UpstreamRequest, driver: object) -> Call:
        from mux.driver.connection import ConnectionDriver

        assert isinstance(driver, ConnectionDriver)
        head: Headers = [
            (b":method", request.method.encode("latin-1")),
            (b":path", request.path.encode("latin-1")),
            (b":scheme", request.scheme.encode("latin-1")),
        ]
        if request.authority:
            head.append((b":authority", request.authority.encode("latin-1")))
        body = request.body
        what = f"{request.method} {request.path}"
        empty = request.end_stream or body == b""
        try:
            stream = await driver.open_stream(head + list(request.headers), end_stream=empty)
        except Exception as exc:
            error = translate_failure(exc, phase=Phase.QUEUED, stream_id=None, what=what)
            if error is None:
                raise
            raise error from exc
        complete = empty or body is not None
        call = Call(stream, what=what, request_ended=empty)
        try:
            if body:
                await call.send(body, end=True)
            if complete:
                await call.response()
        except BaseException:
            call.abort()
            raise
        return call


@asynccontextmanager
async def open_clusters(
    configs: Mapping[str, ClusterConfig],
) -> AsyncIterator[dict[str, SimpleCluster]]:
    """Start a cluster per config; on exit close every upstream connection."""
    async with trio.open_nursery() as nursery:
        clusters = {name: SimpleCluster(config, nursery) for name, config in configs.items()}
        try:
            yield clusters
        finally:
            with trio.CancelScope(shield=True):
                for cluster in clusters.values():
                    for channel in cluster._channels.values():
                        await channel.aclose()
            nursery.cancel_scope.cancel()
