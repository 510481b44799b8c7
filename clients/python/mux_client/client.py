"""The Trio-native client: unary and streaming calls over pooled connections.

Theory of operation
-------------------
:func:`connect` opens a nursery that owns the connections of one
:class:`~mux_client.channel.Channel` and yields a :class:`Client`. Every call:

1. takes a stream slot from the channel (waiting, or connecting once for
   everybody: single-flight);
2. opens a stream with the request headers (``mux-timeout`` carries the time
   left before the deadline, in ms) and, when the request body is known up
   front, sends it and waits for the response headers. Up to this point a
   failure that is provably ``NOT_PROCESSED`` (REFUSED_STREAM, above a GOAWAY's
   ``last_stream_id``, never sent) is retried on another stream, within
   ``max_attempts`` and the deadline;
3. hands a :class:`~mux_client.calls.Call` to the caller inside a cancel scope
   bounded by the deadline. On the way out, a stream that did not finish cleanly
   is reset with CANCEL (deadline, Trio cancellation or an exception): only that
   stream, never the connection. An expired deadline raises
   :class:`~mux_client.errors.DeadlineExceeded`.
"""

from __future__ import annotations

import math
import ssl
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import attrs
import trio

from mux.core.events import Headers
from mux.driver.connection import ConnectionDriver
from mux.errors import ErrorCode
from mux_client.backoff import BackoffPolicy
from mux_client.calls import Call, Response, translate_failure
from mux_client.channel import Channel, ChannelOptions
from mux_client.errors import CallError, CallReset, DeadlineExceeded
from mux_client.pool import Ticket
from mux_client.retry import (
    DEFAULT_MAX_ATTEMPTS,
    TIMEOUT_HEADER,
    Phase,
    can_retry,
    classify_connection_loss,
    timeout_header_value,
)
from mux_client.transport import Protocol, tls_context

#: What callers may pass as headers: a mapping or (name, value) pairs, str or bytes.
HeadersArg = Mapping[str, str] | Mapping[bytes, bytes] | Iterable[tuple[str | bytes, str | bytes]]


