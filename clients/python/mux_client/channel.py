"""The connection pool to one target: connect, reconnect, hand out stream slots.

Theory of operation
-------------------
A :class:`Channel` owns every connection to one ``host:port``. Decisions are
taken by the pure :class:`~mux_client.pool.PoolBook`; this module only performs
them: it starts one task per connection in the client's nursery, wakes the
callers the book settled, and feeds the book what the drivers learnt
(``MAX_CONCURRENT_STREAMS`` from SETTINGS, GOAWAY, closure).

A connection task connects (TCP, bounded by ``connect_timeout``), starts the
shared :class:`mux.driver.ConnectionDriver` over a client-side
``MuxConnection`` engine, waits for the server's SETTINGS, then marks itself
ready and lives until the driver closes. A failed attempt starts the
:class:`~mux_client.backoff.Backoff`; during it, calls fail fast with
:class:`~mux_client.errors.ConnectError` when no connection is usable (gRPC
semantics), and the first call after it reconnects. Calls are never failed for
lack of stream slots: the book queues them, and the driver's ``open_stream``
also waits for a slot under the server's limit.

HTTP/1.1 (``protocol="http1"``) carries one exchange per connection at a
time: the engine's MAX_CONCURRENT_STREAMS is 1, so the book assigns one ticket
per connection and ``max_connections`` is the keep-alive pool size. Before a
pooled HTTP/1.1 connection is reused, its socket is peeked: a server that
already closed it (keep-alive timeout) gets the request sent on another
connection instead, so a request is never written to a connection the server
closed before it (the stale keep-alive race).

Connection lifetime (a gateway's pools): ``timeouts.idle`` closes a connection
idle that long (keep it below the backend's keep-alive); ``max_requests`` and
``max_age`` *retire* a connection: no new call is assigned to it and it closes
once its calls finished.

Resource handling:
    Connection tasks live in the nursery of :func:`mux_client.connect`;
    :meth:`Channel.aclose` closes every driver (GOAWAY) and waits for them.
"""

from __future__ import annotations

import select
import ssl
from collections.abc import Callable

import attrs
import trio

from mux.config import ConnectionTimeouts
from mux.core.engine import Engine
from mux.driver.connection import ConnectionDriver
from mux.driver.stream import Stream
from mux.driver.waits import Wait
from mux.errors import MuxError
from mux_client.backoff import Backoff, BackoffPolicy
from mux_client.errors import ClientClosedError, ConnectError
from mux_client.pool import DEFAULT_MAX_STREAMS, PoolBook, Ticket
from mux_client.transport import Protocol, make_engine, open_transport

#: Seconds between full refreshes of what the book knows of the connections it
#: did not pick (the picked one is always checked before use); a waiting caller
#: refreshes at once.
REFRESH_INTERVAL = 0.1


def default_engine() -> Engine:
    """A client-side mux/msgpack engine with default limits."""
    return make_engine("mux")


#: Received events the driver dispatches before letting woken calls run (see
#: ``ConnectionDriver(dispatch_batch=...)``): keeps a busy connection pipelined.
DEFAULT_DISPATCH_BATCH = 16


@attrs.frozen
class ChannelOptions:
    """How a client connects and pools.

    Attributes:
        max_connections: connections opened to the target at most; extra
            connections open only when every connection is at the server's
            MAX_CONCURRENT_STREAMS.
        connect_timeout: bound on one connection attempt (TCP + handshake), seconds.
        backoff: reconnection backoff after a failed attempt.
        timeouts: the driver's connection timers (keepalive, idle, ...); a mux/msgpack
            connection advertises ``keepalive_interval`` as its KEEPALIVE_INTERVAL.
        protocol: ``"mux"``, ``"h2"`` or ``"http1"``; None: mux, or over TLS whatever
            the server picks by ALPN among ``mux/1`` and ``h2``.
        tls: a client :class:`ssl.SSLContext` (ALPN ids are set on it), or
            None for plain TCP (h2c with prior knowledge for ``"h2"``).
        server_hostname: name checked against the server certificate
            (default: the target's host).
        engine_factory: builds the engine of each connection, overriding
            ``protocol`` (tests, custom limits).
        dispatch_batch: see :data:`DEFAULT_DISPATCH_BATCH` (None: unbounded).
        max_requests: a connection is retired after this many calls (None: never).
        max_age: a connection is retired once this old, seconds (None: never).
    """

    max_connections: int = attrs.field(default=1, validator=attrs.validators.ge(1))
    connect_timeout: float = attrs.field(default=20.0, validator=attrs.validators.gt(0))
    backoff: BackoffPolicy = attrs.field(factory=BackoffPolicy)
    timeouts: ConnectionTimeouts = attrs.field(factory=ConnectionTimeouts)
    protocol: Protocol | None = attrs.field(
        default=None,
        validator=attrs.validators.optional(attrs.validators.in_(("mux", "h2", "http1"))),
    )
    tls: ssl.SSLContext | None = None
    server_hostname: str | None = None
    engine_factory: Callable[[], Engine] | None = None
    dispatch_batch: int | None = DEFAULT_DISPATCH_BATCH
    max_requests: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.ge(1))
    )
    max_age: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.gt(0))
    )


