"""The reader loop and event dispatch of :class:`~mux.driver.connection.ConnectionDriver`.

Theory of operation
-------------------
The reader (the task running :meth:`ConnectionDriver.run`) calls
``receive_some`` under the timer deadline, feeds the bytes to the engine and
dispatches each event through :data:`DISPATCH` to a ``_on_*`` method: a dict
lookup to the :class:`~mux.driver.stream.Stream`, no task per stream. A new
request on a server starts one handler task. With ``dispatch_batch`` set, the
events beyond the batch wait in a backlog until the woken tasks have run.

Engines that can (MuxConnection) size the reads: on a plain TCP socket, large
DATA payloads are read frame-aligned and uncopied through
:class:`~mux.driver.bulkread.BulkReader` (header, then the whole payload), and
after a wake-up the frames already in are taken in the same step, up to a
burst (:meth:`ReaderMixin._bulk_burst`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

import trio

from mux.core import events as ev
from mux.driver.bulkread import BulkReader
from mux.driver.stream import Stream
from mux.driver.timers import TimersMixin
from mux.driver.tuning import KEEPALIVE_PING, MAX_RECEIVE_SIZE, RECEIVE_SIZE, SHUTDOWN_PING
from mux.errors import ConnectionClosed, ErrorCode, RemoteProtocolError, code_name
from mux.logs import peer_error
from mux.ops.counters import DRIVER_COUNTERS

if TYPE_CHECKING:
    from mux.driver.connection import ConnectionDriver

logger = logging.getLogger("mux.driver")


class ReaderMixin(TimersMixin):
    """The reader loop and one handler per engine event type."""

    __slots__ = ()

    # ---------------------------------------------------------------- reader

    async def _reader_loop(self) -> None:
        if self._initial_data:
            self._feed(self._initial_data)
            self._initial_data = b""
        # Grows while reads come back full (bulk data), back to RECEIVE_SIZE
        # otherwise; receive_some allocates only once bytes are there.
        receive_size = RECEIVE_SIZE
        # Engines that can (MuxConnection) say how much to read so that large
        # DATA payloads arrive frame-aligned and uncopied (mux.driver.bulkread).
        read_hint: Callable[[int], int] | None = getattr(self._engine, "next_read_size", None)
        bulk = BulkReader.for_transport(self._transport) if read_hint is not None else None
        while not self._closing:
            # One cancel scope serves many reads (a scope costs as much as a
            # checkpoint): between reads its deadline only moves earlier. A
            # timer that moved later costs one early wake-up, in which
            # _run_timers finds nothing due, and a fresh scope.
            with trio.CancelScope(deadline=self._next_deadline()) as scope:
                self._timer_scope = scope
                while not self._closing:
                    deadline = self._next_deadline()
                    if deadline < scope.deadline:
                        scope.deadline = deadline
                    if self._backlog:
                        await trio.lowlevel.checkpoint()
                        backlog, self._backlog = self._backlog, None
                        if not self._closing:
                            self._dispatch(backlog)
                            self._wake_writer()
                        continue
                    if self._pending_events is not None and self._read_paused():
                        if self._read_lot is None:
                            self._read_lot = trio.lowlevel.ParkingLot()
                        await self._read_lot.park()
                        continue
                    ask = receive_size
                    try:
                        if bulk is not None and read_hint is not None:
                            ask = min(read_hint(receive_size), MAX_RECEIVE_SIZE)
                            data = await self._bulk_read(bulk, ask, receive_size)
                        else:
                            data = await self._transport.receive_some(ask)
                    except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                        self._close(ConnectionClosed(f"transport failed while receiving: {exc!r}"))
                        return
                    if ask != receive_size:
                        pass  # an aligned read says nothing about the pace
                    elif len(data) >= receive_size:
                        receive_size = min(receive_size * 4, MAX_RECEIVE_SIZE)
                    elif receive_size > RECEIVE_SIZE:
                        receive_size = RECEIVE_SIZE
                    self._feed(data if type(data) is bytes else bytes(data))
                    if bulk is not None and read_hint is not None and data:
                        self._bulk_burst(bulk, read_hint, receive_size)
            self._timer_scope = None
            if scope.cancelled_caught and not self._closing:
                self._run_timers(trio.current_time())

    async def _bulk_read(self, bulk: BulkReader, ask: int, usual: int) -> bytes | bytearray:
        """One read as the engine's hint ``ask`` says (``usual``: no alignment)."""
        if ask > usual:  # the rest of a large DATA payload
            return await bulk.read(ask)
        if ask < usual:  # the header after a large DATA frame: usually here already
            data = bulk.read_now(ask)
            if data is not None:
                # No checkpoint: the payload read that follows waits for the
                # socket, so the reader still yields once per frame.
                return data
        bulk.reset()  # waiting for bytes nobody owes us yet: any byte wakes
        return await self._transport.receive_some(ask)

    def _bulk_burst(self, bulk: BulkReader, read_hint: Callable[[int], int], usual: int) -> None:
        """Feed the aligned reads whose bytes are already in, in this step."""
        try:
            while not self._closing:
                ask = read_hint(usual)
                if ask == usual:
                    return
                data = bulk.take(min(ask, MAX_RECEIVE_SIZE), ask > usual)
                if data is None:
                    return
                if ask < usual and len(data) == ask and self._feed_header(data):
                    continue
                self._feed(data)
                if not data:
                    return
        except trio.BrokenResourceError as exc:
            self._close(ConnectionClosed(f"transport failed while receiving: {exc!r}"))

    def _feed_header(self, data: bytes) -> bool:
        """Feed a lone frame header read in a burst; False: use :meth:`_feed`.

        The common case, the header of the next large DATA frame, yields no
        event: then only the frame timer needs its start (the payload read
        right after brings the events and the rest of the bookkeeping).
        """
        if self._deferred_data or self._pending_events is not None:
            return False
        self.bytes_received += len(data)
        events = self._engine_events(data)
        if events:
            self._progress(events, trio.current_time())
            self._wake_writer_if_queued()
        elif events is not None and self._partial_since is None:
            self._partial_since = trio.current_time()
        return True

    def _read_paused(self) -> bool:
        """HTTP/1.1 has no flow control: stop reading while a request body
        the application has not consumed is buffered (TCP backpressure)."""
        if self._engine.protocol != "http/1.1":
            return False
        return any(s._buffered >= RECEIVE_SIZE for s in self._streams.values())

    def _feed(self, data: bytes) -> None:
        now = trio.current_time()
        self._last_received = now
        self.bytes_received += len(data)
        if self._deferred_data:
            # A SETTINGS in ``data`` may shrink the windows deferred chunks fit in.
            self._commit_deferred()
        events = self._engine_events(data)
        if events is None:
            return
        self._track_header_block(now)
        if events:
            self._progress(events, now)
        elif data and self._partial_since is None:
            self._partial_since = now
        if not data and not self._closing:
            self._close(ConnectionClosed("peer closed the connection"))
        self._wake_writer_if_queued()

    def _engine_events(self, data: bytes) -> list[ev.Event] | None:
        """The engine's events for ``data``; None: a protocol error closed the connection."""
        try:
            return self._engine.receive_data(data)
        except RemoteProtocolError as exc:
            peer_error(logger, code_name(exc.code), "closing connection: peer error %s", exc)
            DRIVER_COUNTERS.goaway_sent[code_name(exc.code)] += 1  # the engine queued it
            self._close(ConnectionClosed(f"peer violated the protocol: {exc}", code=exc.code))
            return None

    def _progress(self, events: list[ev.Event], now: float) -> None:
        """Events arrived: timers learn of the progress, then the events are dispatched."""
        # An engine that delivers a large DATA frame piece by piece says whether
        # it is still inside one: then the frame timer restarts, so a peer that
        # stops mid-payload is still caught, but only on real progress
        # (take_frame_progress), so one trickling a byte a second is caught too.
        engine = self._engine
        if not getattr(engine, "mid_frame", False):
            self._partial_since = None
        elif self._partial_since is None or getattr(engine, "take_frame_progress", _yes)():
            self._partial_since = now
        self._handshake_at = None
        self._dispatch(events)

    # -------------------------------------------------------------- dispatch

    def _dispatch(self, events: list[ev.Event]) -> None:
        """Dispatch up to ``dispatch_batch`` events; keep the rest for the reader."""
        batch = self._dispatch_batch
        if batch and len(events) > batch:
            self._backlog = events[batch:]
            events = events[:batch]
        for event in events:
            DISPATCH[type(event)](self, event)

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
        driver = cast("ConnectionDriver", self)  # the only concrete subclass
        stream = Stream(
            driver,
            stream_id,
            headers=event.headers,
            remote_ended=event.end_stream,
            head=_is_head(event.headers),
        )
        self._streams[stream_id] = stream
        self._active_handlers += 1
        self._idle_since = self._park_at = None
        self._nursery.start_soon(self._run_handler, stream, name="mux stream handler")
        if getattr(self._engine, "streams_exhausted", False):
            # The engine sent its final GOAWAY (streams per connection, spec
            # 11.2): close once the streams are done, as after a shutdown.
            self._final_goaway_sent = True

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
        if event.data == KEEPALIVE_PING:
            self._ping_due_at = None
        elif event.data == SHUTDOWN_PING and self._shutting_down:
            self._send_final_goaway()

    def _on_goaway(self, event: ev.GoAwayReceived) -> None:
        self._goaway = event
        DRIVER_COUNTERS.goaway_received[code_name(event.error_code)] += 1
        last = event.last_stream_id
        if self._engine.client_side:
            for stream in [s for s in self._streams.values() if s.stream_id > last]:
                stream._fail(self._stream_error(stream, "peer sent GOAWAY"))
        self._unpark_slots()
        if getattr(self._engine, "is_closed", False):
            # The engine ended with the GOAWAY (mux, an error code: spec 9.1):
            # nothing more can be sent, so the streams end now.
            self._close(self._peer_goaway_error())
            return
        self._maybe_finish()

    def _on_connection_closed(self, event: ev.ConnectionClosed) -> None:
        self._close(ConnectionClosed("peer closed the connection"))

    def _stream_done(self, stream: Stream) -> None:
        if self._streams.pop(stream.stream_id, None) is None:
            return
        self._discard_window_waiter(stream)
        if self._engine.client_side and self._slot_lot is not None:
            self._slot_lot.unpark()
        if self._pending_events is not None and not self._closing:
            for event in self._pending_events():
                DISPATCH[type(event)](self, event)
            if self._read_lot is not None:
                self._read_lot.unpark_all()
        self._became_quieter()


