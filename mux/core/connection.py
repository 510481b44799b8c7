"""MuxConnection: the sans-IO mux/msgpack engine (frames <-> events).

Theory of operation
-------------------
One object per connection implements :class:`mux.core.engine.Engine`: the
driver feeds bytes to :meth:`MuxConnection.receive_data`, reads the events,
issues commands that *queue* bytes in one ``bytearray``, and drains them with
:meth:`MuxConnection.data_to_send` (joined) or
:meth:`MuxConnection.data_to_send_chunks` (a list for a vectored send). A DATA
payload of at least :data:`BY_REFERENCE` bytes given as ``bytes`` is queued
as memoryviews of it (``bytes`` is immutable), never copied into the buffer.
No I/O, and no timers: keepalive and timeouts belong to the driver (it
calls :meth:`ping` and :meth:`close_connection`). The one clock reading
(``clock``, monotonic by default) tells a peer's keepalive PINGs, at most one
per the KEEPALIVE_INTERVAL it advertised, from a PING flood (spec 9.3).

The class is split by concern into one slotted hierarchy (no extra objects,
no indirection on the hot path):

* :mod:`mux.core.connstate` - every field, the output queue, the flood
  counters and the bookkeeping shared by both directions;
* :mod:`mux.core.receive` - ``receive_data`` and the per-frame-type handlers
  (spec/mux-protocol.md Sections 3-8 for received frames, connection and
  stream errors);
* this module - the public commands (what we send) and properties.

Commands check their preconditions before changing anything: a caller
mistake is a :class:`~mux.errors.LocalProtocolError` and nothing is queued.
Closed connections refuse commands the same way.

Flow control: see :mod:`mux.core.flow`. DATA we send debits both send
windows; DATA delivered as ``DataReceived`` is credited back to the peer only
by :meth:`acknowledge_received_data`.

Memory: the stream table holds only open streams (:mod:`mux.core.streams`);
flood budgets are a handful of counters (:mod:`mux.core.limits`). A fresh
connection is ~1.5 KB (see tests/core/test_streams.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from mux.core import events as ev
from mux.core.compiled import mypyc_attr
from mux.core.connstate import DATA, HEADERS, PING, RST, WINDOW_UPDATE, pack_header
from mux.core.flow import outstanding, update_due
from mux.core.frames import (
    END_STREAM,
    MAX_STREAM_ID,
    encode_headers,
)
from mux.core.headers import check_request, check_response, check_trailers
from mux.core.receive import FrameReceiver
from mux.core.settings import Settings, check_settings
from mux.core.streams import Stream
from mux.errors import (
    ErrorCode,
    LocalFlowControlError,
    LocalProtocolError,
    RemoteProtocolError,
)

#: Our SETTINGS frames awaiting ACK; more is a caller bug (unbounded otherwise).
MAX_PENDING_SETTINGS: Final = 16
#: DATA payloads (``bytes``) at least this long are queued by reference.
BY_REFERENCE: Final = 16384
#: Payload bytes of a DATA frame arriving in pieces that restart a frame timer
#: (:meth:`MuxConnection.take_frame_progress`).
FRAME_PROGRESS: Final = 4096


@mypyc_attr(allow_interpreted_subclasses=True)
class MuxConnection(FrameReceiver):
    """The mux/msgpack engine for one connection (client or server side).

    Args:
        client_side: True for the side that opens (odd) streams.
        limits: our advertised settings and flood budgets.
    """

    protocol = "mux"

    __slots__ = ()

    # ------------------------------------------------------------ properties

    @property
    def local_settings(self) -> Settings:
        """Our settings as acknowledged by the peer."""
        return self._local

    @property
    def remote_settings(self) -> Settings:
        """The peer's settings in force."""
        return self._remote

    @property
    def goaway_sent(self) -> bool:
        """We queued a GOAWAY."""
        return self._goaway_sent_id is not None

    @property
    def goaway_received(self) -> bool:
        """The peer sent a GOAWAY."""
        return self._goaway_received_id is not None

    @property
    def streams_exhausted(self) -> bool:
        """The peer opened as many streams as ``limits.max_streams_per_connection``:
        our GOAWAY naming the last one is queued and it is final (no second step)."""
        return self._opened >= self.limits.max_streams_per_connection

    @property
    def is_closed(self) -> bool:
        """A connection error, an error GOAWAY or EOF ended the connection."""
        return self._closed

    @property
    def open_outbound_streams(self) -> int:
        """Streams we opened that are not yet closed."""
        return self._table.open_outbound

    @property
    def open_inbound_streams(self) -> int:
        """Streams the peer opened that are not yet closed."""
        return self._table.open_inbound

    @property
    def max_outbound_streams(self) -> int:
        """The peer's MAX_CONCURRENT_STREAMS."""
        return self._remote.max_concurrent_streams

    @property
    def highest_inbound_stream_id(self) -> int:
        """The highest stream id the peer opened (refused ids included), 0 if none."""
        return self._table.highest_inbound

    # ------------------------------------------------------------ commands

    def initiate_connection(self) -> None:
        """Queue our preface and our first SETTINGS (non-default limits only).

        Raises:
            LocalProtocolError: called twice.
        """
        if self._initiated:
            raise LocalProtocolError("initiate_connection() was already called")
        self._initiate()

    def update_settings(self, changes: Mapping[int, int]) -> None:
        """Send new values of our settings; lowered limits bind once ACKed.

        Raises:
            LocalProtocolError: a value is out of range, too many SETTINGS
                await ACK, or the connection is closed. Nothing is sent.
        """
        self._check_usable()
        try:
            check_settings(changes)
        except RemoteProtocolError as exc:
            raise LocalProtocolError(str(exc.args[0]), exc.code) from None
        if len(self._pending) >= MAX_PENDING_SETTINGS:
            raise LocalProtocolError(f"{len(self._pending)} SETTINGS frames already await ACK")
        self._send_settings(dict(changes))

    def data_to_send(self) -> bytes:
        """Drain and return every byte queued for the peer."""
        chunks = self._chunks
        if chunks is None:
            out = bytes(self._out)
        else:
            if self._out:
                chunks.append(bytes(self._out))
            out = b"".join(chunks)
            self._chunks = None
        self._out.clear()
        self._queued_control = 0
        return out

    @property
    def has_data_to_send(self) -> bool:
        """Whether :meth:`data_to_send` would return anything (cheap check)."""
        return bool(self._out) or bool(self._chunks)

    @property
    def mid_frame(self) -> bool:
        """Whether a frame has started arriving and is not complete yet."""
        return self._decoder.mid_frame

    def take_frame_progress(self) -> bool:
        """Whether the frame under way progressed enough to restart a frame timer.

        A large DATA frame is delivered piece by piece, so its pieces bring
        events while it is incomplete. A driver that restarted its
        incomplete-frame timer on every piece would let a peer trickle one
        payload byte a second forever (spec 11.4). This says True only when a
        new frame started arriving in pieces or :data:`FRAME_PROGRESS` more
        payload bytes of it arrived since the last True: a minimum rate of
        FRAME_PROGRESS bytes per frame timeout, far below any real link.
        """
        decoder = self._decoder
        received = decoder.partial_length - decoder.data_left
        mark = (decoder.partial_serial, received // FRAME_PROGRESS)
        if mark == self._progress_mark:
            return False
        self._progress_mark = mark
        return True

    def next_read_size(self, default: int) -> int:
        """How many bytes to read next so bulk DATA arrives frame-aligned.

        Inside a large DATA payload this is the rest of it (the read is then
        delivered as its own ``bytes``, uncopied); right after a large DATA
        frame it is one frame header; otherwise ``default``. Only a hint:
        any read size decodes the same.
        """
        return self._decoder.next_read_size(default)

    def data_to_send_chunks(self) -> list[bytes | memoryview]:
        """Like :meth:`data_to_send`, without joining: the pieces, in order.

        Large DATA payloads come back as views of the caller's ``bytes``
        (never copied), so a vectored send can write them directly.
        """
        chunks = self._chunks
        self._chunks = None
        if chunks is None:
            chunks = []
        if self._out:
            chunks.append(bytes(self._out))
            self._out.clear()
        self._queued_control = 0
        return chunks

    def get_next_available_stream_id(self) -> int:
        """The id the next request stream would get (client side only).

        Raises:
            LocalProtocolError: on the server side, or when ids are exhausted.
        """
        if not self.client_side:
            raise LocalProtocolError("a v1 server opens no streams")
        highest = self._table.highest_outbound
        next_id = highest + 2 if highest else 1
        if next_id > MAX_STREAM_ID:
            raise LocalProtocolError("stream ids exhausted: open a new connection")
        return next_id

    def send_headers(
        self, stream_id: int, headers: ev.Headers, *, end_stream: bool = False
    ) -> None:
        """Open a stream (client), answer one (server) or send trailers.

        Raises:
            LocalProtocolError: the stream cannot carry HEADERS now, the headers
                break the rules of :mod:`mux.core.headers`, or the encoded block
                exceeds the peer's MAX_HEADER_LIST_SIZE / MAX_FRAME_SIZE.
                Nothing changes.
        """
        self._check_usable()
        stream = self._streams.get(stream_id)
        if stream is None:
            self._check_can_open(stream_id)
            problem = check_request(headers)
        elif not stream.can_send:
            raise LocalProtocolError(f"stream {stream_id} is closed for sending")
        elif not stream.headers_sent:
            problem = check_response(headers)
        else:
            problem = check_trailers(headers) if end_stream else "trailers need end_stream=True"
        if problem is not None:
            raise LocalProtocolError(f"cannot send headers on stream {stream_id}: {problem}")
        payload = encode_headers(headers)
        limit = min(self._remote.max_header_list_size, self._remote.max_frame_size)
        if len(payload) > limit:
            raise LocalProtocolError(
                f"header block of {len(payload)} bytes exceeds the peer's limit of {limit}"
            )
        if stream is None:
            remote = self._remote
            stream = Stream(
                stream_id, remote.initial_stream_window, self._effective.initial_stream_window
            )
            self._table.add(stream)
            self._opened += 1
        stream.headers_sent = True
        out = self._out
        out += pack_header(len(payload), HEADERS, END_STREAM if end_stream else 0, stream_id)
        out += payload
        if end_stream:
            self._local_end(stream)

    def _check_can_open(self, stream_id: int) -> None:
        if not self.client_side:
            raise LocalProtocolError(f"stream {stream_id} is not open (a server opens none)")
        if stream_id % 2 == 0 or not self._table.highest_outbound < stream_id <= MAX_STREAM_ID:
            raise LocalProtocolError(
                f"stream id {stream_id} must be odd and above {self._table.highest_outbound}"
            )
        if self._goaway_received_id is not None or self._goaway_sent_id is not None:
            raise LocalProtocolError("no new streams after GOAWAY")
        if self._table.open_outbound >= self._remote.max_concurrent_streams:
            raise LocalProtocolError(
                f"peer allows {self._remote.max_concurrent_streams} concurrent streams"
            )

    def send_data(self, stream_id: int, data: bytes, *, end_stream: bool = False) -> None:
        """Queue body bytes, split into frames of at most the peer's MAX_FRAME_SIZE.

        Raises:
            LocalFlowControlError: ``len(data)`` exceeds
                :meth:`local_flow_control_window`.
            LocalProtocolError: the stream is not open for sending, or its
                HEADERS were not sent. Nothing changes.
        """
        self._check_usable()
        stream = self._streams.get(stream_id)
        if stream is None or not stream.can_send or not stream.headers_sent:
            raise LocalProtocolError(f"stream {stream_id} is not open for sending data")
        size = len(data)
        window = min(stream.send_window, self._send_window)
        if size > window:
            raise LocalFlowControlError(
                f"{size} bytes exceed the send window {max(window, 0)} of stream {stream_id}"
            )
        if size == 0 and not end_stream:
            return
        self._write_data(stream_id, data, size, END_STREAM if end_stream else 0)
        stream.send_window -= size
        self._send_window -= size
        if size:
            self._control_count = self._unknown_count = 0
        if end_stream:
            self._local_end(stream)

    def _write_data(self, stream_id: int, data: bytes, size: int, end_flag: int) -> None:
        if size >= BY_REFERENCE and type(data) is bytes:
            self._write_data_by_reference(stream_id, data, size, end_flag)
            return
        out = self._out
        max_frame = self._remote.max_frame_size
        if size <= max_frame:
            out += pack_header(size, DATA, end_flag, stream_id)
            out += data
            return
        with memoryview(data) as view:
            for offset in range(0, size, max_frame):
                chunk = view[offset : offset + max_frame]
                last = offset + max_frame >= size
                out += pack_header(len(chunk), DATA, end_flag if last else 0, stream_id)
                out += chunk

    def _write_data_by_reference(
        self, stream_id: int, data: bytes, size: int, end_flag: int
    ) -> None:
        """Queue DATA frames whose payloads are views of ``data`` (immutable)."""
        chunks = self._chunks
        if chunks is None:
            chunks = self._chunks = []
        out = self._out
        max_frame = self._remote.max_frame_size
        view = memoryview(data)
        for offset in range(0, size, max_frame):
            chunk = view[offset : offset + max_frame]
            last = offset + max_frame >= size
            out += pack_header(len(chunk), DATA, end_flag if last else 0, stream_id)
            chunks.append(bytes(out))
            out.clear()
            chunks.append(chunk)

    def end_stream(self, stream_id: int) -> None:
        """Half-close our side with an empty DATA frame carrying END_STREAM.

        Raises:
            LocalProtocolError: the stream is not open for sending.
        """
        self.send_data(stream_id, b"", end_stream=True)

    def reset_stream(self, stream_id: int, error_code: ErrorCode = ErrorCode.CANCEL) -> None:
        """Abort an open stream with RST_STREAM; unknown or closed streams: no-op.

        Data the application still holds for the stream should be acknowledged
        (:meth:`acknowledge_received_data`) so the connection window recovers.
        """
        if self._closed or stream_id not in self._streams:
            return
        self._out += pack_header(4, RST, 0, stream_id) + int(error_code).to_bytes(4)
        self._table.remove(stream_id, reset_by_us=True)

    def acknowledge_received_data(self, size: int, stream_id: int) -> None:
        """The application consumed ``size`` bytes of ``stream_id``: return credit.

        The connection credit is returned even when the stream has closed.

        Raises:
            LocalProtocolError: ``size`` is negative or more than was delivered
                and not yet acknowledged.
        """
        if size < 0:
            raise LocalProtocolError(f"cannot acknowledge {size} bytes")
        if size == 0 or self._closed:
            return
        pending = outstanding(self._connection_target(), self._recv_window, self._recv_unannounced)
        if size > pending:
            raise LocalProtocolError(f"acknowledged {size} bytes, only {pending} outstanding")
        stream = self._streams.get(stream_id)
        if stream is not None and stream.can_receive:
            target = self._stream_target(stream_id)
            unannounced = stream.recv_unannounced + size
            if unannounced > outstanding(target, stream.recv_window, 0):
                raise LocalProtocolError(f"acknowledged more than stream {stream_id} received")
            if update_due(unannounced, target):
                self._out += pack_header(4, WINDOW_UPDATE, 0, stream_id)
                self._out += unannounced.to_bytes(4)
                stream.recv_window += unannounced
                unannounced = 0
            stream.recv_unannounced = unannounced
        self._credit_connection(size)

    def local_flow_control_window(self, stream_id: int) -> int:
        """Body bytes we may send on ``stream_id`` now (never negative).

        Raises:
            LocalProtocolError: the stream is not open for sending.
        """
        stream = self._streams.get(stream_id)
        if stream is None or not stream.can_send:
            raise LocalProtocolError(f"stream {stream_id} is not open for sending")
        return max(0, min(stream.send_window, self._send_window))

    def ping(self, data: bytes) -> None:
        """Queue a PING with 8 opaque bytes.

        The payload :data:`mux.core.flow.BDP_PING` is reserved: the receive-window
        tuner's samples use it and consume their ACK, so a PING of ours with it
        could lose its :class:`~mux.core.events.PingAcknowledged`. Any other
        8 bytes are acknowledged as usual, also while a sample is in flight.

        Raises:
            LocalProtocolError: ``data`` is not 8 bytes, is the reserved
                ``BDP_PING`` payload, or the connection is closed.
        """
        from mux.core.flow import BDP_PING  # cached import: ping() is rare

        self._check_usable()
        if len(data) != 8:
            raise LocalProtocolError(f"PING data must be 8 bytes, got {len(data)}")
        if data == BDP_PING:
            raise LocalProtocolError(
                f"PING data {BDP_PING!r} is reserved for window tuning (flow.BDP_PING)"
            )
        self._out += pack_header(8, PING, 0, 0) + data

    def close_connection(
        self,
        error_code: ErrorCode = ErrorCode.NO_ERROR,
        *,
        last_stream_id: int | None = None,
        debug_data: bytes = b"",
    ) -> None:
        """Queue GOAWAY; a later GOAWAY never raises ``last_stream_id``.

        ``last_stream_id`` None means the highest peer stream we processed.
        With NO_ERROR open streams continue (graceful); any other code closes
        the connection. A no-op once the connection is closed.
        """
        if self._closed:
            return
        if not self._initiated:
            self.initiate_connection()
        last = self._last_processed if last_stream_id is None else last_stream_id
        self._queue_goaway(last, int(error_code), debug_data)
        if error_code != ErrorCode.NO_ERROR:
            self._closed = True

    def _check_usable(self) -> None:
        if self._closed:
            raise LocalProtocolError("the connection is closed")
        if not self._initiated:
            raise LocalProtocolError("call initiate_connection() first")