def _b(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def _user_headers(headers: HeadersArg | None) -> Headers:
    if headers is None:
        return []
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    out: Headers = []
    for name, value in pairs:
        key = _b(name).lower()
        if key.startswith(b":") or key == TIMEOUT_HEADER:
            raise ValueError(f"header {key!r} is set by the client; pass timeout= instead")
        out.append((key, _b(value)))
    return out


@attrs.define
class _Request:
    method: bytes
    path: bytes
    authority: bytes
    scheme: bytes
    headers: Headers
    #: The whole body when known up front (replayable), None for a streamed body.
    body: bytes | None
    deadline: float
    #: The call's timeout in seconds (None: no deadline).
    timeout: float | None

    @property
    def what(self) -> str:
        return f"{self.method.decode('ascii', 'replace')} {self.path.decode('ascii', 'replace')}"

    def wire_headers(self) -> Headers:
        head: Headers = [
            (b":method", self.method),
            (b":path", self.path),
            (b":scheme", self.scheme),
            (b":authority", self.authority),
        ]
        if self.deadline != math.inf:
            remaining = self.deadline - trio.current_time()
            head.append((TIMEOUT_HEADER, timeout_header_value(remaining)))
        return head + self.headers


class Client:
    """A mux client bound to one target; create it with :func:`connect`.

    Args:
        channel: the connection pool.
        max_attempts: attempts per call for transparent retries (first included).
        default_timeout: deadline of calls that pass no ``timeout`` (None: none).
    """

    def __init__(
        self, channel: Channel, *, max_attempts: int, default_timeout: float | None
    ) -> None:
        self._channel = channel
        self._max_attempts = max_attempts
        self._default_timeout = default_timeout
        self._authority = _b(channel.target)

    @property
    def target(self) -> str:
        """The ``host:port`` this client talks to."""
        return self._channel.target

    @property
    def channel(self) -> Channel:
        """The connection pool (for introspection)."""
        return self._channel

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        headers: HeadersArg | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (per-call deadlines are the product)
    ) -> Response:
        """Unary call: send ``body``, return the whole response.

        A non-2xx status is returned, not raised (see ``Response.raise_for_status``).

        Raises:
            DeadlineExceeded: ``timeout`` seconds passed (the stream was reset).
            CallError: the call failed; ``processed`` says if the server may have acted.
        """
        request = self._request(method, path, body, headers, timeout)
        started: list[Call] = []
        deadline = request.deadline
        if deadline == math.inf:
            return await self._unary(request, started)
        with trio.CancelScope(deadline=deadline):
            return await self._unary(request, started)
        raise _deadline_error(request, started)

    async def _unary(self, request: _Request, started: list[Call]) -> Response:
        """The unary call without the context-manager machinery (the hot path)."""
        ticket, call = await self._start(request, started)
        try:
            data = await call.read()
        finally:
            call.abort()
            self._channel.release(ticket)
        return call.to_response(data)

    def stream(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        headers: HeadersArg | None = None,
        timeout: float | None = None,
    ) -> AbstractAsyncContextManager[Call]:
        """Server streaming: send ``body`` whole, then stream the response.

        ``async with client.stream("GET", "/stream/10") as call:`` returns once
        the response headers arrived (``call.status``, ``call.headers``);
        ``async for chunk in call`` reads the body; ``call.trailers`` follow.
        The deadline covers the whole block.
        """
        return self._exchange(method, path, body, headers, timeout)

    def open_call(
        self,
        method: str,
        path: str,
        *,
        headers: HeadersArg | None = None,
        timeout: float | None = None,
    ) -> AbstractAsyncContextManager[Call]:
        """Client or bidirectional streaming: the request body stays open.

        ``async with client.open_call("POST", "/echo") as call:`` then
        ``await call.send(chunk)`` any number of times, ``await call.end()``,
        and read with ``await call.response()`` / ``async for chunk in call``
        (a second task may read while the first sends). Not retried once open.
        """
        return self._exchange(method, path, None, headers, timeout)

    @asynccontextmanager
    async def _exchange(
        self,
        method: str,
        path: str,
        body: bytes | None,
        headers: HeadersArg | None,
        timeout: float | None,  # noqa: ASYNC109
    ) -> AsyncIterator[Call]:
        request = self._request(method, path, body, headers, timeout)
        deadline = request.deadline
        started: list[Call] = []
        with trio.CancelScope(deadline=deadline) as scope:
            ticket, call = await self._start(request, started)
        if scope.cancelled_caught:
            raise _deadline_error(request, started)
        try:
            with trio.CancelScope(deadline=deadline) as scope:
                yield call
        finally:
            call.abort()
            self._channel.release(ticket)
        if scope.cancelled_caught:
            raise _deadline_error(request, started)

    def _request(
        self,
        method: str,
        path: str,
        body: bytes | None,
        headers: HeadersArg | None,
        timeout: float | None,
    ) -> _Request:
        timeout = self._default_timeout if timeout is None else timeout
        return _Request(
            _b(method).upper(),
            _b(path),
            self._authority,
            self._channel.scheme,
            _user_headers(headers),
            body,
            math.inf if timeout is None else trio.current_time() + timeout,
            timeout,
        )

    async def _start(self, request: _Request, started: list[Call]) -> tuple[Ticket, Call]:
        attempt = 0
        while True:
            attempt += 1
            ticket, driver = await self._channel.acquire()
            try:
                return ticket, await self._attempt(request, driver, started)
            except CallError as exc:
                if isinstance(exc, CallReset) and exc.code == ErrorCode.REFUSED_STREAM:
                    self._channel.retire(driver)  # the retry goes to a fresh connection
                self._channel.release(ticket)
                replayable = request.body is not None
                if not can_retry(
                    exc.processed,
                    attempt=attempt,
                    max_attempts=self._max_attempts,
                    replayable=replayable,
                ):
                    raise
            except BaseException:
                self._channel.release(ticket)
                raise

    async def _attempt(
        self, request: _Request, driver: ConnectionDriver, started: list[Call]
    ) -> Call:
        """One try: open the stream, send a known body, wait for the response head."""
        body = request.body
        try:
            stream = await driver.open_stream(request.wire_headers(), end_stream=body == b"")
        except Exception as exc:
            error = translate_failure(exc, phase=Phase.QUEUED, stream_id=None, what=request.what)
            if error is None:
                raise
            raise error from exc
        call = Call(stream, what=request.what, request_ended=body is not None)
        started.append(call)
        try:
            if body:
                await call.send(body, end=True)
            if body is not None:
                await call.response()
        except BaseException:
            call.abort()
            raise
        return call


