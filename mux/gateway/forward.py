"""The forwarding loop: one downstream stream pumped into one upstream call and back.

Theory of operation
-------------------
:class:`Forwarder` is the one handler every gateway listener runs (a
``mux.server.Server`` handler, so it sees a :class:`~mux.server.app.Request`
over mux, HTTP/2 or HTTP/1.1 alike). For each request it:

1. matches the route table (:func:`mux.gateway.routes.match`); no match is
   404 / UNIMPLEMENTED;
2. builds the :class:`UpstreamRequest`: hop-by-hop fields removed (RFC 9110
   §7.6.1: ``connection`` and every field it names, ``keep-alive``,
   ``proxy-connection``, ``transfer-encoding``, ``upgrade``, ``http2-settings``;
   ``te`` kept only as ``te: trailers``), ``via`` added (``2 mux`` from mux or
   HTTP/2 clients, ``1.1 mux`` from HTTP/1.1), ``x-forwarded-for`` and
   ``forwarded`` (RFC 7239) carrying the client address, ``:authority`` passed
   through or rewritten (``host_rewrite``), and the deadline: the client's
   ``mux-timeout``/``grpc-timeout`` (applied by ``handle_stream`` as the
   handler's cancel scope, so it is :func:`trio.current_effective_deadline`)
   bounded by the cluster's ``timeouts.overall``, re-sent upstream as the time
   left (``grpc-timeout`` for gRPC requests, else ``mux-timeout``). A request
   body that already ended (and carries no trailers), or whose
   ``content-length`` is at most 64 KiB, is read first and given as ``body`` so
   the cluster may replay it on another endpoint;
3. opens the call (``cluster.open_call``) and pumps in one nursery: the request
   body and trailers upstream, the response head, body and trailers
   downstream. Each pump holds at most one chunk: a chunk is taken from one side
   (which returns its flow-control credit there) only after the previous one was
   accepted by the other side's window, so flow control is the only buffer and
   a slow reader stalls the upstream through the windows. Meanwhile the
   downstream stream says it waits for the :attr:`~mux.driver.waits.Wait.UPSTREAM`
   (the cluster refines it while the pool waits for a slot or a connect);
4. maps failures through :mod:`mux.gateway.errormap`: before the response
   head, an error status (gRPC: trailers-only status); after it, a reset with
   the mapped code (gRPC: status trailers).

A downstream reset or cancellation cancels the handler; leaving
``open_call``'s context unfinished resets the upstream call (HTTP/1.1: its
connection is closed). The downstream client address comes from
:func:`client_address`: ``Stream.client_address`` where the server provides
it (the PROXY protocol source on listeners that enable it), else the socket peer.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

import trio

from mux.core.events import Headers
from mux.driver.stream import Stream
from mux.driver.waits import Wait
from mux.errors import ConnectionClosed, ErrorCode, StreamError
from mux.gateway import errormap
from mux.gateway.errors import FailureKind, GatewayError
from mux.gateway.model import ClusterConfig, UpstreamProtocol
from mux.gateway.routes import Route, RouteTable, match
from mux.gateway.upstream import UpstreamCall, UpstreamRequest
from mux.server import grpcwire
from mux.server.app import Request
from mux_client.errors import CallError, CallReset, ConnectError, ConnectionLost, DeadlineExceeded
from mux_client.retry import timeout_header_value

logger = logging.getLogger("mux.gateway")

#: A request body up to this size with a known length is read first (replayable).
REPLAY_BODY_LIMIT = 64 * 1024
#: Fields that describe one hop (RFC 9110 §7.6.1) or are regenerated per hop.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"transfer-encoding",
        b"upgrade",
        b"te",
        b"http2-settings",
        b"host",
        b"mux-timeout",
        b"grpc-timeout",
    }
)


class Cluster(Protocol):
    """What the forwarder needs of a cluster (``mux.gateway.cluster.Cluster``)."""

    name: str
    config: ClusterConfig

    def open_call(
        self, request: UpstreamRequest, *, waiter: Stream | None = None
    ) -> AbstractAsyncContextManager[UpstreamCall]: ...

    def has_healthy_endpoint(self) -> bool: ...

    def snapshot(self) -> dict[str, object]: ...


# ------------------------------------------------------------------- headers


_NO_TOKENS: frozenset[bytes] = frozenset()


def _connection_tokens(headers: Sequence[tuple[bytes, bytes]]) -> frozenset[bytes] | set[bytes]:
    names: set[bytes] | None = None
    for name, value in headers:
        if name == b"connection":
            names = names or set()
            names.update(t.strip().lower() for t in value.split(b",") if t.strip())
    return _NO_TOKENS if names is None else names


def strip_hop_by_hop(
    headers: Sequence[tuple[bytes, bytes]],
    *,
    keep_te: bool,
    collect: Mapping[bytes, list[bytes]] | None = None,
) -> Headers:
    """``headers`` without hop-by-hop fields (and those ``connection`` names).

    ``keep_te``: a ``te`` listing ``trailers`` becomes ``te: trailers``.
    ``collect``: fields named there are left out too, their values appended to
    its lists (for :func:`_combine_collected`, in the same pass).
    """
    named = _connection_tokens(headers)
    out: Headers = []
    te_trailers = False
    for name, value in headers:
        if name in HOP_BY_HOP or name in named or name[:1] == b":":
            if name == b"te" and b"trailers" in (t.strip().lower() for t in value.split(b",")):
                te_trailers = True
            continue
        if collect is not None and name in collect:
            collect[name].append(value)
            continue
        out.append((name, value))
    if keep_te and te_trailers:
        out.append((b"te", b"trailers"))
    return out


def _combine_collected(headers: Headers, name: bytes, existing: list[bytes], value: bytes) -> None:
    """Append the field ``name``: its ``existing`` values (taken out in order by
    :func:`strip_hop_by_hop`) then ``value``, comma-joined."""
    headers.append((name, b", ".join([*existing, value]) if existing else value))


def via_value(protocol: str) -> bytes:
    """The ``via`` entry for a hop received over ``protocol`` (mux, h2, http/1.1)."""
    return b"1.1 mux" if protocol == "http/1.1" else b"2 mux"


def forwarded_for(address: str | None) -> bytes:
    """An RFC 7239 ``for=`` value (IPv6 quoted and bracketed; unknown when None)."""
    if address is None:
        return b"unknown"
    if ":" in address:
        return f'"[{address}]"'.encode()
    return address.encode()


def grpc_timeout_value(seconds: float) -> bytes:
    """A ``grpc-timeout`` for ``seconds`` (at most 8 digits: ms, then s, then minutes)."""
    ms = max(1, math.ceil(seconds * 1000))
    if ms < 10**8:
        return b"%dm" % ms
    return b"%dS" % min(math.ceil(seconds), 10**8 - 1)


def upstream_headers(
    request_headers: Sequence[tuple[bytes, bytes]],
    *,
    client: str | None,
    downstream_protocol: str,
    scheme: str,
    authority: str,
    grpc: bool,
    deadline: float,
    now: float,
) -> Headers:
    """The regular headers sent upstream for a request (see the module docstring)."""
    # One pass: hop-by-hop fields out, and the existing via / x-forwarded-for /
    # forwarded values taken out in order, to be appended combined at the end.
    via: list[bytes] = []
    xff: list[bytes] = []
    fwd: list[bytes] = []
    collect = {b"via": via, b"x-forwarded-for": xff, b"forwarded": fwd}
    headers = strip_hop_by_hop(request_headers, keep_te=True, collect=collect)
    _combine_collected(headers, b"via", via, via_value(downstream_protocol))
    _combine_collected(headers, b"x-forwarded-for", xff, (client or "unknown").encode())
    forwarded = b"for=" + forwarded_for(client) + b";proto=" + (scheme or "http").encode()
    if authority:
        forwarded += b';host="' + authority.encode("latin-1").replace(b'"', b"") + b'"'
    _combine_collected(headers, b"forwarded", fwd, forwarded)
    if deadline != math.inf:
        remaining = max(deadline - now, 0.001)
        if grpc:
            headers.append((b"grpc-timeout", grpc_timeout_value(remaining)))
        else:
            headers.append((b"mux-timeout", timeout_header_value(remaining)))
    return headers


def response_headers(headers: Sequence[tuple[bytes, bytes]], upstream: UpstreamProtocol) -> Headers:
    """The upstream's response headers as sent downstream (hop-by-hop out, ``via`` in)."""
    via: list[bytes] = []
    out = strip_hop_by_hop(headers, keep_te=False, collect={b"via": via})
    proto = "http/1.1" if upstream is UpstreamProtocol.HTTP1 else "h2"
    _combine_collected(out, b"via", via, via_value(proto))
    return out