def parse_target(target: str) -> tuple[str, int]:
    """Split ``host:port`` (or ``[v6]:port``) and validate the port."""
    host, sep, port_text = target.rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"target must be HOST:PORT with a port in 1..65535, got {target!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port_text)


@attrs.define(eq=False)
class PooledConnection:
    """One pooled connection, as the channel sees it."""

    key: int
    ready: trio.Event = attrs.field(factory=trio.Event)
    driver: ConnectionDriver | None = None
    #: Why connecting failed (set together with ``ready``).
    failure: str | None = None
    #: When it was opened (``trio.current_time()``), for ``max_age``.
    created: float = 0.0
    #: Calls assigned to it so far, for ``max_requests``.
    requests: int = 0
    #: Retired: no new calls; it closes once its calls finished.
    retired: bool = False


class Channel:
    """Pooled, reconnecting connections to one target."""

    def __init__(self, target: str, nursery: trio.Nursery, options: ChannelOptions) -> None:
        self.target = target
        self._host, self._port = parse_target(target)
        self._nursery = nursery
        self._options = options
        one_at_a_time = options.protocol == "http1"
        self._book = PoolBook(
            max_connections=options.max_connections,
            assumed_max_streams=1 if one_at_a_time else DEFAULT_MAX_STREAMS,
        )
        self._backoff = Backoff(options.backoff)
        self._conns: dict[int, PooledConnection] = {}
        self._waiters: dict[Ticket, trio.Event] = {}
        self._closed = False
        #: When :meth:`_refresh` next runs before a call (it also runs on demand).
        self._next_refresh = float("-inf")
        #: Per-connection limits to apply (or the HTTP/1.1 reuse check).
        self._limits = (
            options.protocol == "http1"
            or options.max_requests is not None
            or options.max_age is not None
        )
        #: The protocol of the last connection opened (TLS may pick it by ALPN).
        self.protocol: Protocol = options.protocol or "mux"
        #: ``:scheme`` of requests.
        self.scheme = b"https" if options.tls is not None else b"http"

    @property
    def connections(self) -> list[PooledConnection]:
        """The pooled connections (connecting, ready or draining)."""
        return list(self._conns.values())

    async def acquire(self, waiter: Stream | None = None) -> tuple[Ticket, ConnectionDriver]:
        """Wait for a stream slot on a ready connection.

        ``waiter`` (a gateway's downstream stream) is told what the wait is for
        (``Wait.STREAM_SLOT``, ``Wait.UPSTREAM_CONNECT``; :meth:`Stream.set_wait`),
        and its previous reason is restored afterwards.

        Raises:
            ConnectError: connecting failed, or a backoff is in force.
            ClientClosedError: the client is closed.
        """
        while True:
            ticket, driver = await self._acquire_once(waiter)
            if self._limits and not self._still_good(ticket, driver):
                continue
            return ticket, driver

    async def _acquire_once(self, waiter: Stream | None) -> tuple[Ticket, ConnectionDriver]:
        if self._closed:
            raise ClientClosedError()
        now = trio.current_time()
        if self._book.waiting or now >= self._next_refresh:
            self._refresh()
        while True:
            settled = self._book.request(now)
            ticket = settled[-1]
            if ticket.key is None or ticket.opens or len(settled) != 1:
                break
            conn = self._conns.get(ticket.key)  # fast path: a slot on a ready connection
            ready = conn is not None and conn.ready.is_set() and conn.failure is None
            if not (ready and conn is not None and conn.driver is not None):
                break
            if self._fresh(conn, conn.driver, now):
                return ticket, conn.driver
            # What the book knows of this connection is stale: learn it all, pick again.
            self.release(ticket)
            self._refresh()
        if not ticket.is_settled():
            self._refresh()  # a connection that went away may free a place for it
        self._act(settled)
        previous = Wait.NONE if waiter is None else waiter.wait
        try:
            return ticket, await self._wait_ready(ticket, waiter)
        except BaseException:
            self.release(ticket)
            raise
        finally:
            if waiter is not None:
                waiter.set_wait(previous)

    def _still_good(self, ticket: Ticket, driver: ConnectionDriver) -> bool:
        """Count the call against its connection; False (ticket released) if the
        connection turned out unusable: an HTTP/1.1 peer that closed it."""
        conn = self._conns.get(ticket.key) if ticket.key is not None else None
        if conn is None:
            return True
        if conn.requests > 0 and self.protocol == "http1" and _peer_closed(driver):
            self.release(ticket)
            self._retire(conn)
            return False
        conn.requests += 1
        limit = self._options.max_requests
        if limit is not None and conn.requests >= limit:
            self._retire(conn)
        return True

    def has_capacity(self) -> bool:
        """True when a call would get a stream slot on an open connection now."""
        return self._book.has_capacity()

    def would_open(self) -> bool:
        """True when a call arriving now would open a new connection."""
        return self._book.would_open(trio.current_time())

    async def _wait_ready(self, ticket: Ticket, waiter: Stream | None = None) -> ConnectionDriver:
        while True:
            if not ticket.is_settled():
                if waiter is not None:
                    waiter.set_wait(Wait.STREAM_SLOT)
                event = self._waiters[ticket] = trio.Event()
                try:
                    await event.wait()
                finally:
                    self._waiters.pop(ticket, None)
            if ticket.failure is not None:
                raise ConnectError(self.target, ticket.failure, retry_in=ticket.retry_in)
            key = ticket.key
            assert key is not None
            conn = self._conns.get(key)
            if conn is None:
                raise ConnectError(self.target, "connection closed")
            if not conn.ready.is_set():
                if waiter is not None:
                    waiter.set_wait(Wait.UPSTREAM_CONNECT)
                await conn.ready.wait()
            if conn.failure is not None or conn.driver is None:
                raise ConnectError(self.target, conn.failure or "connection closed")
            if ticket.key == key:
                return conn.driver
            # Re-queued: the server's stream limit was lower than assumed.

    def retire(self, driver: ConnectionDriver) -> None:
        """Open no new streams on ``driver`` (it refused one); it closes once idle."""
        for conn in self._conns.values():
            if conn.driver is driver:
                driver.start_graceful_shutdown()
                self._act(self._book.draining(conn.key, trio.current_time()))

    def _retire(self, conn: PooledConnection) -> None:
        """No new calls on ``conn``; it closes as soon as its calls finished."""
        if not conn.retired:
            conn.retired = True
            self._act(self._book.draining(conn.key, trio.current_time()))
        self._close_if_idle(conn)

    def _close_if_idle(self, conn: PooledConnection) -> None:
        book = self._book.conns.get(conn.key)
        if conn.driver is not None and (book is None or book.active == 0):
            conn.driver.start_graceful_shutdown()

    def release(self, ticket: Ticket) -> None:
        """Give back a slot (the call finished, failed or was cancelled)."""
        if self._book.waiting:
            self._refresh()
        settled = self._book.release(ticket, trio.current_time())
        if self._limits and ticket.key is not None:
            conn = self._conns.get(ticket.key)
            if conn is not None and conn.retired:
                self._close_if_idle(conn)
        if settled:
            self._act(settled)

    async def aclose(self) -> None:
        """Close every connection (GOAWAY) and fail waiting callers."""
        self._closed = True
        for conn in list(self._conns.values()):
            if conn.driver is not None:
                await conn.driver.aclose()
            conn.failure = conn.failure or "the client is closed"
            conn.ready.set()

    # ------------------------------------------------------------- internals

    def _act(self, settled: list[Ticket]) -> None:
        for ticket in settled:
            if ticket.opens and ticket.key is not None and ticket.key not in self._conns:
                conn = self._conns[ticket.key] = PooledConnection(ticket.key)
                self._nursery.start_soon(self._run_connection, conn)
            event = self._waiters.get(ticket)
            if event is not None:
                event.set()

    def _fresh(self, conn: PooledConnection, driver: ConnectionDriver, now: float) -> bool:
        """True when the book is up to date about ``conn`` (the one a call is about to use)."""
        max_age = self._options.max_age
        if max_age is not None and not conn.retired and now - conn.created >= max_age:
            return False
        book = self._book.conns.get(conn.key)
        return (
            driver.is_available
            and book is not None
            and book.max_streams == driver.engine.max_outbound_streams
        )

    def _refresh(self) -> None:
        """Feed the book what the drivers learnt (limits, GOAWAY).

        O(connections), so not on every call: before a call when callers wait,
        at most every :data:`REFRESH_INTERVAL` otherwise, and whenever the
        connection the book picked turns out to have changed (:meth:`_fresh`).
        """
        now = trio.current_time()
        self._next_refresh = now + REFRESH_INTERVAL
        max_age = self._options.max_age
        for conn in list(self._conns.values()):
            driver = conn.driver
            if driver is None or not conn.ready.is_set():
                continue
            if max_age is not None and not conn.retired and now - conn.created >= max_age:
                self._retire(conn)
                continue
            if not driver.is_available:
                self._act(self._book.draining(conn.key, now))
            else:
                limit = driver.engine.max_outbound_streams
                book = self._book.conns.get(conn.key)
                if book is not None and book.max_streams != limit:
                    self._act(self._book.limit_changed(conn.key, limit, now))

    async def _run_connection(self, conn: PooledConnection) -> None:
        try:
            driver = await self._connect()
        except (OSError, trio.TooSlowError, trio.BrokenResourceError, ValueError, MuxError) as exc:
            self._connect_failed(conn, _reason(exc))
            return
        conn.driver = driver
        conn.created = trio.current_time()
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(driver.run)
                if await self._handshake(driver):
                    self._backoff.record_success()
                    limit = driver.engine.max_outbound_streams
                    conn.ready.set()
                    self._act(self._book.connected(conn.key, limit, trio.current_time()))
                else:
                    self._connect_failed(conn, _reason(driver.error))
        finally:
            self._conns.pop(conn.key, None)
            if not conn.ready.is_set():
                conn.failure = conn.failure or "connection closed during the handshake"
                conn.ready.set()
            self._act(self._book.closed(conn.key, trio.current_time()))

    async def _connect(self) -> ConnectionDriver:
        options = self._options
        with trio.fail_after(options.connect_timeout):
            transport, protocol = await open_transport(
                self._host,
                self._port,
                context=options.tls,
                server_hostname=options.server_hostname,
                protocol=options.protocol,
            )
        self.protocol = protocol
        factory = options.engine_factory
        engine = (
            factory()
            if factory is not None
            else make_engine(protocol, options.timeouts.keepalive_interval)
        )
        return ConnectionDriver(
            transport, engine, timeouts=options.timeouts, dispatch_batch=options.dispatch_batch
        )

    async def _handshake(self, driver: ConnectionDriver) -> bool:
        """Wait for the server's SETTINGS within ``connect_timeout``; False if it failed."""
        with trio.move_on_after(self._options.connect_timeout) as scope:
            await driver.wait_ready()
        if scope.cancelled_caught:
            await driver.aclose()
            return False
        return not driver.is_closed

    def _connect_failed(self, conn: PooledConnection, reason: str) -> None:
        now = trio.current_time()
        wait = self._backoff.record_failure(now)
        conn.failure = reason
        conn.ready.set()
        self._conns.pop(conn.key, None)
        self._act(self._book.closed(conn.key, now, failure=reason, retry_at=now + wait))


