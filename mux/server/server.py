"""The server: listeners, accept loop, per-connection isolation, graceful shutdown.

Theory of operation
-------------------
:class:`Server` owns two nurseries: one running an accept loop per listener,
one holding a task per connection. A connection task reads the first bytes,
picks an engine from them (:func:`select_engine`, the single place where the
framing is chosen: :func:`mux.core.sniff.detect` tells mux/msgpack, the HTTP/2
preface and HTTP/1.1 apart), then runs a :class:`~mux.driver.ConnectionDriver` whose
per-stream callback runs the handler (:func:`mux.server.app.handle_stream`).
With TLS configured (:attr:`ServerConfig.tls`) every accepted stream is wrapped
in :class:`trio.SSLStream`; the handshake must finish within the handshake
timeout; the ALPN protocol it negotiated (``mux/1``, ``h2``, ``http/1.1``)
chooses the engine, and without ALPN the decrypted bytes are sniffed as in
cleartext. HTTP/1.1 requests see ``:scheme`` ``https`` and cannot upgrade to
h2c there. With :attr:`ServerConfig.proxy_protocol` a PROXY protocol header
(:mod:`mux.server.proxyhead`) is read first, before TLS, within the handshake
timeout; its source becomes the connection's client address
(``ConnectionDriver.client_address``: ``Request.client``, the log context),
otherwise the socket's peer is.

Idle connections park (:mod:`mux.driver.parker`): after
:attr:`ServerConfig.park_delay` seconds without a stream, a connection's task
hands driver, engine and transport to the server's one :class:`Parker` task and
exits; input or a timer on the socket starts a new connection task continuing
the same driver. An idle connection thus holds no task at all.

Bytes that are none of the protocols (:class:`~mux.core.sniff.NotAProtocol`)
close the connection without a reply. Each connection task (and a resumed
one) sets the logging context (:mod:`mux.logs`: peer address, protocol; each
handler task adds its stream id); closes caused by the peer are logged at
DEBUG and summarised at INFO every minute by one server task.

With :attr:`Server.ops` set (:mod:`mux.ops.observer`: metrics, access log)
the server reports each connection's protocol and close, and each request
when its handler task ends; ``None`` (the default) costs one attribute test.

Every connection task ends in a catch-all that logs and closes that transport
only: no exception from one connection ever reaches the server.

Accept errors that mean "out of capacity" (EMFILE, ENFILE, ENOBUFS, ENOMEM) are
logged and retried after a short sleep; others propagate.

**Bursts.** trio's ``accept`` takes one connection and then yields to every
other runnable task; under load one scheduler round is hundreds of
milliseconds (every busy connection runs once), so a burst of N new
connections would take N rounds to be accepted: the last ones waited seconds
before their first byte was read. After each ``accept`` the loop therefore
takes every connection already waiting in the backlog (up to
:data:`ACCEPT_BATCH`), with non-blocking ``accept`` calls on a duplicate of the
listening socket (:func:`_accept_ready`), so a burst is accepted in a few
rounds (measured in ``bench/burst.py``).

:meth:`Server.shutdown` (SIGTERM/SIGINT in the CLI) stops the accept loops and
closes the listeners, asks every connection for a graceful two-step GOAWAY,
waits up to ``drain_timeout`` for in-flight streams, then cancels whatever is
left.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import ssl
from collections.abc import Sequence
from time import perf_counter
from typing import TYPE_CHECKING, cast

import trio

from mux.config import ServerConfig
from mux.core.connection import MuxConnection
from mux.core.engine import Engine
from mux.core.h2engine import H2Engine
from mux.core.h11engine import H11Engine
from mux.core.proxyproto import signature_state
from mux.core.sniff import NotAProtocol, Protocol, detect, protocol_for_alpn
from mux.driver.connection import RECEIVE_SIZE, ConnectionDriver
from mux.driver.parker import PARKING_SUPPORTED, Parker, can_park, socket_of
from mux.driver.stream import Stream
from mux.logs import PEER_ERRORS, SUMMARY_INTERVAL, describe_peer, peer_error, set_connection
from mux.logs import set_stream as _set_stream
from mux.reuseport import open_reuseport_listeners
from mux.server.app import Handler, stream_handler
from mux.server.proxyhead import ProxyHeaderMissing, peer_address, read_proxy_header

if TYPE_CHECKING:
    from mux.ops.observer import Observer

logger = logging.getLogger("mux.server")

#: accept() errnos that mean "out of resources right now": log, wait, retry.
CAPACITY_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
#: Seconds to wait before accepting again after a capacity error.
ACCEPT_RETRY_DELAY = 0.1
#: Connections taken from the backlog per wake-up of an accept loop.
ACCEPT_BATCH = 512
#: accept() errnos that only concern the one connection (it was reset while queued).
_SKIPPABLE_ACCEPT_ERRNOS = frozenset({errno.ECONNABORTED, errno.EPROTO, errno.EPERM})

Listeners = Sequence[trio.abc.Listener[trio.abc.Stream]]


def select_engine(
    prefix: bytes, config: ServerConfig, *, tls: bool = False
) -> Engine | NotAProtocol | None:
    """Choose the engine for a new connection from its first (decrypted) bytes.

    Returns ``None`` when more bytes are needed to decide, a
    :class:`~mux.core.sniff.NotAProtocol` when the bytes are none of the
    protocols served (see :func:`mux.core.sniff.detect`).
    """
    protocol = detect(prefix)
    if protocol is None or isinstance(protocol, NotAProtocol):
        return protocol
    return build_engine(protocol, config, tls=tls)


def build_engine(protocol: Protocol, config: ServerConfig, *, tls: bool = False) -> Engine:
    """The server engine for ``protocol`` with the configured limits.

    HTTP/1.1 is answered by the mux/msgpack engine (a GOAWAY) when
    ``config.http1`` is off; ``Upgrade: h2c`` is offered in cleartext only.
    """
    if protocol == "h2":
        return H2Engine(client_side=False, limits=config.h2_limits())
    if protocol == "http/1.1" and config.http1:
        h11 = H11Engine(
            scheme=b"https" if tls else b"http",
            h2_limits=None if tls else config.h2_limits(),
        )
        return cast(Engine, h11)  # `protocol` is a read-only property there
    return MuxConnection(client_side=False, limits=config.mux_limits())


class Server:
    """A mux server running ``handler`` for every request.

    Args:
        handler: the request handler (see :mod:`mux.server.app`).
        config: listen address, timeouts, limits.
    """

    def __init__(self, handler: Handler, config: ServerConfig | None = None) -> None:
        self.config = config if config is not None else ServerConfig()
        self._handle_stream = stream_handler(handler)
        self._timeouts = self.config.connection_timeouts()
        #: The connection registry: every live driver (parked ones too) and
        #: when its connection was accepted; read by the admin API.
        self._drivers: dict[ConnectionDriver, float] = {}
        self._connections = 0
        self._connection_nursery: trio.Nursery | None = None
        self._parker = Parker(self._resume)
        #: Seconds idle before a connection parks; None: never (or no epoll here).
        self._park_delay = self.config.park_delay if PARKING_SUPPORTED else None
        self._accept_scope = trio.CancelScope()
        self._drained = trio.Event()
        self._shutting_down = False
        self._ssl_context: ssl.SSLContext | None = (
            self.config.ssl_context() if self.config.tls else None
        )
        #: The listeners being served (set once serving starts).
        self.listeners: list[trio.abc.Listener[trio.abc.Stream]] = []
        #: Metrics and access log hooks (:mod:`mux.ops.observer`); None: off.
        self.ops: Observer | None = None

    @property
    def port(self) -> int:
        """The TCP port of the first socket listener."""
        for listener in self.listeners:
            if isinstance(listener, trio.SocketListener):
                port: int = listener.socket.getsockname()[1]
                return port
        raise RuntimeError("no socket listener")

    @property
    def connection_count(self) -> int:
        """Connections currently open."""
        return self._connections

    @property
    def registry(self) -> dict[ConnectionDriver, float]:
        """The live connections (parked ones too) → when each was accepted
        (``trio.current_time()``); read-only use, please."""
        return self._drivers

    @property
    def open_stream_count(self) -> int:
        """Streams currently open on the running (not parked) connections."""
        return sum(len(driver._streams) for driver in self._drivers)

    @property
    def drivers(self) -> frozenset[ConnectionDriver]:
        """The connections being served (parked ones included)."""
        return frozenset(self._drivers)

    @property
    def parked_count(self) -> int:
        """Idle connections currently parked (holding no task)."""
        return self._parker.count

    @property
    def parked_total(self) -> int:
        """How many times a connection was parked since the server started."""
        return self._parker.parked_total

    @property
    def is_shutting_down(self) -> bool:
        """True once :meth:`shutdown` was called."""
        return self._shutting_down

    def shutdown(self) -> None:
        """Start a graceful shutdown; :meth:`serve` returns when it completes."""
        if self._shutting_down:
            return
        logger.info("shutting down: %d connection(s) to drain", self._connections)
        self._shutting_down = True
        self._accept_scope.cancel()
        for driver in list(self._drivers):
            driver.start_graceful_shutdown()
        self._parker.resume_all()
        if not self._connections:
            self._drained.set()

    async def serve(
        self,
        listeners: Listeners | None = None,
        *,
        task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Accept and serve connections until :meth:`shutdown` completes."""
        if listeners is None:
            if self.config.reuse_port:
                listeners = await open_reuseport_listeners(self.config.host, self.config.port)
            else:
                listeners = await trio.open_tcp_listeners(self.config.port, host=self.config.host)
        self.listeners = list(listeners)
        try:
            await self._serve(task_status)
        finally:
            for driver in self._parker.close_all():
                self._drivers.pop(driver, None)
                self._connections -= 1
                if self.ops is not None:
                    self.ops.connection_closed(driver)

    async def _serve(self, task_status: trio.TaskStatus[Server]) -> None:
        async with trio.open_nursery() as connections:
            self._connection_nursery = connections
            if self._park_delay is not None:
                await connections.start(self._parker.run)
            connections.start_soon(_summarise_peer_errors)
            with self._accept_scope:
                async with trio.open_nursery() as accepting:
                    for listener in self.listeners:
                        accepting.start_soon(self._accept_loop, listener, connections)
                    task_status.started(self)
            for listener in self.listeners:
                await trio.aclose_forcefully(listener)
            with trio.move_on_after(self.config.drain_timeout) as drain:
                await self._drained.wait()
            if drain.cancelled_caught:
                logger.warning("drain timeout: closing %d connection(s)", self._connections)
            connections.cancel_scope.cancel()

    async def _accept_loop(
        self, listener: trio.abc.Listener[trio.abc.Stream], connections: trio.Nursery
    ) -> None:
        twin = _listening_twin(listener)
        try:
            while True:
                try:
                    transport = await listener.accept()
                except OSError as exc:
                    if exc.errno not in CAPACITY_ERRNOS:
                        raise
                    logger.error(
                        "accept failed (%s); retrying in %s s", exc.strerror, ACCEPT_RETRY_DELAY
                    )
                    await trio.sleep(ACCEPT_RETRY_DELAY)
                    continue
                connections.start_soon(self._handle_connection, transport)
                if twin is not None:
                    for queued in _accept_ready(twin, ACCEPT_BATCH - 1):
                        connections.start_soon(self._handle_connection, queued)
        finally:
            if twin is not None:
                twin.close()

    async def _on_stream(self, stream: Stream) -> None:
        """The request handler, with the stream id in the logging context."""
        _set_stream(stream.stream_id)
        ops = self.ops
        if ops is None:
            await self._handle_stream(stream)
            return
        ops.request_started(stream)
        started = perf_counter()
        try:
            await self._handle_stream(stream)
        finally:
            ops.request_done(stream, started)

    async def _handle_connection(self, transport: trio.abc.Stream) -> None:
        self._connections += 1
        accepted = trio.current_time()
        driver: ConnectionDriver | None = None
        parked = False
        client, prefix = peer_address(transport), b""
        _set_connection_context(transport, "tls" if self._ssl_context else "tcp", client)
        try:
            if self.config.proxy_protocol:
                proxied = await self._read_proxy_header(transport)
                if proxied is None:
                    return
                client, prefix = proxied[0] or client, proxied[1]
                _set_connection_context(transport, "tls" if self._ssl_context else "tcp", client)
            if self._ssl_context is not None:
                tls = await self._start_tls(transport)
                if tls is None:
                    return
                transport = tls
            prefix, engine = await self._choose_engine(transport, prefix)
            if engine is None:
                return
            _set_connection_context(transport, engine.protocol, client)
            if self.ops is not None:
                self.ops.connection_opened(engine.protocol)
            park_delay = self._park_delay
            driver = ConnectionDriver(
                transport,
                engine,
                on_stream=self._on_stream,
                timeouts=self._timeouts,
                max_handlers=2 * max(self.config.limits.max_concurrent_streams, 1),
                initial_data=prefix,
                can_park=None if park_delay is None else can_park,
                park_delay=park_delay or 0.0,
            )
            driver.client_address = client
            if self._shutting_down:
                # Its first bytes arrived as the drain began: serve what the
                # peer sent, then close (GOAWAY; HTTP/1.1: Connection: close).
                driver.start_graceful_shutdown()
            self._drivers[driver] = accepted
            parked = await self._drive(driver)
        except Exception:
            logger.exception("connection failed; closing it (the server keeps serving)")
        finally:
            if not parked:
                await self._release(driver, transport)

    async def _read_proxy_header(
        self, transport: trio.abc.Stream
    ) -> tuple[tuple[str, int] | None, bytes] | None:
        """The PROXY header's client and the bytes after it (None: closed, logged)."""
        timeout = self.config.handshake_timeout
        with trio.move_on_after(timeout if timeout is not None else float("inf")):
            try:
                header, rest = await read_proxy_header(
                    transport, exact=self._ssl_context is not None
                )
            except ProxyHeaderMissing as exc:
                peer_error(logger, "PROXY header", "closing connection: %s", exc)
                return None
            return header.client, rest
        peer_error(
            logger, "timeout (PROXY header)", "closing connection: no PROXY header in %s s", timeout
        )
        return None

    def _resume(self, driver: ConnectionDriver) -> None:
        """Parker callback: continue a parked connection in a new task."""
        assert self._connection_nursery is not None
        self._connection_nursery.start_soon(self._resume_connection, driver)

    async def _resume_connection(self, driver: ConnectionDriver) -> None:
        parked = False
        _set_connection_context(driver.transport, driver.engine.protocol, driver.client_address)
        try:
            parked = await self._drive(driver)
        except Exception:
            logger.exception("connection failed; closing it (the server keeps serving)")
        finally:
            if not parked:
                await self._release(driver, driver.transport)

    async def _drive(self, driver: ConnectionDriver) -> bool:
        """Run ``driver`` until it closes (False) or is parked (True)."""
        while True:
            await driver.run()
            if not driver.is_parked:
                return False
            if self._parker.park(driver):
                return True

    async def _release(self, driver: ConnectionDriver | None, transport: trio.abc.Stream) -> None:
        if driver is not None:
            self._drivers.pop(driver, None)
        if self.ops is not None:
            self.ops.connection_closed(driver)
        self._connections -= 1
        if self._shutting_down and not self._connections:
            self._drained.set()
        await trio.aclose_forcefully(transport)

    async def _start_tls(
        self, transport: trio.abc.Stream
    ) -> trio.SSLStream[trio.abc.Stream] | None:
        """Wrap ``transport`` in TLS and handshake (None: failed or too slow)."""
        assert self._ssl_context is not None
        tls = trio.SSLStream(transport, self._ssl_context, server_side=True)
        timeout = self.config.handshake_timeout
        with trio.move_on_after(timeout if timeout is not None else float("inf")):
            try:
                await tls.do_handshake()
            except trio.BrokenResourceError as exc:
                why = _tls_failure(exc)
                peer_error(logger, "TLS handshake failed", "TLS handshake failed: %s", why)
                return None
            return tls
        peer_error(logger, "TLS handshake timeout", "TLS handshake timed out")
        return None

    async def _choose_engine(
        self, transport: trio.abc.Stream, prefix: bytes = b""
    ) -> tuple[bytes, Engine | None]:
        """ALPN decides over TLS when it was negotiated; otherwise sniff."""
        if isinstance(transport, trio.SSLStream):
            protocol = protocol_for_alpn(transport.selected_alpn_protocol())
            if protocol is not None:
                return b"", build_engine(protocol, self.config, tls=True)
        return await self._sniff(transport, prefix)

    async def _sniff(
        self, transport: trio.abc.Stream, prefix: bytes = b""
    ) -> tuple[bytes, Engine | None]:
        """Read the first bytes and choose an engine (None: peer left or too slow).

        ``prefix``: bytes already received (after a PROXY header). A PROXY
        header here (a listener without ``proxy_protocol``, or a second one) is
        not a protocol like any other; the log line says what it was.
        """
        tls = isinstance(transport, trio.SSLStream)
        timeout = self.config.handshake_timeout
        read = not prefix
        with trio.move_on_after(timeout if timeout is not None else float("inf")):
            while True:  # detect() decides within MAX_REQUEST_LINE bytes
                if read:
                    try:
                        data = await transport.receive_some(RECEIVE_SIZE)
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        return prefix, None
                    if not data:
                        return prefix, None
                    prefix += data
                read = True
                engine = select_engine(prefix, self.config, tls=tls)
                if isinstance(engine, NotAProtocol):
                    reason = engine.reason
                    if signature_state(prefix):
                        reason = "a PROXY protocol header where none is expected"
                    peer_error(logger, "not a protocol", "closing connection: %s", reason)
                    return prefix, None
                if engine is not None:
                    return prefix, engine
        peer_error(
            logger, "timeout (no preface)", "closing connection: no preface in %s s", timeout
        )
        return prefix, None