def _deadline_error(request: _Request, started: list[Call]) -> DeadlineExceeded:
    """The error for ``request`` whose deadline expired; ``started[-1]`` is its last try."""
    if started:
        last = started[-1]
        processed = classify_connection_loss(last.phase, last.stream_id, None)
    else:
        processed = classify_connection_loss(Phase.QUEUED, None, None)
    return DeadlineExceeded(request.what, request.timeout or 0.0, processed=processed)


@asynccontextmanager
async def connect(
    target: str,
    *,
    max_connections: int = 1,
    connect_timeout: float = 20.0,
    backoff: BackoffPolicy | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    timeout: float | None = None,  # noqa: ASYNC109 (default per-call deadline)
    protocol: Protocol | None = None,
    tls: ssl.SSLContext | bool | None = None,
    server_hostname: str | None = None,
    options: ChannelOptions | None = None,
) -> AsyncIterator[Client]:
    """Open a client to ``target`` (``host:port``); connections open lazily.

    Args:
        target: ``host:port`` of a mux server, of any HTTP/2 server with
            ``protocol="h2"`` or TLS, or of any HTTP/1.1 server with
            ``protocol="http1"``.
        max_connections: connections to open at most (more only when every one
            is at the server's MAX_CONCURRENT_STREAMS).
        connect_timeout: bound on one connection attempt, seconds.
        backoff: a :class:`~mux_client.backoff.BackoffPolicy` for reconnection.
        max_attempts: attempts per call for transparent retries.
        timeout: default per-call deadline, seconds (None: none).
        protocol: ``"mux"`` (mux/msgpack), ``"h2"`` (HTTP/2: h2c with prior
            knowledge, or over TLS) or ``"http1"`` (HTTP/1.1 keep-alive: one
            request at a time per connection, ``max_connections`` of them);
            None: mux, or over TLS the server's ALPN choice among ``mux/1``
            and ``h2``.
        tls: an :class:`ssl.SSLContext` (its ALPN ids are set), True for a
            default verifying context, None/False for plain TCP.
        server_hostname: the name the certificate must match (default: host).
        options: full :class:`ChannelOptions` (overrides the arguments above
            except ``max_attempts`` and ``timeout``).
    """
    if options is None:
        options = ChannelOptions(
            max_connections=max_connections,
            connect_timeout=connect_timeout,
            backoff=backoff if backoff is not None else BackoffPolicy(),
            protocol=protocol,
            tls=tls_context(tls, protocol),
            server_hostname=server_hostname,
        )
    try:
        async with trio.open_nursery() as nursery:
            channel = Channel(target, nursery, options)
            try:
                yield Client(channel, max_attempts=max_attempts, default_timeout=timeout)
            finally:
                with trio.CancelScope(shield=True):
                    await channel.aclose()
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # The nursery is an implementation detail: let the caller's own
        # exception (or Cancelled) out unwrapped when it is the only one.
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from group.exceptions[0].__cause__
        raise
