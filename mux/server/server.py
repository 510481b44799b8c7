"""The server: listeners, accept loop, per-connection isolation, graceful shutdown.

Theory of operation
-------------------
:class:`Server` owns two nurseries: one running an accept loop per listener,
one holding a task per connection. A connection task reads the first bytes,
picks an engine from them (:func:`select_engine`, the single place where the
framing is chosen), then runs a :class:`~mux.driver.ConnectionDriver` whose
per-stream callback runs the handler (:func:`mux.server.app.handle_stream`).
Every connection task ends in a catch-all that logs and closes that transport
only: no exception from one connection ever reaches the server.

Accept errors that mean "out of capacity" (EMFILE, ENFILE, ENOBUFS, ENOMEM) are
logged and retried after a short sleep; others propagate.

:meth:`Server.shutdown` (SIGTERM/SIGINT in the CLI) stops the accept loops and
closes the listeners, asks every connection for a graceful two-step GOAWAY,
waits up to ``drain_timeout`` for in-flight streams, then cancels whatever is
left.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Sequence

import trio

from mux.config import ServerConfig
from mux.core.connection import MuxConnection
from mux.core.engine import Engine
from mux.driver.connection import RECEIVE_SIZE, ConnectionDriver
from mux.server.app import Handler, stream_handler

logger = logging.getLogger("mux.server")

#: accept() errnos that mean "out of resources right now": log, wait, retry.
CAPACITY_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
#: Seconds to wait before accepting again after a capacity error.
ACCEPT_RETRY_DELAY = 0.1
#: Bytes we may read while choosing an engine before giving up on sniffing.
MAX_SNIFF_BYTES = 64
#: Byte that starts the mux/msgpack preface (not an HTTP token character).
MUX_PREFACE_FIRST_BYTE = 0x89

Listeners = Sequence[trio.abc.Listener[trio.abc.Stream]]


def select_engine(prefix: bytes, config: ServerConfig) -> Engine | None:
    """Choose the engine for a new connection from its first bytes.

    Returns ``None`` when more bytes are needed to decide. Today every
    connection gets the mux/msgpack engine, which answers anything that is not
    a mux preface (first byte 0x89) with GOAWAY(PROTOCOL_ERROR); HTTP/2 and
    HTTP/1.1 engines plug in here.
    """
    if not prefix:
        return None
    return MuxConnection(client_side=False, limits=config.limits)


class Server:
    """A mux server running ``handler`` for every request.

    Args:
        handler: the request handler (see :mod:`mux.server.app`).
        config: listen address, timeouts, limits.
    """

    def __init__(self, handler: Handler, config: ServerConfig | None = None) -> None:
        self.config = config if config is not None else ServerConfig()
        self._on_stream = stream_handler(handler)
        self._timeouts = self.config.connection_timeouts()
        self._drivers: set[ConnectionDriver] = set()
        self._connections = 0
        self._accept_scope = trio.CancelScope()
        self._drained = trio.Event()
        self._shutting_down = False
        #: The listeners being served (set once serving starts).
        self.listeners: list[trio.abc.Listener[trio.abc.Stream]] = []

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
            listeners = await trio.open_tcp_listeners(self.config.port, host=self.config.host)
        self.listeners = list(listeners)
        async with trio.open_nursery() as connections:
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
        while True:
            try:
                transport = await listener.accept()
            except OSError as exc:
                if exc.errno not in CAPACITY_ERRNOS:
                    raise
                logger.error("accept failed (%s); retrying in %s s", exc, ACCEPT_RETRY_DELAY)
                await trio.sleep(ACCEPT_RETRY_DELAY)
                continue
            connections.start_soon(self._handle_connection, transport)

    async def _handle_connection(self, transport: trio.abc.Stream) -> None:
        self._connections += 1
        driver: ConnectionDriver | None = None
        try:
            prefix, engine = await self._sniff(transport)
            if engine is None or self._shutting_down:
                return
            driver = ConnectionDriver(
                transport,
                engine,
                on_stream=self._on_stream,
                timeouts=self._timeouts,
                max_handlers=2 * max(self.config.limits.max_concurrent_streams, 1),
                initial_data=prefix,
            )
            self._drivers.add(driver)
            await driver.run()
        except Exception:
            logger.exception("connection failed; closing it (the server keeps serving)")
        finally:
            if driver is not None:
                self._drivers.discard(driver)
            self._connections -= 1
            if self._shutting_down and not self._connections:
                self._drained.set()
            await trio.aclose_forcefully(transport)

    async def _sniff(self, transport: trio.abc.Stream) -> tuple[bytes, Engine | None]:
        """Read the first bytes and choose an engine (None: peer left or too slow)."""
        prefix = b""
        timeout = self.config.handshake_timeout
        with trio.move_on_after(timeout if timeout is not None else float("inf")):
            while len(prefix) < MAX_SNIFF_BYTES:
                try:
                    data = await transport.receive_some(RECEIVE_SIZE)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    return prefix, None
                if not data:
                    return prefix, None
                prefix += data
                engine = select_engine(prefix, self.config)
                if engine is not None:
                    return prefix, engine
        return prefix, None


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