# ------------------------------------------------------------------ the peer


def downstream_protocol(stream: Stream) -> str:
    """``mux``, ``h2`` or ``http/1.1``: what the downstream client speaks."""
    engine = getattr(stream._driver, "_engine", None)
    return str(getattr(engine, "protocol", "h2"))


def client_address(stream: Stream) -> str | None:
    """The downstream client's IP address.

    ``stream.client_address`` when the server provides it (the PROXY protocol
    source on listeners that enable it, else the socket peer); otherwise the
    TCP peer of the connection (TLS unwrapped).
    """
    provided = getattr(stream, "client_address", None)
    if isinstance(provided, tuple) and provided:
        return str(provided[0])
    transport: object = stream._driver.transport
    for _ in range(4):
        sock = getattr(transport, "socket", None)
        if sock is not None:
            try:
                peer = sock.getpeername()
            except OSError:
                return None
            return str(peer[0]) if isinstance(peer, tuple) else None
        transport = getattr(transport, "transport_stream", None)
        if transport is None:
            return None
    return None


# ------------------------------------------------------------------- errors


def kind_of(error: BaseException) -> FailureKind:
    """The failure kind of an upstream SDK error."""
    if isinstance(error, GatewayError):
        return error.kind
    if isinstance(error, DeadlineExceeded):
        return FailureKind.TIMEOUT
    if isinstance(error, ConnectError):
        return FailureKind.CONNECT_FAILED
    return FailureKind.RESET