def _set_connection_context(
    transport: trio.abc.Stream, protocol: str, address: object = None
) -> None:
    """Log lines of this task (and the handler tasks it starts) name the peer:
    ``address`` when given (a client address learnt otherwise), else the socket's."""
    if address is None:
        sock = socket_of(transport)
        try:
            address = sock.getpeername() if sock is not None else None
        except OSError:
            address = None
    set_connection(describe_peer(address), protocol)


async def _summarise_peer_errors() -> None:
    """Every SUMMARY_INTERVAL seconds: one INFO line counting peer protocol errors."""
    while True:
        await trio.sleep(SUMMARY_INTERVAL)
        PEER_ERRORS.flush(SUMMARY_INTERVAL)


def _tls_failure(exc: BaseException) -> str:
    """Why a TLS handshake failed, in words (not ``[SSL: X] x (_ssl.c:1000)``)."""
    cause = exc.__cause__
    if isinstance(cause, ssl.SSLError) and cause.reason:
        return cause.reason.lower().replace("_", " ")
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    return "the peer closed the connection" if cause is None else type(cause).__name__


def _listening_twin(listener: trio.abc.Listener[trio.abc.Stream]) -> socket.socket | None:
    """A non-blocking stdlib duplicate of a socket listener's socket (None: not one)."""
    if not isinstance(listener, trio.SocketListener):
        return None
    twin = socket.socket(fileno=os.dup(listener.socket.fileno()))
    twin.setblocking(False)
    return twin


def _accept_ready(twin: socket.socket, limit: int) -> list[trio.SocketStream]:
    """Up to ``limit`` connections already waiting in the backlog, without blocking.

    An error that concerns the listener (EMFILE, ...) ends the batch: the next
    ``listener.accept()`` meets it again and handles it.
    """
    accepted: list[trio.SocketStream] = []
    while len(accepted) < limit:
        try:
            sock, _ = twin.accept()
        except BlockingIOError:
            break
        except OSError as exc:
            if exc.errno in _SKIPPABLE_ACCEPT_ERRNOS:
                continue
            break
        sock.setblocking(False)
        accepted.append(trio.SocketStream(trio.socket.from_stdlib_socket(sock)))
    return accepted


async def serve(
    handler: Handler,
    config: ServerConfig | None = None,
    *,
    listeners: Listeners | None = None,
    task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``handler`` until the server is shut down (see :class:`Server`).

    ``task_status.started`` receives the :class:`Server` (for its port and
    :meth:`Server.shutdown`).
    """
    await Server(handler, config).serve(listeners, task_status=task_status)
