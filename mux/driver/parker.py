"""The Parker: idle server connections held without any task of their own.

Theory of operation
-------------------
An idle connection (no stream, no handler, nothing unsent, no partial frame,
no TLS bytes pending) does not need a task: it waits for the peer's next byte
or for a timer. When its :class:`~mux.driver.connection.ConnectionDriver`'s
:meth:`~mux.driver.connection.ConnectionDriver.run` returns with
``is_parked`` true, the owner (the server) hands it to the Parker with
:meth:`Parker.park`. The connection then costs only its objects (driver,
engine, transport): no task, coroutine frame or nursery.

The Parker is ONE task (:meth:`Parker.run`, in the server's nursery) holding
its own ``select.epoll`` in which every parked socket is registered for
``EPOLLIN | EPOLLRDHUP``; it sleeps in ``trio.lowlevel.wait_readable`` on the
epoll's fd, with a deadline: the earliest timer of any parked connection
(a heap of ``(deadline, token, driver)``; stale entries are skipped by token).
A readable socket or a due timer unregisters the connection and hands it to
the ``resume`` callback, which starts a new connection task running ``run``
again on the same driver, engine and transport: the peer sees no difference.
Timers (idle timeout, keepalive PING, handshake, SETTINGS ack) fire inside the
resumed driver exactly as on an active one.

:meth:`Parker.resume_all` wakes every parked connection (graceful shutdown);
:meth:`Parker.close_all` closes whatever is still parked when the server ends.
"""

from __future__ import annotations

import heapq
import math
import select
from collections.abc import Callable

import trio

from mux.driver.connection import ConnectionDriver

#: Parking needs epoll (Linux); elsewhere connections simply keep their task.
PARKING_SUPPORTED = hasattr(select, "epoll")
_EVENTS = select.EPOLLIN | select.EPOLLRDHUP if PARKING_SUPPORTED else 0


def socket_of(transport: trio.abc.Stream) -> trio.socket.SocketType | None:
    """The socket under ``transport`` (a SocketStream, or TLS over one), else None."""
    if isinstance(transport, trio.SSLStream):
        transport = transport.transport_stream
    if isinstance(transport, trio.SocketStream):
        return transport.socket
    return None


def can_park(transport: trio.abc.Stream) -> bool:
    """True when ``transport`` is a socket (or TLS over one) with no bytes pending.

    A TLS stream must have no decrypted or undecrypted input buffered (the
    socket would not turn readable for it) and no output waiting.
    """
    if isinstance(transport, trio.SocketStream):
        return True
    if not isinstance(transport, trio.SSLStream):
        return False
    if not isinstance(transport.transport_stream, trio.SocketStream):
        return False
    ssl_object = getattr(transport, "_ssl_object", None)
    incoming = getattr(transport, "_incoming", None)
    outgoing = getattr(transport, "_outgoing", None)
    if ssl_object is None or incoming is None or outgoing is None:
        return False
    return (
        ssl_object.pending() == 0
        and incoming.pending == 0
        and outgoing.pending == 0
        and getattr(transport, "_delayed_outgoing", None) is None
    )


class Parker:
    """Hold idle connections without tasks; resume them on input or timer.

    Args:
        resume: called with a driver to run again (it must start a task that
            calls ``driver.run()``); called from the Parker's task or from
            :meth:`resume_all`.
    """

    def __init__(self, resume: Callable[[ConnectionDriver], None]) -> None:
        self._resume = resume
        self._epoll: select.epoll | None = None
        self._by_fd: dict[int, ConnectionDriver] = {}
        self._timers: list[tuple[float, int, ConnectionDriver]] = []
        self._next_token = 0
        self._wait_scope: trio.CancelScope | None = None
        self._closed = False
        #: Connections parked since start (statistics).
        self.parked_total = 0

    @property
    def count(self) -> int:
        """Connections parked right now."""
        return len(self._by_fd)

    def park(self, driver: ConnectionDriver) -> bool:
        """Take an idle driver (its ``run`` returned parked); False: refused.

        On refusal (the Parker is not running or is closed, or the transport
        is not a socket) the caller keeps running the driver.
        """
        sock = socket_of(driver.transport)
        if self._epoll is None or self._closed or sock is None or not driver.is_parked:
            return False
        fd = sock.fileno()
        if fd < 0 or fd in self._by_fd:
            return False
        self._epoll.register(fd, _EVENTS)
        self._by_fd[fd] = driver
        self._next_token += 1
        driver.park_token = token = self._next_token
        self.parked_total += 1
        deadline = driver.parked_deadline()
        if deadline != math.inf:
            heapq.heappush(self._timers, (deadline, token, driver))
            scope = self._wait_scope
            if scope is not None and deadline < scope.deadline:
                scope.deadline = deadline
        return True

    def resume_all(self) -> None:
        """Resume every parked connection now (e.g. for a graceful shutdown)."""
        for fd in list(self._by_fd):
            self._wake(fd)

    def close_all(self) -> list[ConnectionDriver]:
        """Stop parking; close the sockets of parked connections; return their drivers."""
        self._closed = True
        drivers = list(self._by_fd.values())
        for fd in list(self._by_fd):
            self._unregister(fd)
        self._timers.clear()
        for driver in drivers:
            sock = socket_of(driver.transport)
            if sock is not None:
                sock.close()
        return drivers

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve parked connections until cancelled; then closes the epoll."""
        self._epoll = epoll = select.epoll()
        try:
            task_status.started()
            while True:
                with trio.CancelScope(deadline=self._next_deadline()) as scope:
                    self._wait_scope = scope
                    await trio.lowlevel.wait_readable(epoll.fileno())
                self._wait_scope = None
                for fd, _ in epoll.poll(0):
                    self._wake(fd)
                self._expire(trio.current_time())
                await trio.lowlevel.checkpoint()
        finally:
            self._wait_scope = None
            self._epoll = None
            epoll.close()

    def _next_deadline(self) -> float:
        timers = self._timers
        while timers and not self._is_current(timers[0][1], timers[0][2]):
            heapq.heappop(timers)
        return timers[0][0] if timers else math.inf

    def _is_current(self, token: int, driver: ConnectionDriver) -> bool:
        return driver.is_parked and driver.park_token == token

    def _expire(self, now: float) -> None:
        timers = self._timers
        while timers and timers[0][0] <= now:
            _, token, driver = heapq.heappop(timers)
            if self._is_current(token, driver):
                sock = socket_of(driver.transport)
                if sock is not None and self._by_fd.get(sock.fileno()) is driver:
                    self._wake(sock.fileno())

    def _unregister(self, fd: int) -> ConnectionDriver | None:
        driver = self._by_fd.pop(fd, None)
        if driver is not None and self._epoll is not None:
            try:
                self._epoll.unregister(fd)
            except (OSError, ValueError):
                pass  # already gone with its socket
        return driver

    def _wake(self, fd: int) -> None:
        driver = self._unregister(fd)
        if driver is not None:
            driver.park_token = 0
            self._resume(driver)