def _upstream_code(error: BaseException) -> ErrorCode | int | None:
    if isinstance(error, CallReset):
        return error.code
    if isinstance(error, ConnectionLost):
        return None
    return None


async def fail(
    stream: Stream,
    kind: FailureKind,
    message: str,
    *,
    upstream_code: ErrorCode | int | None = None,
) -> None:
    """Tell the downstream client about a failure (see :mod:`mux.gateway.errormap`)."""
    if stream.is_done:
        return
    row = errormap.mapping(kind)
    grpc = grpcwire.is_grpc(stream.headers)
    try:
        if grpc:
            status = row.grpc_status
            if kind is FailureKind.RESET:
                status = errormap.grpc_status_for_reset(upstream_code)
            if not stream.headers_sent:
                await stream.send_headers(grpcwire.trailers_only(status, message), end_stream=True)
            elif not stream.local_ended:
                await stream.send_trailers(grpcwire.status_trailers(status, message))
            return
        if stream.headers_sent:
            stream.reset(errormap.reset_code_for(kind, upstream_code))
            return
        body = f"{message}\n".encode()
        headers = [
            (b":status", str(row.http_status).encode()),
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            (b"x-mux-failure", kind.value.encode()),
        ]
        await stream.send_headers(headers)
        await stream.send_data(body, end_stream=True)
    except (StreamError, ConnectionClosed):
        pass  # the downstream went away meanwhile: nothing left to tell


