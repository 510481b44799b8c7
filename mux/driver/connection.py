"""The trio driver of one connection: one engine, one transport, no idle task.

Theory of operation
-------------------
:class:`ConnectionDriver` owns a ``trio.abc.Stream`` and an
:class:`~mux.core.engine.Engine`. :meth:`ConnectionDriver.run` opens one nursery
holding:

* the **reader** (the ``run`` task itself): a read (sized by the engine for
  bulk DATA, :mod:`mux.driver.dispatch`) → ``engine.receive_data`` → dispatch each event to its
  :class:`~mux.driver.stream.Stream` (a dict lookup, no task per stream). It
  also runs the connection's timers (handshake, SETTINGS ack, slowloris frame
  timeout, keepalive, idle, the two-step shutdown PING, parking): each wait
  is bounded by the earliest deadline (:meth:`_rearm_timers` moves it);
* a **flusher**, only while bytes are queued: every command (from any task)
  queues bytes in the engine and calls :meth:`_wake_writer`, which starts one
  flusher task if none runs; it sends what the engine queued as ONE send per
  round (commands of the same scheduler tick share a syscall) and exits once
  nothing is left; a bulk writer flushes its own write instead
  (:mod:`mux.driver.writer`);
* on a server, one task per *active* request running the stream handler.

Parking (server side, ``can_park``): once idle for ``park_delay`` seconds with
nothing buffered, ``run`` cancels its nursery and returns with
:attr:`ConnectionDriver.is_parked` true, transport open; the owner hands the
driver to a :class:`~mux.driver.parker.Parker` and calls ``run`` again when the
socket turns readable or a timer is due.

The code is split by concern into a chain of mixins (see
:mod:`mux.driver.base`): :mod:`~mux.driver.writer` (flusher),
:mod:`~mux.driver.lifecycle` (handlers, shutdown, close),
:mod:`~mux.driver.timers` (timers, parking) and :mod:`~mux.driver.dispatch`
(reader, event dispatch); this module holds the public API and ``run``.

Closing is one path, :meth:`_close`: record why, fail every unfinished stream
with :class:`mux.errors.ConnectionClosed` (saying whether its request may have
been processed), queue GOAWAY if asked, let the flusher finish for at most
``close_flush`` seconds, then cancel the nursery. ``run`` always ends by
closing the transport forcefully; when the peer caused the close (our GOAWAY
carries an error code), it first lingers: half-close, then read and discard
until the peer's EOF, bounded in time and bytes, so the kernel does not answer
the peer's unread bytes with an RST that would destroy the GOAWAY (see
:mod:`mux.driver.lifecycle`). An engine :class:`~mux.errors.RemoteProtocolError`
(GOAWAY already queued), EOF, a transport error or a timer all take this path.

Graceful shutdown (:meth:`start_graceful_shutdown`) on a server sends
GOAWAY(2**31-1) and a PING; on the PONG (or after ``shutdown_ping`` seconds)
it sends the final GOAWAY(last processed id) and closes once no stream or
handler is left. A client stops opening streams and closes once idle.
"""

from __future__ import annotations

import trio

from mux.core import events as ev
from mux.core.engine import Engine
from mux.core.events import Headers
from mux.driver.base import StreamHandler
from mux.driver.dispatch import ReaderMixin
from mux.driver.stream import Stream
from mux.driver.tuning import MAX_STREAM_ID, RECEIVE_SIZE, SEND_HIGH_WATER
from mux.errors import ConnectionClosed, ErrorCode

__all__ = [
    "MAX_STREAM_ID",
    "RECEIVE_SIZE",
    "SEND_HIGH_WATER",
    "ConnectionDriver",
    "StreamHandler",
]


