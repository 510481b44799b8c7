"""The trio driver of one connection: one engine, one transport, no idle task.

Theory of operation
-------------------
:class:`ConnectionDriver` owns a ``trio.abc.Stream`` and an
:class:`~mux.core.engine.Engine`. :meth:`ConnectionDriver.run` opens one nursery
holding:

* the **reader** (the ``run`` task itself): ``receive_some`` →
  ``engine.receive_data`` → dispatch each event to its
  :class:`~mux.driver.stream.Stream` (a dict lookup, no task per stream). It
  also runs the connection's timers (handshake, SETTINGS ack, slowloris frame
  timeout, keepalive, idle, the two-step shutdown PING, parking): each wait
  is bounded by the earliest deadline (:meth:`_rearm_timers` moves it);
* a **flusher**, only while bytes are queued: every command (from any task)
  queues bytes in the engine and calls :meth:`_wake_writer`, which starts one
  flusher task if none runs; it sends ``engine.data_to_send()`` as ONE
  ``send_all`` per round (commands of the same scheduler tick share a
  syscall) and exits once nothing is left;
* on a server, one task per *active* request running the stream handler.

Parking (server side, ``can_park``): once idle for ``park_delay`` seconds with
nothing buffered, ``run`` cancels its nursery and returns with
:attr:`ConnectionDriver.is_parked` true, transport open; the owner hands the
driver to a :class:`~mux.driver.parker.Parker` and calls ``run`` again when the
socket turns readable or a timer is due.

Closing is one path, :meth:`_close`: record why, fail every unfinished stream
with :class:`mux.errors.ConnectionClosed` (saying whether its request may have
been processed), queue GOAWAY if asked, let the flusher finish for at most
``close_flush`` seconds, then cancel the nursery. ``run`` always ends by
closing the transport forcefully. An engine :class:`~mux.errors.RemoteProtocolError`
(GOAWAY already queued), EOF, a transport error or a timer all take this path.

Graceful shutdown (:meth:`start_graceful_shutdown`) on a server sends
GOAWAY(2**31-1) and a PING; on the PONG (or after ``shutdown_ping`` seconds)
it sends the final GOAWAY(last processed id) and closes once no stream or
handler is left. A client stops opening streams and closes once idle.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable

import trio

from mux.config import ConnectionTimeouts
from mux.core import events as ev
from mux.core.engine import Engine
from mux.core.events import Headers
from mux.driver.stream import Stream
from mux.errors import (
    ConnectionClosed,
    ErrorCode,
    LocalProtocolError,
    RemoteProtocolError,
    StreamError,
    code_name,
)

logger = logging.getLogger("mux.driver")

#: Bytes asked of the transport per receive_some call.
RECEIVE_SIZE = 65536
#: Unsent bytes (queued or in flight to the transport) above which senders wait:
#: a peer that stops reading TCP cannot make us buffer more than about this.
SEND_HIGH_WATER = 262144
#: Largest legal stream id; GOAWAY with it is step one of a graceful shutdown.
MAX_STREAM_ID = 2**31 - 1
_SHUTDOWN_PING = b"muxdrain"
_KEEPALIVE_PING = b"muxalive"

#: A server's per-stream callback: runs while the request is active.
StreamHandler = Callable[[Stream], Awaitable[None]]


class ConnectionDriver:
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

    __slots__ = (
        "_active_handlers",
        "_backlog",
        "_can_park",
        "_closed",
        "_closing",
        "_deferred",
        "_deferred_data",
        "_dirty",
        "_dispatch_batch",
        "_engine",
        "_error",
        "_final_goaway_sent",
        "_finished",
        "_flush_done",
        "_flushing",
        "_goaway",
        "_handshake_at",
        "_idle_since",
        "_initial_data",
        "_last_received",
        "_max_handlers",
        "_nursery",
        "_on_stream",
        "_park_at",
        "_park_delay",
        "_park_requested",
        "_parked",
        "_partial_since",
        "_peer_settings_seen",
        "_pending_events",
        "_ping_due_at",
        "_read_lot",
        "_sending",
        "_settings_ack_at",
        "_shutdown_on_start",
        "_shutdown_ping_at",
        "_shutting_down",
        "_slot_lot",
        "_started",
        "_streams",
        "_timeouts",
        "_timer_scope",
        "_transport",
        "_unsent",
        "_upgraded_request",
        "_window_waiters",
        "bytes_sent",
        "park_token",
    )

    def __init__(
        self,
        transport: trio.abc.Stream,
        engine: Engine,
        *,
        on_stream: StreamHandler | None = None,
        timeouts: ConnectionTimeouts | None = None,
        max_handlers: int | None = None,
        initial_data: bytes = b"",
        dispatch_batch: int | None = None,
        can_park: Callable[[trio.abc.Stream], bool] | None = None,
        park_delay: float = 0.25,
    ) -> None:
        self._transport = transport
        self._engine = engine
        self._on_stream = on_stream
        self._timeouts = timeouts if timeouts is not None else ConnectionTimeouts()
        self._max_handlers = max_handlers if max_handlers is not None else math.inf
        self._initial_data = initial_data
        # HTTP/1.1 engines (duck-typed): next pipelined request after a
        # response, and "close after flushing".
        self._pending_events: Callable[[], list[ev.Event]] | None = getattr(
            engine, "pending_events", None
        )
        # Lazily created (an idle connection should cost little memory).
        self._read_lot: trio.lowlevel.ParkingLot | None = None
        self._slot_lot: trio.lowlevel.ParkingLot | None = None
        self._flush_done: trio.Event | None = None
        self._flushing = False
        self._timer_scope: trio.CancelScope | None = None
        self._closed: trio.Event | None = None
        self._window_waiters: set[Stream] | None = None
        self._backlog: list[ev.Event] | None = None
        # Streams whose response headers wait for the next flush.
        self._deferred: list[Stream] | None = None
        self._deferred_data = 0  # how many of them hold a DATA chunk
        self._upgraded_request: ev.RequestReceived | None = None
        self._streams: dict[int, Stream] = {}
        self._dispatch_batch = dispatch_batch or 0
        self._nursery: trio.Nursery | None = None
        self._finished = False
        self._started = False
        self._can_park = can_park
        self._park_delay = park_delay
        self._park_at: float | None = None
        self._park_requested = False
        self._parked = False
        #: Owned by the :class:`~mux.driver.parker.Parker` while parked.
        self.park_token = 0
        self._dirty = False
        self._unsent = 0
        self._sending = 0
        self._active_handlers = 0
        self._closing = False
        self._error: ConnectionClosed | None = None
        self._goaway: ev.GoAwayReceived | None = None
        self._shutting_down = False
        self._final_goaway_sent = False
        self._peer_settings_seen = False
        self._shutdown_on_start = False
        # Timers: absolute trio times, None when not armed.
        self._handshake_at: float | None = None
        self._settings_ack_at: float | None = None
        self._partial_since: float | None = None
        self._last_received = 0.0
        self._ping_due_at: float | None = None
        self._idle_since: float | None = None
        self._shutdown_ping_at: float | None = None
        #: Total bytes written to the transport (statistics).
        self.bytes_sent = 0

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
        return not (self._closing or self._goaway is not None or self._shutting_down)

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

    def _lot_for_slots(self) -> trio.lowlevel.ParkingLot:
        if self._slot_lot is None:
            self._slot_lot = trio.lowlevel.ParkingLot()
        return self._slot_lot

    def _unpark_slots(self) -> None:
        if self._slot_lot is not None:
            self._slot_lot.unpark_all()

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

    # --------------------------------------------------------------- parking

    def _parkable(self) -> bool:
        """Idle and nothing buffered anywhere: safe to drop every task."""
        return (
            self._can_park is not None
            and not (self._streams or self._active_handlers or self._closing)
            and not (self._shutting_down or self._shutdown_on_start)
            and not (self._dirty or self._flushing or self._unsent or self._sending)
            and not (self._backlog or self._deferred)
            and self._upgraded_request is None
            and self._pending_events is None
            and self._partial_since is None
            and self._can_park(self._transport)
        )

    def _request_park(self) -> None:
        """Timer: idle long enough; stop the tasks so :meth:`run` can park."""
        self._park_at = None
        if self._parkable() and self._nursery is not None:
            self._park_requested = True
            self._nursery.cancel_scope.cancel()
        else:
            self._park_at = trio.current_time() + self._park_delay

    def _park(self) -> None:
        self._parked = True
        self._park_at = None
        self._flush_done = None
        self._timer_scope = None
        self._read_lot = None
        self._window_waiters = None
        self._backlog = None
        self._deferred = None
        self._streams = {}

    def parked_deadline(self) -> float:
        """While parked: when a timer (idle, keepalive, ...) needs the connection."""
        return self._next_deadline()

    async def aclose(self) -> None:
        """Close now: GOAWAY(NO_ERROR), fail unfinished streams, wait for ``run``."""
        self._close(ConnectionClosed("connection closed by the local side"), ErrorCode.NO_ERROR)
        await self.wait_closed()

    def start_graceful_shutdown(self) -> None:
        """Stop taking new streams; close once in-flight streams finish.

        Server: two-step GOAWAY (2**31-1 + PING, then the last processed id).
        Client: GOAWAY(NO_ERROR) and no new streams.
        """
        if self._shutting_down or self._closing:
            return
        if self._nursery is None:
            self._shutdown_on_start = True
            return
        self._shutting_down = True
        if self._engine.client_side:
            self._engine.close_connection(ErrorCode.NO_ERROR)
            self._final_goaway_sent = True
        else:
            try:
                self._engine.close_connection(ErrorCode.NO_ERROR, last_stream_id=MAX_STREAM_ID)
                self._engine.ping(_SHUTDOWN_PING)
            except LocalProtocolError:
                # The engine is past GOAWAY (e.g. h2 after the peer's GOAWAY):
                # no new streams can come, so the last step is already done.
                self._final_goaway_sent = True
            else:
                self._shutdown_ping_at = trio.current_time() + self._timeouts.shutdown_ping
        self._rearm_timers()
        self._unpark_slots()
        self._wake_writer()
        self._maybe_finish()

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
        self._streams[stream_id] = stream
        self._idle_since = self._park_at = None
        if end_stream:
            stream._local_ended = True
        self._wake_writer()
        return stream

    def _check_can_open(self) -> None:
        if self._closing or self._goaway is not None or self._shutting_down:
            last = self._goaway.last_stream_id if self._goaway is not None else None
            reason = self._error or "connection is shutting down (GOAWAY)"
            raise ConnectionClosed(
                f"cannot open a stream: {reason}; request not sent, safe to retry",
                code=self._goaway.error_code if self._goaway is not None else None,
                last_stream_id=last,
            )

    # ---------------------------------------------------------------- reader

    async def _reader_loop(self) -> None:
        if self._initial_data:
            self._feed(self._initial_data)
            self._initial_data = b""
        while not self._closing:
            if self._backlog:
                await trio.lowlevel.checkpoint()
                backlog, self._backlog = self._backlog, None
                if not self._closing:
                    self._dispatch(backlog)
                    self._wake_writer()
                continue
            data: bytes | bytearray | None = None
            with trio.CancelScope(deadline=self._next_deadline()) as scope:
                self._timer_scope = scope
                if self._pending_events is not None and self._read_paused():
                    if self._read_lot is None:
                        self._read_lot = trio.lowlevel.ParkingLot()
                    await self._read_lot.park()
                    continue
                try:
                    data = await self._transport.receive_some(RECEIVE_SIZE)
                except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                    self._close(ConnectionClosed(f"transport failed while receiving: {exc!r}"))
                    return
            self._timer_scope = None
            if data is None:  # a timer is due
                if not self._closing:
                    self._run_timers(trio.current_time())
                continue
            self._feed(data if type(data) is bytes else bytes(data))

    def _read_paused(self) -> bool:
        """HTTP/1.1 has no flow control: stop reading while a request body
        the application has not consumed is buffered (TCP backpressure)."""
        if self._engine.protocol != "http/1.1":
            return False
        return any(s._buffered >= RECEIVE_SIZE for s in self._streams.values())

    def _feed(self, data: bytes) -> None:
        now = trio.current_time()
        self._last_received = now
        if self._deferred_data:
            # A SETTINGS in ``data`` may shrink the windows deferred chunks fit in.
            self._commit_deferred()
        try:
            events = self._engine.receive_data(data)
        except RemoteProtocolError as exc:
            logger.info("closing connection: peer protocol error: %s", exc)
            self._close(ConnectionClosed(f"peer violated the protocol: {exc}", code=exc.code))
            return
        if events:
            self._partial_since = None
            self._handshake_at = None
            self._dispatch(events)
        elif data and self._partial_since is None:
            self._partial_since = now
        if not data and not self._closing:
            self._close(ConnectionClosed("peer closed the connection"))
        self._wake_writer()

    # -------------------------------------------------------------- dispatch

    def _dispatch(self, events: list[ev.Event]) -> None:
        """Dispatch up to ``dispatch_batch`` events; keep the rest for the reader."""
        batch = self._dispatch_batch
        if batch and len(events) > batch:
            self._backlog = events[batch:]
            events = events[:batch]
        for event in events:
            _DISPATCH[type(event)](self, event)

    def _on_request(self, event: ev.RequestReceived) -> None:
        stream_id = event.stream_id
        if (
            self._pending_events is not None
            and self._engine.protocol == "h2"
            and not self._peer_settings_seen
        ):
            # Upgrade: h2c: answer only once the client's preface and SETTINGS
            # arrived, so the response does not ride in the same read as the
            # 101 (curl <= 8.x rejects more than 32 KiB there).
            self._upgraded_request = event
            return
        if (
            self._on_stream is None
            or self._nursery is None
            or self._closing
            or self._active_handlers >= self._max_handlers
        ):
            self._engine.reset_stream(stream_id, ErrorCode.REFUSED_STREAM)
            return
        stream = Stream(self, stream_id, headers=event.headers, remote_ended=event.end_stream)
        self._streams[stream_id] = stream
        self._active_handlers += 1
        self._idle_since = self._park_at = None
        self._nursery.start_soon(self._run_handler, stream, name="mux stream handler")

    def _on_response(self, event: ev.ResponseReceived) -> None:
        stream = self._streams.get(event.stream_id)
        if stream is not None:
            stream._on_response(event.headers, event.end_stream)

    def _on_informational(self, event: ev.InformationalResponseReceived) -> None:
        """1xx responses carry nothing the stream API exposes."""

    def _on_trailers(self, event: ev.TrailersReceived) -> None:
        stream = self._streams.get(event.stream_id)
        if stream is not None:
            stream._on_trailers(event.headers)

    def _on_data(self, event: ev.DataReceived) -> None:
        stream = self._streams.get(event.stream_id)
        if stream is None or stream._error is not None:
            self._acknowledge(event.stream_id, event.flow_controlled_length)
            return
        stream._on_data(event.data, event.flow_controlled_length, event.end_stream)

    def _on_stream_ended(self, event: ev.StreamEnded) -> None:
        stream = self._streams.get(event.stream_id)
        if stream is not None:
            stream._on_end()

    def _on_stream_reset(self, event: ev.StreamReset) -> None:
        stream = self._streams.get(event.stream_id)
        if stream is not None:
            stream._on_reset(event.error_code, event.remote)

    def _on_window_updated(self, event: ev.WindowUpdated) -> None:
        if event.stream_id == 0:
            self._wake_window_waiters()
        else:
            stream = self._streams.get(event.stream_id)
            if stream is not None:
                stream._wake()

    def _on_settings_changed(self, event: ev.SettingsChanged) -> None:
        self._peer_settings_seen = True
        if self._upgraded_request is not None:
            request, self._upgraded_request = self._upgraded_request, None
            self._on_request(request)
        self._wake_window_waiters()
        self._unpark_slots()

    def _on_settings_acknowledged(self, event: ev.SettingsAcknowledged) -> None:
        self._settings_ack_at = None

    def _on_ping(self, event: ev.PingReceived) -> None:
        """The engine already queued the PONG; the flusher sends it."""

    def _on_ping_ack(self, event: ev.PingAcknowledged) -> None:
        if event.data == _KEEPALIVE_PING:
            self._ping_due_at = None
        elif event.data == _SHUTDOWN_PING and self._shutting_down:
            self._send_final_goaway()

    def _on_goaway(self, event: ev.GoAwayReceived) -> None:
        self._goaway = event
        last = event.last_stream_id
        if self._engine.client_side:
            for stream in [s for s in self._streams.values() if s.stream_id > last]:
                stream._fail(self._stream_error(stream, "peer sent GOAWAY"))
        self._unpark_slots()
        self._maybe_finish()

    def _on_connection_closed(self, event: ev.ConnectionClosed) -> None:
        self._close(ConnectionClosed("peer closed the connection"))

    # ---------------------------------------------------------------- writer

    async def _flusher(self) -> None:
        """Send everything queued as ONE ``send_all`` per round, then exit.

        Started on demand by :meth:`_wake_writer` (at most one at a time), it
        runs after the tasks woken in the same scheduler tick queued their
        bytes, so they share a syscall; an idle connection has no writer task.
        """
        transport = self._transport
        try:
            while self._dirty:
                self._dirty = False
                if self._deferred:
                    self._commit_deferred()
                    self._dirty = False  # what it queued goes out below
                data = self._engine.data_to_send()
                if not data:
                    continue
                self._sending = len(data)
                self._unsent = 0
                with trio.move_on_after(self._stall_limit) as stall:
                    await transport.send_all(data)
                if stall.cancelled_caught:
                    self._close(
                        ConnectionClosed(f"timeout: peer read nothing for {self._stall_limit} s")
                    )
                    return
                self.bytes_sent += len(data)
                self._sending = 0
                if self._window_waiters:
                    self._wake_window_waiters()
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            self._close(ConnectionClosed(f"transport failed while sending: {exc!r}"))
        finally:
            self._sending = 0
            self._flushing = False
            if self._flush_done is not None:
                self._flush_done.set()
                self._flush_done = None

    @property
    def _stall_limit(self) -> float:
        stall = self._timeouts.send_stall
        return math.inf if stall is None else stall

    def _defer(self, stream: Stream) -> None:
        """``stream`` holds headers/data for the engine: commit them at the flush."""
        if self._deferred is None:
            self._deferred = []
        self._deferred.append(stream)
        self._wake_writer()

    def _commit_deferred(self) -> None:
        deferred, self._deferred = self._deferred, None
        for stream in deferred or ():
            if stream._pending_headers is None and stream._pending_data is None:
                continue  # committed or dropped meanwhile
            try:
                stream._commit(False)
            except LocalProtocolError as exc:
                logger.error("stream %d: response headers refused: %s", stream.stream_id, exc)
                stream.reset(ErrorCode.INTERNAL_ERROR)

    def _wake_writer(self) -> None:
        """Bytes were queued in the engine: make sure a flusher will send them."""
        self._dirty = True
        if not self._flushing and self._nursery is not None:
            self._flushing = True
            self._nursery.start_soon(self._flusher)

    def _rearm_timers(self) -> None:
        """A timer moved: let the reader wake at the new earliest deadline."""
        if self._timer_scope is not None:
            self._timer_scope.deadline = self._next_deadline()

    def _note_queued(self, size: int) -> None:
        self._unsent += size
        self._wake_writer()

    def _acknowledge(self, stream_id: int, size: int) -> None:
        if size and not self._closing:
            self._engine.acknowledge_received_data(size, stream_id)
            self._wake_writer()
            if self._read_lot is not None:
                self._read_lot.unpark_all()

    def _wake_window_waiters(self) -> None:
        if self._window_waiters:
            for stream in list(self._window_waiters):
                stream._wake()

    def _add_window_waiter(self, stream: Stream) -> None:
        if self._window_waiters is None:
            self._window_waiters = set()
        self._window_waiters.add(stream)

    def _discard_window_waiter(self, stream: Stream) -> None:
        if self._window_waiters is not None:
            self._window_waiters.discard(stream)

    # ---------------------------------------------------------------- timers

    def _arm_initial_timers(self) -> None:
        now = trio.current_time()
        self._last_received = now
        self._idle_since = now
        if self._can_park is not None:
            self._park_at = now + self._park_delay
        t = self._timeouts
        self._handshake_at = now + t.handshake if t.handshake is not None else None
        self._settings_ack_at = now + t.settings_ack if t.settings_ack is not None else None
        if self._engine.protocol == "http/1.1":
            self._settings_ack_at = None  # no SETTINGS in HTTP/1.1

    def _next_deadline(self) -> float:
        t = self._timeouts
        candidates = [math.inf]
        for at in (self._handshake_at, self._settings_ack_at, self._shutdown_ping_at):
            if at is not None:
                candidates.append(at)
        if self._partial_since is not None and t.frame is not None:
            candidates.append(self._partial_since + t.frame)
        if self._ping_due_at is not None:
            candidates.append(self._ping_due_at)
        elif t.keepalive_interval is not None and self._engine.protocol != "http/1.1":
            candidates.append(self._last_received + t.keepalive_interval)
        if self._idle_since is not None and t.idle is not None:
            candidates.append(self._idle_since + t.idle)
        if self._park_at is not None:
            candidates.append(self._park_at)
        return min(candidates)

    def _run_timers(self, now: float) -> None:
        t = self._timeouts
        if self._handshake_at is not None and now >= self._handshake_at:
            self._timeout("no preface/SETTINGS", t.handshake, ErrorCode.PROTOCOL_ERROR)
        elif self._settings_ack_at is not None and now >= self._settings_ack_at:
            self._timeout("SETTINGS not acknowledged", t.settings_ack, ErrorCode.SETTINGS_TIMEOUT)
        elif (
            t.frame is not None
            and self._partial_since is not None
            and now >= self._partial_since + t.frame
        ):
            self._timeout("incomplete frame", t.frame, ErrorCode.PROTOCOL_ERROR)
        if self._closing:
            return
        if self._ping_due_at is not None and now >= self._ping_due_at:
            self._timeout("keepalive PING not answered", t.keepalive_timeout, ErrorCode.NO_ERROR)
        elif (
            self._ping_due_at is None
            and t.keepalive_interval is not None
            and self._engine.protocol != "http/1.1"
            and now >= self._last_received + t.keepalive_interval
        ):
            self._engine.ping(_KEEPALIVE_PING)
            self._ping_due_at = now + t.keepalive_timeout
            self._wake_writer()
        if self._idle_since is not None and t.idle is not None and now >= self._idle_since + t.idle:
            self._timeout("idle", t.idle, ErrorCode.NO_ERROR)
        if self._shutdown_ping_at is not None and now >= self._shutdown_ping_at:
            self._send_final_goaway()
        if self._park_at is not None and now >= self._park_at and not self._closing:
            self._request_park()

    def _timeout(self, what: str, seconds: float | None, code: ErrorCode) -> None:
        if self._closing:
            return
        message = f"{what} within {seconds} s"
        logger.info("closing connection: %s", message)
        self._close(ConnectionClosed(f"timeout: {message}", code=code), code, message.encode())

    # ------------------------------------------------------ handlers/streams

    async def _run_handler(self, stream: Stream) -> None:
        assert self._on_stream is not None
        try:
            with trio.CancelScope() as scope:
                stream._handler_scope = scope
                await self._on_stream(stream)
        except (StreamError, ConnectionClosed) as exc:
            logger.debug("stream %d ended early: %s", stream.stream_id, exc)
        except Exception:
            logger.exception("handler for stream %d failed", stream.stream_id)
        finally:
            stream._handler_scope = None
            self._active_handlers -= 1
            if not stream.local_ended:
                stream.reset(ErrorCode.INTERNAL_ERROR)
            elif not stream.is_done:
                # Response complete, request body unread: tell the peer to stop.
                stream.reset(ErrorCode.NO_ERROR)
            self._became_quieter()

    def _stream_done(self, stream: Stream) -> None:
        if self._streams.pop(stream.stream_id, None) is None:
            return
        self._discard_window_waiter(stream)
        if self._engine.client_side and self._slot_lot is not None:
            self._slot_lot.unpark()
        if self._pending_events is not None and not self._closing:
            for event in self._pending_events():
                _DISPATCH[type(event)](self, event)
            if self._read_lot is not None:
                self._read_lot.unpark_all()
        self._became_quieter()

    def _became_quieter(self) -> None:
        if not self._streams and not self._active_handlers:
            self._idle_since = now = trio.current_time()
            if self._can_park is not None:
                self._park_at = now + self._park_delay
            self._rearm_timers()
            if self._pending_events is not None and getattr(self._engine, "must_close", False):
                done = ConnectionClosed("HTTP/1.1 exchange complete", code=ErrorCode.NO_ERROR)
                self._close(done)
                return
            self._maybe_finish()

    def _send_final_goaway(self) -> None:
        self._shutdown_ping_at = None
        if self._final_goaway_sent or self._closing:
            return
        self._final_goaway_sent = True
        try:
            self._engine.close_connection(ErrorCode.NO_ERROR)
        except LocalProtocolError:
            pass  # the engine is already past GOAWAY
        self._wake_writer()
        self._maybe_finish()

    def _maybe_finish(self) -> None:
        """Close once draining is complete (shutdown or peer GOAWAY, nothing in flight)."""
        if self._closing or self._streams or self._active_handlers:
            return
        if self._final_goaway_sent or self._goaway is not None:
            done = ConnectionClosed("connection shut down gracefully", code=ErrorCode.NO_ERROR)
            self._close(done)

    # ----------------------------------------------------------------- close

    def _close(
        self, error: ConnectionClosed, goaway: ErrorCode | None = None, debug: bytes = b""
    ) -> None:
        """The one way a connection ends (idempotent); see the module docstring."""
        if self._closing:
            return
        self._closing = True
        self._error = error
        if goaway is not None:
            try:
                self._engine.close_connection(goaway, debug_data=debug)
            except LocalProtocolError:
                pass
        for stream in list(self._streams.values()):
            stream._fail(self._stream_error(stream, str(error)))
        self._streams.clear()
        self._unpark_slots()
        self._wake_writer()
        if self._nursery is not None:
            self._nursery.start_soon(self._finish_close)

    async def _finish_close(self) -> None:
        with trio.move_on_after(self._timeouts.close_flush):
            while self._flushing:
                if self._flush_done is None:
                    self._flush_done = trio.Event()
                await self._flush_done.wait()
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    def _stream_error(self, stream: Stream, reason: str) -> ConnectionClosed:
        goaway = self._goaway
        base = self._error
        code = goaway.error_code if goaway is not None else (base.code if base else None)
        last = goaway.last_stream_id if goaway is not None else None
        if self._engine.client_side and last is not None and stream.stream_id > last:
            fate = "was not processed by the peer (safe to retry)"
        elif self._engine.client_side:
            fate = "may have been processed by the peer"
        else:
            fate = "was interrupted"
        name = f" ({code_name(code)})" if code is not None else ""
        return ConnectionClosed(
            f"{reason}{name}: stream {stream.stream_id} {fate}", code=code, last_stream_id=last
        )


_DISPATCH: dict[type, Callable[[ConnectionDriver, ev.Event], None]] = {
    ev.RequestReceived: ConnectionDriver._on_request,  # type: ignore[dict-item]
    ev.ResponseReceived: ConnectionDriver._on_response,  # type: ignore[dict-item]
    ev.InformationalResponseReceived: ConnectionDriver._on_informational,  # type: ignore[dict-item]
    ev.TrailersReceived: ConnectionDriver._on_trailers,  # type: ignore[dict-item]
    ev.DataReceived: ConnectionDriver._on_data,  # type: ignore[dict-item]
    ev.StreamEnded: ConnectionDriver._on_stream_ended,  # type: ignore[dict-item]
    ev.StreamReset: ConnectionDriver._on_stream_reset,  # type: ignore[dict-item]
    ev.WindowUpdated: ConnectionDriver._on_window_updated,  # type: ignore[dict-item]
    ev.SettingsChanged: ConnectionDriver._on_settings_changed,  # type: ignore[dict-item]
    ev.SettingsAcknowledged: ConnectionDriver._on_settings_acknowledged,  # type: ignore[dict-item]
    ev.PingReceived: ConnectionDriver._on_ping,  # type: ignore[dict-item]
    ev.PingAcknowledged: ConnectionDriver._on_ping_ack,  # type: ignore[dict-item]
    ev.GoAwayReceived: ConnectionDriver._on_goaway,  # type: ignore[dict-item]
    ev.ConnectionClosed: ConnectionDriver._on_connection_closed,  # type: ignore[dict-item]
}