def _downstream_failure(exc: BaseException) -> bool:
    """True for the downstream stream or connection failing (not an upstream CallError)."""
    return isinstance(exc, StreamError | ConnectionClosed) and not isinstance(exc, CallError)


# --------------------------------------------------------------- forwarding


class Forwarder:
    """The gateway's request handler: route, open the upstream call, pump both ways."""

    def __init__(self, table: RouteTable, clusters: Mapping[str, Cluster]) -> None:
        self.table = table
        self.clusters = clusters
        #: Requests handled / failed (by kind), for the admin listener.
        self.requests = 0
        self.failures: dict[str, int] = {}

    async def __call__(self, request: Request) -> None:
        stream = request.stream
        self.requests += 1
        route = match(self.table, request.method, request.path, request.authority, request.headers)
        if route is None:
            await self._fail(stream, FailureKind.NO_ROUTE, f"no route for {request.path}")
            return
        cluster = self.clusters[route.config.cluster]
        stream.upstream = (route.config.cluster, "", 0)  # for metrics and the access log
        deadline = trio.current_effective_deadline()
        overall = cluster.config.timeouts.overall
        if overall is not None:
            deadline = min(deadline, trio.current_time() + overall)
        try:
            await self._forward_within(request, route, cluster, deadline)
        except GatewayError as exc:
            await self._fail(stream, exc.kind, str(exc))
        except CallError as exc:
            await self._fail(stream, kind_of(exc), str(exc), upstream_code=_upstream_code(exc))

    async def _forward_within(
        self, request: Request, route: Route, cluster: Cluster, deadline: float
    ) -> None:
        """Forward before ``deadline``; a downstream that went away ends it quietly."""
        gone = False
        scope = None
        try:
            if deadline == math.inf:  # the common case: no cancel scope to pay for
                await self._forward(request, route, cluster, deadline)
            else:
                with trio.move_on_at(deadline) as scope:
                    await self._forward(request, route, cluster, deadline)
        except BaseExceptionGroup as group:
            # The downstream stream or connection ended (a Cancelled from the same
            # reset still propagates): the upstream call was reset when open_call exited.
            _, rest = group.split(_downstream_failure)
            if rest is not None:
                raise rest from None
            gone = True
        except (StreamError, ConnectionClosed) as exc:
            if not _downstream_failure(exc):
                raise
            gone = True
        if scope is not None and scope.cancelled_caught and not gone:
            raise GatewayError(FailureKind.TIMEOUT, "upstream timeout")

    async def _fail(
        self,
        stream: Stream,
        kind: FailureKind,
        message: str,
        *,
        upstream_code: ErrorCode | int | None = None,
    ) -> None:
        self.failures[kind.value] = self.failures.get(kind.value, 0) + 1
        logger.info("stream %d: %s: %s", stream.stream_id, kind.value, message)
        await fail(stream, kind, message, upstream_code=upstream_code)

    async def _forward(
        self, request: Request, route: Route, cluster: Cluster, deadline: float
    ) -> None:
        stream = request.stream
        grpc = grpcwire.is_grpc(stream.headers)
        body, end_stream, prefix = await self._replayable_body(request)
        config = cluster.config
        authority = route.config.host_rewrite or request.authority
        headers = upstream_headers(
            request.headers,
            client=client_address(stream),
            downstream_protocol=downstream_protocol(stream),
            scheme=request.scheme,
            authority=request.authority,
            grpc=grpc,
            deadline=deadline,
            now=trio.current_time(),
        )
        hash_key = None
        if config.hash_header is not None:
            wanted = config.hash_header.encode("latin-1")
            hash_key = next((v for n, v in request.headers if n == wanted), None)
        path = request.path + (f"?{request.query}" if request.query else "")
        upstream = UpstreamRequest(
            method=request.method,
            path=path,
            authority=authority or None,
            headers=headers,
            end_stream=end_stream,
            body=body,
            deadline=deadline,
            hash_key=hash_key,
            idempotent=route.config.idempotent,
            scheme="https" if config.tls is not None else "http",
        )
        stream.set_wait(Wait.UPSTREAM)  # until the exchange ends (the admin API shows it)
        async with cluster.open_call(upstream, waiter=stream) as opened:
            stream.upstream = (route.config.cluster, opened.endpoint, opened.attempts)
            if end_stream or body is not None:  # the cluster sent the whole request
                failure = await _pump_response(stream, opened, config.protocol)
            else:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(_pump_request, stream, opened, prefix)
                    failure = await _pump_response(stream, opened, config.protocol)
                    nursery.cancel_scope.cancel()
            if failure is not None:
                raise failure  # through open_call, so the cluster counts it (outlier detection)

    async def _replayable_body(self, request: Request) -> tuple[bytes | None, bool, bytes | None]:
        """``(body, end_stream, prefix)``.

        ``body``: the whole body, when small and known (the cluster may replay
        it). ``prefix``: body bytes already read when trailers turned up after
        them (the pump sends them, then the rest and the trailers).
        """
        stream = request.stream
        if stream.remote_ended and stream.buffered_bytes == 0 and not stream.trailers:
            return None, True, None
        length = request.header("content-length")
        small = length is not None and length.isdigit() and int(length) <= REPLAY_BODY_LIMIT
        ended = (
            stream.remote_ended
            and stream.buffered_bytes <= REPLAY_BODY_LIMIT
            and not stream.trailers
        )
        if not (small or ended):
            return None, False, None
        parts: list[bytes] = []
        size = 0
        async for chunk in stream:
            parts.append(chunk)
            size += len(chunk)
            if size > REPLAY_BODY_LIMIT:
                raise GatewayError(
                    FailureKind.BAD_REQUEST,
                    f"request body longer than its content-length ({length})",
                )
        body = b"".join(parts)
        if stream.trailers:
            return None, False, body
        return (None, True, None) if not body else (body, False, None)