def _peer_closed(driver: ConnectionDriver) -> bool:
    """True when the peer already closed (or wrote to) an idle connection.

    Polls the socket without reading: EOF, or unsolicited bytes on an
    idle HTTP/1.1 connection (a TLS close_notify, an error), both mean the
    connection cannot carry a new request. Any other transport: False.
    """
    if driver.is_closed:
        return True
    transport = driver.transport
    inner = getattr(transport, "transport_stream", None)
    stream = inner if isinstance(inner, trio.SocketStream) else transport
    if not isinstance(stream, trio.SocketStream):
        return False
    try:
        poller = select.poll()
        poller.register(stream.socket.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
        return bool(poller.poll(0))  # readable: EOF or unsolicited bytes pending
    except (OSError, ValueError):
        return True


def _reason(exc: BaseException | None) -> str:
    if exc is None:
        return "connection closed"
    if isinstance(exc, trio.TooSlowError):
        return "connect timeout"
    if isinstance(exc, trio.BrokenResourceError) and exc.__cause__ is not None:
        return f"TLS handshake failed: {exc.__cause__}"
    if isinstance(exc, OSError):
        cause = exc.__cause__
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror  # trio wraps the per-address errors
        return exc.strerror or str(exc)
    return str(exc) or type(exc).__name__


__all__ = ["Channel", "ChannelOptions", "PooledConnection", "parse_target"]