class ConnectionDriver(ReaderMixin):
    """Drive one engine over one transport (client or server side).

    Args:
        transport: the byte stream (TCP, TLS or an in-memory stream).
        engine: the protocol state machine; ``engine.client_side`` picks the role.
        on_stream: server side: called with each new request stream, as a task
            that lives only while the request is active.
        timeouts: the connection timers.
        max_handlers: server side: at most this many handler tasks at once
            (further streams are refused, safe to retry). Default: unbounded
            beyond the engine's MAX_CONCURRENT_STREAMS.
        initial_data: bytes already read from ``transport`` (protocol sniffing).
        dispatch_batch: dispatch at most this many received events, then let
            the woken tasks run (and the flusher send what they queued) before
            the rest: a big read then pipelines with the peer instead of moving
            in lockstep with it. Default: all events of a read at once.
        can_park: server side: ``can_park(transport)`` says whether the idle
            connection may be handed to a :class:`~mux.driver.parker.Parker`;
            when set, :meth:`run` returns with :attr:`is_parked` true once the
            connection has been idle for ``park_delay`` seconds (the transport
            stays open; call :meth:`run` again to resume).
        park_delay: seconds of idleness before parking.
    """

    __slots__ = ()

    # ------------------------------------------------------------ properties

    @property
    def engine(self) -> Engine:
        """The protocol engine (read-only use, please)."""
        return self._engine

    @property
    def is_client(self) -> bool:
        """True on the side that opens streams."""
        return self._engine.client_side

    @property
    def is_closed(self) -> bool:
        """True once the connection is closing or closed."""
        return self._closing

    @property
    def is_available(self) -> bool:
        """True while new streams may be opened (no GOAWAY, not closing)."""
        if self._closing or self._goaway is not None or self._shutting_down:
            return False
        return not self._goaway_queued()

    @property
    def goaway(self) -> ev.GoAwayReceived | None:
        """The last GOAWAY the peer sent, if any."""
        return self._goaway

    @property
    def error(self) -> ConnectionClosed | None:
        """Why the connection closed (``None`` while open)."""
        return self._error

    @property
    def open_streams(self) -> int:
        """Streams not yet finished (both directions)."""
        return len(self._streams)

    @property
    def active_handlers(self) -> int:
        """Server side: handler tasks currently running."""
        return self._active_handlers

    @property
    def pending_send_bytes(self) -> int:
        """Bytes handed to the engine or the transport and not yet sent."""
        return self._unsent + self._sending

    @property
    def _send_backlogged(self) -> bool:
        return self._unsent + self._sending > SEND_HIGH_WATER

    @property
    def transport(self) -> trio.abc.Stream:
        """The byte stream this connection runs over."""
        return self._transport

    @property
    def is_parked(self) -> bool:
        """True when :meth:`run` returned to park the idle connection (see ``can_park``)."""
        return self._parked

    async def wait_closed(self) -> None:
        """Wait until :meth:`run` has finished."""
        if self._finished:
            await trio.lowlevel.checkpoint()
            return
        if self._closed is None:
            self._closed = trio.Event()
        await self._closed.wait()

    async def wait_ready(self) -> None:
        """Wait until the peer's first SETTINGS arrived, or the connection closed.

        Afterwards ``engine.max_outbound_streams`` is the peer's real limit (or
        :attr:`is_closed` says why it will never be).
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        while not (self._peer_settings_seen or self._closing):
            await self._lot_for_slots().park()

    # ------------------------------------------------------------------- run

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the connection until it closes; always closes the transport.

        With ``can_park`` set, it may instead return with :attr:`is_parked`
        true, leaving the idle connection (transport, engine, state) intact
        and task-free; calling ``run`` again resumes it where it stopped.
        """
        self._parked = False
        started = False
        try:
            while True:
                self._park_requested = False
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    self._start_run()
                    if self._shutdown_on_start:
                        self.start_graceful_shutdown()
                    if not started:
                        started = True
                        task_status.started()
                    await self._reader_loop()
                self._nursery = None
                if self._park_requested and not self._closing and self._parkable():
                    self._park()
                    return
                if self._closing:
                    if self._should_linger():
                        await self._linger()
                    return
        finally:
            self._nursery = None
            if not self._parked:
                if not self._closing:
                    self._close(ConnectionClosed("connection driver stopped"))
                self._finished = True
                if self._closed is not None:
                    self._closed.set()
                await trio.aclose_forcefully(self._transport)

    def _start_run(self) -> None:
        """Per-run state; first run: the handshake. Starts a flusher for queued bytes."""
        if not self._started:
            self._started = True
            self._arm_initial_timers()
            self._engine.initiate_connection()
        elif self._idle_since is not None and self._can_park is not None:
            self._park_at = trio.current_time() + self._park_delay
        self._dirty = False
        self._wake_writer()  # flush what was queued before run (preface, SETTINGS)

    async def aclose(self) -> None:
        """Close now: GOAWAY(NO_ERROR), fail unfinished streams, wait for ``run``.

        A connection already closing stops lingering (see :meth:`run`).
        """
        self._stop_linger()
        self._close(ConnectionClosed("connection closed by the local side"), ErrorCode.NO_ERROR)
        await self.wait_closed()

    def start_graceful_shutdown(self) -> None:
        """Stop taking new streams; close once in-flight streams finish.

        Server: two-step GOAWAY (2**31-1 + PING, then the last processed id).
        Client: GOAWAY(NO_ERROR) and no new streams. A connection already
        closing stops lingering, so a server shutdown never waits one out.
        """
        self._stop_linger()
        super().start_graceful_shutdown()

    # ---------------------------------------------------------- client side

    async def open_stream(self, headers: Headers, end_stream: bool = False) -> Stream:
        """Open a stream by sending request headers (client side).

        Waits for a free slot when the peer's MAX_CONCURRENT_STREAMS is reached.

        Raises:
            ConnectionClosed: the connection is closing or got GOAWAY; the
                request was not sent, so retrying elsewhere is safe.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        engine = self._engine
        while not (
            self._peer_settings_seen and engine.open_outbound_streams < engine.max_outbound_streams
        ):
            self._check_can_open()
            await self._lot_for_slots().park()
        self._check_can_open()
        stream_id = engine.get_next_available_stream_id()
        engine.send_headers(stream_id, headers, end_stream=end_stream)
        stream = Stream(self, stream_id, headers_sent=True)
        stream.request_headers = headers
        self._streams[stream_id] = stream
        self._idle_since = self._park_at = None
        if end_stream:
            stream._local_ended = True
        self._wake_writer()
        return stream

    def _goaway_queued(self) -> bool:
        """The engine took the peer's GOAWAY, but its event waits in the dispatch
        backlog: the engine refuses new streams already."""
        backlog = self._backlog
        # ``in map(type, ...)`` runs in C: the backlog may hold many events.
        return backlog is not None and ev.GoAwayReceived in map(type, backlog)

    def _check_can_open(self) -> None:
        if (
            self._closing
            or self._goaway is not None
            or self._shutting_down
            or self._goaway_queued()
        ):
            last = self._goaway.last_stream_id if self._goaway is not None else None
            reason = self._error or "connection is shutting down (GOAWAY)"
            raise ConnectionClosed(
                f"cannot open a stream: {reason}; request not sent, safe to retry",
                code=self._goaway.error_code if self._goaway is not None else None,
                last_stream_id=last,
            )
