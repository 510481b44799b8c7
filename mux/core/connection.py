"""MuxConnection: the sans-IO mux/msgpack engine (frames <-> events).

Theory of operation
-------------------
One object per connection implements :class:`mux.core.engine.Engine`: the
driver feeds bytes to :meth:`MuxConnection.receive_data`, reads the events,
issues commands that *queue* bytes in one ``bytearray``, and drains them with
:meth:`MuxConnection.data_to_send`. No clock, no I/O: keepalive and timeouts
belong to the driver (it calls :meth:`ping` and :meth:`close_connection`).

Receiving: :class:`~mux.core.codec.FrameDecoder` yields raw frames; a table
(``_HANDLERS``, type -> function) dispatches them; unknown types are counted
and dropped. The first frame must be a non-ACK SETTINGS.

Errors (spec/mux-protocol.md; the one boundary is ``receive_data``):

* connection errors are raised as :class:`~mux.errors.RemoteProtocolError`
  subclasses by the handlers; ``receive_data`` then queues GOAWAY(last
  processed peer stream, code, debug = the message) - preceded by our preface
  if we had not sent it - marks the connection closed and re-raises. Events of
  the failing batch are dropped. Closed connections ignore further input and
  refuse commands with :class:`~mux.errors.LocalProtocolError`.
* stream errors queue RST_STREAM and, when the application knew the stream,
  report ``StreamReset(remote=False)``; the id joins the bounded
  recently-reset set so the peer's in-flight frames are ignored quietly.

Flow control: see :mod:`mux.core.flow`. DATA debits the connection receive
window first (beyond it: connection FLOW_CONTROL_ERROR); DATA that is not
delivered (closed/reset stream, stream error) is credited back at once; DATA
delivered as ``DataReceived`` is credited only by ``acknowledge_received_data``.

Settings: the peer's apply when processed (send-window deltas may go negative;
overflow is FLOW_CONTROL_ERROR). Ours are enforced with the *loosest* of the
acknowledged value and every value still awaiting ACK (``_effective``), so a
lowered limit binds only after the ACK while a raised one binds at once.

Memory: the stream table holds only open streams (:mod:`mux.core.streams`);
flood budgets are a handful of counters (:mod:`mux.core.limits`). A fresh
connection is ~1.5 KB (see tests/core/test_streams.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from mux.core import events as ev
from mux.core.codec import FrameDecoder
from mux.core.flow import credit, outstanding, update_due
from mux.core.frames import (
    ACK,
    END_STREAM,
    HEADER_STRUCT,
    MAX_STREAM_ID,
    PREFACE,
    STREAM_ID_MASK,
    FrameType,
    decode_goaway,
    decode_headers,
    decode_settings,
    decode_u32,
    encode_frame,
    encode_goaway,
    encode_headers,
    encode_settings,
)
from mux.core.headers import check_request, check_response, check_trailers
from mux.core.limits import DEFAULT_LIMITS, ProtocolLimits
from mux.core.settings import DEFAULT_SETTINGS, Settings, check_settings, known_settings
from mux.core.streams import Stream, StreamInput, StreamState, StreamTable
from mux.errors import (
    CalmDownError,
    ErrorCode,
    FlowControlError,
    FrameSizeError,
    LocalFlowControlError,
    LocalProtocolError,
    RemoteProtocolError,
    code_from_int,
)

_pack_header = HEADER_STRUCT.pack
_DATA: Final = int(FrameType.DATA)
_HEADERS: Final = int(FrameType.HEADERS)
_RST: Final = int(FrameType.RST_STREAM)
_SETTINGS: Final = int(FrameType.SETTINGS)
_PING: Final = int(FrameType.PING)
_GOAWAY: Final = int(FrameType.GOAWAY)
_WINDOW_UPDATE: Final = int(FrameType.WINDOW_UPDATE)
#: Our SETTINGS frames awaiting ACK; more is a caller bug (unbounded otherwise).
MAX_PENDING_SETTINGS: Final = 16
#: GOAWAY debug text is cut to this many bytes.
MAX_DEBUG_SIZE: Final = 512


def _protocol_error(message: str) -> RemoteProtocolError:
    return RemoteProtocolError(message, ErrorCode.PROTOCOL_ERROR)


class MuxConnection:
    """The mux/msgpack engine for one connection (client or server side).

    Args:
        client_side: True for the side that opens (odd) streams.
        limits: our advertised settings and flood budgets.
    """

    protocol = "mux"

    __slots__ = (
        "_closed",
        "_control_count",
        "_decoder",
        "_effective",
        "_empty_count",
        "_goaway_received_id",
        "_goaway_sent_id",
        "_got_settings",
        "_initiated",
        "_last_processed",
        "_local",
        "_opened",
        "_out",
        "_pending",
        "_queued_control",
        "_recv_unannounced",
        "_recv_window",
        "_refused",
        "_remote",
        "_resets",
        "_send_window",
        "_streams",
        "_table",
        "_unknown_count",
        "client_side",
        "limits",
    )

    def __init__(self, *, client_side: bool, limits: ProtocolLimits | None = None) -> None:
        self.client_side = client_side
        self.limits = limits or DEFAULT_LIMITS
        self._out = bytearray()
        self._decoder = FrameDecoder(DEFAULT_SETTINGS.max_frame_size)
        self._initiated = self._closed = self._got_settings = False
        self._local: Settings = DEFAULT_SETTINGS  # acknowledged by the peer
        self._effective: Settings = DEFAULT_SETTINGS  # loosest of acked + pending
        self._remote: Settings = DEFAULT_SETTINGS
        self._pending: list[dict[int, int]] = []
        self._table = StreamTable(
            client_side=client_side, reset_memory=self.limits.recently_reset_memory
        )
        self._streams = self._table.streams
        self._send_window = DEFAULT_SETTINGS.connection_window
        self._recv_window = DEFAULT_SETTINGS.connection_window
        self._recv_unannounced = 0
        self._goaway_sent_id: int | None = None
        self._goaway_received_id: int | None = None
        self._last_processed = 0
        self._queued_control = self._control_count = self._empty_count = 0
        self._unknown_count = self._resets = self._refused = self._opened = 0

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
        self._initiated = True
        self._out += PREFACE
        self._send_settings(self.limits.to_settings())

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

    def _send_settings(self, changes: dict[int, int]) -> None:
        self._out += encode_frame(_SETTINGS, 0, 0, encode_settings(changes))
        self._pending.append(changes)
        self._recompute_local()

    def data_to_send(self) -> bytes:
        """Drain and return every byte queued for the peer."""
        out = bytes(self._out)
        self._out.clear()
        self._queued_control = 0
        return out

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
        out += _pack_header(len(payload), _HEADERS, END_STREAM if end_stream else 0, stream_id)
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
        out = self._out
        max_frame = self._remote.max_frame_size
        if size <= max_frame:
            out += _pack_header(size, _DATA, end_flag, stream_id)
            out += data
            return
        with memoryview(data) as view:
            for offset in range(0, size, max_frame):
                chunk = view[offset : offset + max_frame]
                last = offset + max_frame >= size
                out += _pack_header(len(chunk), _DATA, end_flag if last else 0, stream_id)
                out += chunk

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
        self._out += _pack_header(4, _RST, 0, stream_id) + int(error_code).to_bytes(4)
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
        effective = self._effective
        pending = outstanding(
            effective.connection_window, self._recv_window, self._recv_unannounced
        )
        if size > pending:
            raise LocalProtocolError(f"acknowledged {size} bytes, only {pending} outstanding")
        stream = self._streams.get(stream_id)
        if stream is not None and stream.can_receive:
            target = effective.initial_stream_window
            unannounced = stream.recv_unannounced + size
            if unannounced > outstanding(target, stream.recv_window, 0):
                raise LocalProtocolError(f"acknowledged more than stream {stream_id} received")
            if update_due(unannounced, target):
                self._out += _pack_header(4, _WINDOW_UPDATE, 0, stream_id)
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

        Raises:
            LocalProtocolError: ``data`` is not 8 bytes, or the connection is closed.
        """
        self._check_usable()
        if len(data) != 8:
            raise LocalProtocolError(f"PING data must be 8 bytes, got {len(data)}")
        self._out += _pack_header(8, _PING, 0, 0) + data

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
        if self._goaway_sent_id is not None:
            last = min(last, self._goaway_sent_id)
        self._goaway_sent_id = last
        self._out += encode_frame(_GOAWAY, 0, 0, encode_goaway(last, int(error_code), debug_data))
        if error_code != ErrorCode.NO_ERROR:
            self._closed = True

    def _check_usable(self) -> None:
        if self._closed:
            raise LocalProtocolError("the connection is closed")
        if not self._initiated:
            raise LocalProtocolError("call initiate_connection() first")

    # ------------------------------------------------------------ receiving

    def receive_data(self, data: bytes) -> list[ev.Event]:
        """Feed received bytes (``b""`` = EOF) and return the resulting events.

        Returns:
            The events, in wire order. After the connection closed, input is
            ignored and ``[]`` returned.

        Raises:
            RemoteProtocolError: a connection error (or a subclass naming it);
                GOAWAY is already queued and the connection is closed: flush
                :meth:`data_to_send` and close the transport.
        """
        if self._closed:
            return []
        if not data:
            self._closed = True
            return [ev.ConnectionClosed()]
        events: list[ev.Event] = []
        decoder = self._decoder
        handlers = _HANDLERS
        try:
            decoder.receive_data(data)
            while not self._closed and (raw := decoder.next_raw()) is not None:
                ftype, flags, sid, payload = raw
                if not self._got_settings:
                    self._check_first_frame(ftype, flags)
                handler = handlers.get(ftype)
                if handler is None:
                    self._on_unknown(ftype)
                else:
                    handler(self, flags, sid, payload, events)
        except RemoteProtocolError as exc:
            self._fail(exc)
            raise
        return events

    def _check_first_frame(self, ftype: int, flags: int) -> None:
        if ftype != _SETTINGS or flags & ACK:
            raise _protocol_error(f"first frame must be SETTINGS, got type {ftype} flags {flags}")
        self._got_settings = True
        if not self._initiated:
            self.initiate_connection()

    def _fail(self, exc: RemoteProtocolError) -> None:
        if not self._initiated:
            self._initiated = True
            self._out += PREFACE
        last = self._last_processed
        if self._goaway_sent_id is not None:
            last = min(last, self._goaway_sent_id)
        self._goaway_sent_id = last
        debug = str(exc.args[0]).encode("utf-8", "replace")[:MAX_DEBUG_SIZE]
        self._out += encode_frame(_GOAWAY, 0, 0, encode_goaway(last, int(exc.code), debug))
        self._closed = True

    def _on_data(self, flags: int, sid: int, payload: bytes, events: list[ev.Event]) -> None:
        if sid == 0:
            raise _protocol_error("DATA on stream 0")
        size = len(payload)
        end = flags & END_STREAM
        if size:
            self._empty_count = 0
        elif not end:
            self._empty_count += 1
            if self._empty_count > self.limits.max_empty_frames:
                raise CalmDownError(f"{self._empty_count} consecutive empty DATA frames")
        if size > self._recv_window:
            raise FlowControlError(
                f"DATA of {size} bytes on stream {sid} exceeds the connection window "
                f"{self._recv_window}"
            )
        self._recv_window -= size
        stream = self._streams.get(sid)
        if stream is None or not stream.headers_received or not stream.can_receive:
            self._refuse_data(sid, stream, size, events)
        elif size > stream.recv_window:
            self._credit_connection(size)
            self._stream_error(sid, ErrorCode.FLOW_CONTROL_ERROR, events)
        else:
            stream.recv_window -= size
            if size:
                self._control_count = self._unknown_count = 0
                events.append(ev.DataReceived(sid, payload, size, bool(end)))
            if end:
                self._remote_end(stream, events)

    def _refuse_data(
        self, sid: int, stream: Stream | None, size: int, events: list[ev.Event]
    ) -> None:
        """DATA that will not be delivered: credit it back, then decide the error."""
        if stream is None and not self._table.is_closed(sid):
            raise _protocol_error(f"DATA on idle stream {sid}")
        self._credit_connection(size)
        if stream is None:
            if sid not in self._table.recently_reset:
                self._stream_error(sid, ErrorCode.STREAM_CLOSED, events)
        elif not stream.can_receive:
            self._stream_error(sid, ErrorCode.STREAM_CLOSED, events)
        else:  # client side: DATA before the response HEADERS
            self._stream_error(sid, ErrorCode.PROTOCOL_ERROR, events)

    def _on_headers(self, flags: int, sid: int, payload: bytes, events: list[ev.Event]) -> None:
        if sid == 0:
            raise _protocol_error("HEADERS on stream 0")
        end = bool(flags & END_STREAM)
        stream = self._streams.get(sid)
        if stream is None:
            if self._table.is_closed(sid):
                if sid not in self._table.recently_reset:
                    self._stream_error(sid, ErrorCode.STREAM_CLOSED, events)
            elif self.client_side:
                raise _protocol_error(f"HEADERS from the server on stream {sid} we did not open")
            elif sid % 2 == 0:
                raise _protocol_error(f"client opened even stream id {sid}")
            else:
                self._open_inbound(sid, end, payload, events)
            return
        if not stream.can_receive:
            self._stream_error(sid, ErrorCode.STREAM_CLOSED, events)
        elif len(payload) > self._effective.max_header_list_size:
            self._stream_error(sid, ErrorCode.HEADER_LIST_TOO_LARGE, events)
        elif not stream.headers_received:
            self._on_response(stream, decode_headers(payload), end, events)
        elif not end:
            self._stream_error(sid, ErrorCode.PROTOCOL_ERROR, events)  # trailers w/o END_STREAM
        else:
            headers = decode_headers(payload)
            if check_trailers(headers) is not None:
                self._stream_error(sid, ErrorCode.PROTOCOL_ERROR, events)
            else:
                events.append(ev.TrailersReceived(sid, headers))
                self._remote_end(stream, events)

    def _on_response(
        self, stream: Stream, headers: list[tuple[bytes, bytes]], end: bool, events: list[ev.Event]
    ) -> None:
        if check_response(headers) is not None:
            self._stream_error(stream.stream_id, ErrorCode.PROTOCOL_ERROR, events)
            return
        stream.headers_received = True
        events.append(ev.ResponseReceived(stream.stream_id, headers, end))
        if end:
            self._remote_end(stream, events)

    def _open_inbound(self, sid: int, end: bool, payload: bytes, events: list[ev.Event]) -> None:
        table = self._table
        table.highest_inbound = sid
        goaway = self._goaway_sent_id
        if (goaway is not None and sid > goaway) or (
            table.open_inbound >= self._effective.max_concurrent_streams
        ):
            self._refuse_stream(sid)
            return
        self._opened += 1
        if len(payload) > self._effective.max_header_list_size:
            self._stream_error(sid, ErrorCode.HEADER_LIST_TOO_LARGE, events)
            return
        headers = decode_headers(payload)
        if check_request(headers) is not None:
            self._stream_error(sid, ErrorCode.PROTOCOL_ERROR, events)
            return
        stream = Stream(
            sid, self._remote.initial_stream_window, self._effective.initial_stream_window
        )
        stream.headers_received = True
        table.add(stream)
        self._last_processed = sid
        self._control_count = self._unknown_count = 0
        events.append(ev.RequestReceived(sid, headers, end))
        if end:
            self._remote_end(stream, events)

    def _refuse_stream(self, sid: int) -> None:
        self._queue_control(_pack_header(4, _RST, 0, sid) + ErrorCode.REFUSED_STREAM.to_bytes(4))
        self._table.remember_reset(sid)
        self._refused += 1
        if self._refused > self.limits.max_refused_streams:
            raise CalmDownError(f"{self._refused} streams refused on this connection")

    def _on_rst(self, flags: int, sid: int, payload: bytes, events: list[ev.Event]) -> None:
        if sid == 0:
            raise _protocol_error("RST_STREAM on stream 0")
        if len(payload) != 4:
            raise FrameSizeError(f"RST_STREAM payload must be 4 bytes, got {len(payload)}")
        self._count_control()
        if sid not in self._streams:
            if not self._table.is_closed(sid):
                raise _protocol_error(f"RST_STREAM on idle stream {sid}")
            return
        self._table.remove(sid)
        events.append(ev.StreamReset(sid, code_from_int(decode_u32(payload)), True))
        self._count_reset()

    def _on_settings(self, flags: int, sid: int, payload: bytes, events: list[ev.Event]) -> None:
        if sid != 0:
            raise _protocol_error(f"SETTINGS on stream {sid}")
        self._count_control()
        if flags & ACK:
            if payload:
                raise FrameSizeError(f"SETTINGS ACK with a {len(payload)}-byte payload")
            if not self._pending:
                raise _protocol_error("SETTINGS ACK but no SETTINGS awaits acknowledgement")
            self._local = self._local.with_changes(self._pending.pop(0))
            self._recompute_local()
            events.append(ev.SettingsAcknowledged())
            return
        changes = decode_settings(payload)
        check_settings(changes)
        known = known_settings(changes)
        self._apply_remote(known)
        self._queue_control(_pack_header(0, _SETTINGS, ACK, 0))
        events.append(ev.SettingsChanged(known))

    def _apply_remote(self, changes: Mapping[int, int]) -> None:
        old, new = self._remote, self._remote.with_changes(changes)
        delta = new.initial_stream_window - old.initial_stream_window
        if delta:
            for stream in self._streams.values():
                window = credit(stream.send_window, delta)
                if window is None:
                    raise FlowControlError(
                        f"INITIAL_STREAM_WINDOW change {delta:+} overflows stream "
                        f"{stream.stream_id} window {stream.send_window}"
                    )
                stream.send_window = window
        delta = new.connection_window - old.connection_window
        window = credit(self._send_window, delta)
        if window is None:
            raise FlowControlError(
                f"CONNECTION_WINDOW change {delta:+} overflows window {self._send_window}"
            )
        self._send_window = window
        self._remote = new

    def _on_ping(self, flags: int, sid: int, payload: bytes, events: list[ev.Event]) -> None:
        if sid != 0:
            raise _protocol_error(f"PING on stream {sid}")
        if len(payload) != 8:
            raise FrameSizeError(f"PING payload must be 8 bytes, got {len(payload)}")
        self._count_control()
        if flags & ACK:
            events.append(ev.PingAcknowledged(payload))
        else:
            self._queue_control(_pack_header(8, _PING, ACK, 0) + payload)
            events.append(ev.PingReceived(payload))

    def _on_goaway(self, flags: int, sid: int, payload: bytes, events: list[ev.Event]) -> None:
        if sid != 0:
            raise _protocol_error(f"GOAWAY on stream {sid}")
        last, code, debug = decode_goaway(payload)
        self._count_control()
        previous = self._goaway_received_id
        if previous is not None and last > previous:
            raise _protocol_error(f"GOAWAY raised last_stream_id from {previous} to {last}")
        self._goaway_received_id = last
        error_code = code_from_int(code)
        events.append(ev.GoAwayReceived(error_code, last, debug))
        table = self._table
        for other in [s for s in self._streams if table.is_outbound(s) and s > last]:
            table.remove(other)
            events.append(ev.StreamReset(other, ErrorCode.REFUSED_STREAM, True))
        if error_code != ErrorCode.NO_ERROR:
            self._closed = True

    def _on_window_update(
        self, flags: int, sid: int, payload: bytes, events: list[ev.Event]
    ) -> None:
        if len(payload) != 4:
            raise FrameSizeError(f"WINDOW_UPDATE payload must be 4 bytes, got {len(payload)}")
        increment = decode_u32(payload) & STREAM_ID_MASK
        self._count_control()
        if sid == 0:
            if increment == 0:
                raise _protocol_error("WINDOW_UPDATE with increment 0 on the connection")
            window = credit(self._send_window, increment)
            if window is None:
                raise FlowControlError(
                    f"WINDOW_UPDATE +{increment} overflows the connection window "
                    f"{self._send_window} past 2^31-1"
                )
            self._send_window = window
            events.append(ev.WindowUpdated(0, increment))
            return
        stream = self._streams.get(sid)
        if stream is None:
            if not self._table.is_closed(sid):
                raise _protocol_error(f"WINDOW_UPDATE on idle stream {sid}")
            return
        window = credit(stream.send_window, increment) if increment else None
        if window is None:
            code = ErrorCode.FLOW_CONTROL_ERROR if increment else ErrorCode.PROTOCOL_ERROR
            self._stream_error(sid, code, events)
            return
        stream.send_window = window
        events.append(ev.WindowUpdated(sid, increment))

    def _on_unknown(self, ftype: int) -> None:
        self._unknown_count += 1
        if self._unknown_count > self.limits.max_unknown_frames:
            raise CalmDownError(
                f"{self._unknown_count} unknown frames (last type {ftype}) without progress"
            )

    # ------------------------------------------------------------ bookkeeping

    def _count_control(self) -> None:
        self._control_count += 1
        if self._control_count > self.limits.max_control_frames_without_progress:
            raise CalmDownError(f"{self._control_count} control frames without progress")

    def _count_reset(self) -> None:
        self._resets += 1
        if self._resets > self.limits.max_premature_resets and 2 * self._resets > self._opened:
            raise CalmDownError(
                f"{self._resets} premature stream resets out of {self._opened} streams"
            )

    def _queue_control(self, frame: bytes) -> None:
        """Queue a frame the peer made us send; bounded until the driver drains."""
        self._out += frame
        self._queued_control += 1
        if self._queued_control > self.limits.max_queued_control_frames:
            raise CalmDownError(
                f"{self._queued_control} induced control frames queued and not drained"
            )

    def _stream_error(self, sid: int, code: ErrorCode, events: list[ev.Event]) -> None:
        """Queue RST_STREAM(code); report it if the application knew the stream."""
        self._queue_control(_pack_header(4, _RST, 0, sid) + code.to_bytes(4))
        if sid in self._streams:
            self._table.remove(sid, reset_by_us=True)
            events.append(ev.StreamReset(sid, code, False))
        else:
            self._table.remember_reset(sid)
        self._count_reset()

    def _remote_end(self, stream: Stream, events: list[ev.Event]) -> None:
        events.append(ev.StreamEnded(stream.stream_id))
        if stream.advance(StreamInput.RECV_END_STREAM) is StreamState.CLOSED:
            self._table.remove(stream.stream_id)

    def _local_end(self, stream: Stream) -> None:
        if stream.advance(StreamInput.SEND_END_STREAM) is StreamState.CLOSED:
            self._table.remove(stream.stream_id)

    def _credit_connection(self, size: int) -> None:
        unannounced = self._recv_unannounced + size
        if update_due(unannounced, self._effective.connection_window):
            self._out += _pack_header(4, _WINDOW_UPDATE, 0, 0) + unannounced.to_bytes(4)
            self._recv_window += unannounced
            unannounced = 0
        self._recv_unannounced = unannounced

    def _recompute_local(self) -> None:
        """Enforce the loosest of our acknowledged and pending settings."""
        values = self._local.as_dict()
        for pending in self._pending:
            for key, value in known_settings(pending).items():
                values[key] = max(values[key], value)
        old, new = self._effective, self._local.with_changes(values)
        if new == old:
            return
        delta = new.initial_stream_window - old.initial_stream_window
        for stream in self._streams.values():
            stream.recv_window += delta
        self._recv_window += new.connection_window - old.connection_window
        self._decoder.max_frame_size = new.max_frame_size
        self._effective = new


#: Frame type -> handler; anything else is an unknown type (ignored, counted).
_HANDLERS: Final[dict[int, Callable[[MuxConnection, int, int, bytes, list[ev.Event]], None]]] = {
    _DATA: MuxConnection._on_data,
    _HEADERS: MuxConnection._on_headers,
    _RST: MuxConnection._on_rst,
    _SETTINGS: MuxConnection._on_settings,
    _PING: MuxConnection._on_ping,
    _GOAWAY: MuxConnection._on_goaway,
    _WINDOW_UPDATE: MuxConnection._on_window_update,
}