async def _pump_request(stream: Stream, opened: UpstreamCall, prefix: bytes | None) -> None:
    """Downstream request body and trailers → upstream, chunk by chunk."""
    call = opened.call
    try:
        if prefix:
            await call.send(prefix)
        async for chunk in _chunks(stream):
            await call.send(chunk)
        trailers = strip_hop_by_hop(stream.trailers or [], keep_te=False)
        await call.end(trailers or None)
    except CallError as exc:
        # The upstream failed; the response pump sees the same failure and reports it.
        logger.debug("stream %d: upstream send failed: %s", stream.stream_id, exc)


async def _chunks(stream: Stream) -> AsyncIterator[bytes]:
    while chunk := await stream.receive_data():
        yield chunk


async def _pump_response(
    stream: Stream, opened: UpstreamCall, protocol: UpstreamProtocol
) -> CallError | None:
    """Upstream response head, body and trailers → downstream.

    Returns the upstream failure instead of raising it (the caller raises it
    outside the pumps' nursery, unwrapped, for the cluster and the error map).

    Raises:
        GatewayError: PROTOCOL when the upstream's status cannot be forwarded.
    """
    call = opened.call
    try:
        status, headers = await call.response()
    except CallError as exc:
        return exc
    if not 200 <= status <= 599:
        raise GatewayError(
            FailureKind.PROTOCOL,
            f"upstream sent status {status}",
            endpoint=opened.endpoint,
        )
    await stream.send_headers(
        [(b":status", str(status).encode()), *response_headers(headers.raw, protocol)]
    )
    try:
        while chunk := await call.receive():
            await stream.send_data(chunk)
    except CallError as exc:
        return exc
    trailers = strip_hop_by_hop(call.trailers.raw, keep_te=False)
    if trailers:
        await stream.send_trailers(trailers)
    else:
        await stream.end()
    return None