def _yes() -> bool:
    """Progress of an engine that cannot tell: every piece counts."""
    return True


def _is_head(headers: list[tuple[bytes, bytes]]) -> bool:
    """True for a HEAD request (looks at the pseudo-headers only)."""
    for name, value in headers:
        if name == b":method":
            return value == b"HEAD"
        if not name.startswith(b":"):
            break
    return False


DISPATCH: dict[type, Callable[[ReaderMixin, ev.Event], None]] = {
    ev.RequestReceived: ReaderMixin._on_request,  # type: ignore[dict-item]
    ev.ResponseReceived: ReaderMixin._on_response,  # type: ignore[dict-item]
    ev.InformationalResponseReceived: ReaderMixin._on_informational,  # type: ignore[dict-item]
    ev.TrailersReceived: ReaderMixin._on_trailers,  # type: ignore[dict-item]
    ev.DataReceived: ReaderMixin._on_data,  # type: ignore[dict-item]
    ev.StreamEnded: ReaderMixin._on_stream_ended,  # type: ignore[dict-item]
    ev.StreamReset: ReaderMixin._on_stream_reset,  # type: ignore[dict-item]
    ev.WindowUpdated: ReaderMixin._on_window_updated,  # type: ignore[dict-item]
    ev.SettingsChanged: ReaderMixin._on_settings_changed,  # type: ignore[dict-item]
    ev.SettingsAcknowledged: ReaderMixin._on_settings_acknowledged,  # type: ignore[dict-item]
    ev.PingReceived: ReaderMixin._on_ping,  # type: ignore[dict-item]
    ev.PingAcknowledged: ReaderMixin._on_ping_ack,  # type: ignore[dict-item]
    ev.GoAwayReceived: ReaderMixin._on_goaway,  # type: ignore[dict-item]
    ev.ConnectionClosed: ReaderMixin._on_connection_closed,  # type: ignore[dict-item]
}
