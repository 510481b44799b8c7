"""FrameReceiver: the receive side of MuxConnection (bytes in, events out).

Theory of operation
-------------------
:meth:`FrameReceiver.receive_data` is the one boundary for received bytes:
:class:`~mux.core.codec.FrameDecoder` yields raw frames (it checks the length
against our MAX_FRAME_SIZE on the 10-byte header alone); the first must be a
non-ACK SETTINGS; then the table :data:`HANDLERS` (type -> unbound method)
dispatches each frame, and unknown types are counted and dropped. Each
handler applies the checks of spec/mux-protocol.md Section 4 for its type, in
the order of Section 3.3, and appends events to the batch. HEADERS follows
Section 4.2 on every stream, open or not: id rules, then the size limits
(MAX_HEADER_LIST_SIZE before decoding, the field count after), then the
msgpack shape, and only then stream state, admission and message semantics;
so a refused or closed stream still gets HEADER_LIST_TOO_LARGE, and a
malformed list is a connection error wherever it arrives.

Skipped payloads: the decoder does not buffer a non-DATA payload longer than
its ``max_buffered`` (at least 64 KiB and our MAX_HEADER_LIST_SIZE); such a
frame arrives with an :class:`~mux.core.codec.Oversized` payload carrying the
length and the first bytes only (spec Section 3.2 permits discarding). Every
handler reaches the outcome that length gets from the Section 3.3 order:
HEADERS is too large (never decoded), a fixed-size type has the wrong size,
SETTINGS is malformed, a SETTINGS ACK is not empty, GOAWAY is decoded from
the kept prefix (debug data truncated), and an unknown type is dropped as
usual. The control types' handlers live in :mod:`mux.core.control`.

Errors: a handler raises a :class:`~mux.errors.RemoteProtocolError` subclass
for a connection error; ``receive_data`` then queues GOAWAY(last processed
peer stream, code, debug = the message) via ``_fail``, marks the connection
closed and re-raises; events of the failing batch are dropped. Closed
connections ignore further input. Stream errors queue RST_STREAM and, when the
application knew the stream, report ``StreamReset(remote=False)``; the id
joins the bounded recently-reset set so the peer's in-flight frames are
ignored quietly (Section 7.3).

Flow control: DATA debits the connection receive window first (beyond it:
connection FLOW_CONTROL_ERROR), then the stream's; DATA that is not delivered
(closed/reset stream, stream error) is credited back at once (Section 8.4).
The peer's settings apply when processed; send-window deltas may go negative
and overflow is FLOW_CONTROL_ERROR (Section 8.5).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Final, cast

from mux.core import events as ev
from mux.core.codec import DATA_PIECE, Oversized
from mux.core.compiled import mypyc_attr
from mux.core.connstate import (
    DATA,
    GOAWAY,
    HEADERS,
    PING,
    RST,
    SETTINGS,
    WINDOW_UPDATE,
    pack_header,
    protocol_error,
)
from mux.core.control import ControlReceiver
from mux.core.frames import (
    ACK,
    END_STREAM,
    decode_headers,
)
from mux.core.headers import check_request, check_response, check_trailers
from mux.core.streams import Stream
from mux.errors import (
    CalmDownError,
    ErrorCode,
    FlowControlError,
    RemoteProtocolError,
)


@mypyc_attr(allow_interpreted_subclasses=True)
class FrameReceiver(ControlReceiver):
    """The receive half of :class:`~mux.core.connection.MuxConnection`."""

    __slots__ = ()

    #: Merge consecutive DATA frames of one stream read in one call into one
    #: event (see :class:`_DataRun`); a subclass may turn it off to observe
    #: frame boundaries (tests of the layers above).
    merge_data: ClassVar[bool] = True

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
        run: _DataRun | None = None
        handlers = HANDLERS
        try:
            if decoder.data_left and (aligned := decoder.take_piece(data)) is not None:
                # An aligned bulk read: nothing but payload of the frame under way.
                # Nothing else is buffered: no frame can follow in this call.
                run = self._on_piece(aligned[1], aligned[2], data, decoder.data_left, events, run)
                if run is not None:
                    run.finish(events)
                return events
            decoder.receive_data(data)
            while not self._closed and (raw := decoder.next_view()) is not None:
                ftype, flags, sid, payload = raw
                if not self._got_settings:
                    self._check_first_frame(ftype, flags)
                # DATA payloads are never skipped (Oversized), only they are views.
                if ftype == DATA:
                    piece = cast("bytes | memoryview", payload)
                    run = self._on_data(flags, sid, piece, decoder.data_left, events, run)
                    continue
                if ftype == DATA_PIECE:
                    piece = cast("bytes | memoryview", payload)
                    run = self._on_piece(flags, sid, piece, decoder.data_left, events, run)
                    continue
                handler = handlers.get(ftype)
                if handler is None:
                    self._on_unknown(ftype)
                else:
                    handler(self, flags, sid, cast("bytes | Oversized", payload), events)
        except RemoteProtocolError as exc:
            self._fail(exc)
            raise
        if run is not None:
            run.finish(events)
        return events

    def _check_first_frame(self, ftype: int, flags: int) -> None:
        if ftype != SETTINGS or flags & ACK:
            raise protocol_error(f"first frame must be SETTINGS, got type {ftype} flags {flags}")
        self._got_settings = True
        if not self._initiated:
            self._initiate()

    def _on_data(
        self,
        flags: int,
        sid: int,
        payload: bytes | memoryview,
        left: int,
        events: list[ev.Event],
        run: _DataRun | None,
    ) -> _DataRun | None:
        """Check and account one DATA frame; deliver (its first piece) into ``run``.

        ``left`` payload bytes of the frame are still to come as pieces: the
        whole length is checked and debited here, END_STREAM waits for the
        last piece.

        Returns:
            The run of DATA events now open (see :class:`_DataRun`).
        """
        if sid == 0:
            raise protocol_error("DATA on stream 0")
        size = len(payload) + left
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
        self._piece_live = False
        if stream is None or not stream.headers_received or not stream.can_receive:
            self._refuse_data(sid, stream, size, events)
        elif size > stream.recv_window:
            self._credit_connection(size)
            self._stream_error(sid, ErrorCode.FLOW_CONTROL_ERROR, events)
        else:
            stream.recv_window -= size
            self._piece_live = True
            if size:
                self._control_count = self._unknown_count = 0
                if payload:
                    run = self._deliver(sid, payload, bool(end) and not left, events, run)
                if self._autotune:
                    self._tune_on_data(stream, size)
            if end and not left:
                self._remote_end(stream, events)
        return run

    def _on_piece(
        self,
        flags: int,
        sid: int,
        payload: bytes | memoryview,
        left: int,
        events: list[ev.Event],
        run: _DataRun | None,
    ) -> _DataRun | None:
        """A later piece of a DATA frame already checked and debited by :meth:`_on_data`.

        Delivered while its stream still receives; otherwise (refused at the
        header, or reset since) dropped, credited back if it was debited.
        """
        stream = self._streams.get(sid)
        if stream is None or not stream.can_receive:
            if self._piece_live:
                self._credit_connection(len(payload))
            return run
        if not self._piece_live:
            return run
        end = bool(flags & END_STREAM) and not left
        run = self._deliver(sid, payload, end, events, run)
        if end:
            self._remote_end(stream, events)
        return run

    def _deliver(
        self,
        sid: int,
        payload: bytes | memoryview,
        end: bool,
        events: list[ev.Event],
        run: _DataRun | None,
    ) -> _DataRun:
        """Extend ``run`` when its event is still the last one, else start one."""
        if run is not None and run.sid == sid and run.at == len(events) - 1 and self.merge_data:
            run.parts.append(payload)
            run.flow += len(payload)
            run.end = end
            return run
        if run is not None:
            run.finish(events)
        events.append(_PLACEHOLDER)
        return _DataRun(len(events) - 1, sid, payload, len(payload), end)

    def _refuse_data(
        self, sid: int, stream: Stream | None, size: int, events: list[ev.Event]
    ) -> None:
        """DATA that will not be delivered: credit it back, then decide the error."""
        if stream is None and not self._table.is_closed(sid):
            raise protocol_error(f"DATA on idle stream {sid}")
        self._credit_connection(size)
        if stream is None:
            if sid not in self._table.recently_reset:
                self._stream_error(sid, ErrorCode.STREAM_CLOSED, events)
        elif not stream.can_receive:
            self._stream_error(sid, ErrorCode.STREAM_CLOSED, events)
        else:  # client side: DATA before the response HEADERS
            self._stream_error(sid, ErrorCode.PROTOCOL_ERROR, events)

    def _on_headers(
        self, flags: int, sid: int, payload: bytes | Oversized, events: list[ev.Event]
    ) -> None:
        """HEADERS, checked in the order of Section 4.2: id, size, shape, state, meaning."""
        if sid == 0:
            raise protocol_error("HEADERS on stream 0")
        stream = self._streams.get(sid)
        opens = stream is None and self._new_stream_id(sid)
        # Oversized: longer than max_buffered >= MAX_HEADER_LIST_SIZE, never decoded.
        if isinstance(payload, Oversized) or len(payload) > self._effective.max_header_list_size:
            self._too_large(sid, opens, events)
            return
        headers = decode_headers(payload)
        if len(headers) > self.limits.max_header_fields:
            self._too_large(sid, opens, events)
        elif stream is not None:
            self._on_stream_headers(stream, headers, bool(flags & END_STREAM), events)
        elif opens:
            self._open_inbound(sid, headers, bool(flags & END_STREAM), events)
        elif sid not in self._table.recently_reset:
            self._stream_error(sid, ErrorCode.STREAM_CLOSED, events)

    def _new_stream_id(self, sid: int) -> bool:
        """Stream id rules (Section 7.1) for a HEADERS on no open stream.

        Returns:
            True when the HEADERS would open the stream, False when it is closed.
        """
        if self._table.is_closed(sid):
            return False
        if self.client_side:
            raise protocol_error(f"HEADERS from the server on stream {sid} we did not open")
        if sid % 2 == 0:
            raise protocol_error(f"client opened even stream id {sid}")
        return True

    def _too_large(self, sid: int, opens: bool, events: list[ev.Event]) -> None:
        """Stream error HEADER_LIST_TOO_LARGE; an id it would have opened counts as used."""
        if opens:
            self._table.highest_inbound = sid
            self._opened += 1
        self._stream_error(sid, ErrorCode.HEADER_LIST_TOO_LARGE, events)

    def _on_stream_headers(
        self, stream: Stream, headers: list[tuple[bytes, bytes]], end: bool, events: list[ev.Event]
    ) -> None:
        """A response or trailers on a stream we know (state, then meaning)."""
        sid = stream.stream_id
        if not stream.can_receive:
            self._stream_error(sid, ErrorCode.STREAM_CLOSED, events)
        elif not stream.headers_received:
            self._on_response(stream, headers, end, events)
        elif not end:
            self._stream_error(sid, ErrorCode.PROTOCOL_ERROR, events)  # trailers w/o END_STREAM
        elif check_trailers(headers) is not None:
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

    def _open_inbound(
        self, sid: int, headers: list[tuple[bytes, bytes]], end: bool, events: list[ev.Event]
    ) -> None:
        """Admission (Section 7.4), then request semantics, of a decoded opening HEADERS."""
        table = self._table
        table.highest_inbound = sid
        goaway = self._goaway_sent_id
        if (goaway is not None and sid > goaway) or (
            table.open_inbound >= self._effective.max_concurrent_streams
        ):
            self._refuse_stream(sid)
            return
        self._opened += 1
        if self._opened >= self.limits.max_streams_per_connection:
            self._stream_cap_reached(sid)
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
        self._queue_control(pack_header(4, RST, 0, sid) + ErrorCode.REFUSED_STREAM.to_bytes(4))
        self._table.remember_reset(sid)
        self._refused += 1
        if self._refused > self.limits.max_refused_streams:
            raise CalmDownError(f"{self._refused} streams refused on this connection")


class _DataRun:
    """Consecutive DATA frames of one stream within one ``receive_data`` call.

    They become ONE :class:`~mux.core.events.DataReceived` (payloads joined
    with one copy, ``flow_controlled_length`` summed, ``end_stream`` of the
    last): fewer events, dispatches and wake-ups per MiB. The event sits at
    ``events[at]`` (a placeholder until :meth:`finish`); a frame extends the
    run only while that event is still the last one, so wire order holds.
    """

    __slots__ = ("at", "end", "flow", "parts", "sid")

    def __init__(self, at: int, sid: int, payload: bytes | memoryview, flow: int, end: bool):
        self.at = at
        self.sid = sid
        self.parts = [payload]
        self.flow = flow
        self.end = end

    def finish(self, events: list[ev.Event]) -> None:
        """Put the run's one event in place of its placeholder."""
        parts = self.parts
        data = bytes(parts[0]) if len(parts) == 1 else b"".join(parts)
        events[self.at] = ev.DataReceived(self.sid, data, self.flow, self.end)


#: Stands in for a run's event until :meth:`_DataRun.finish` replaces it.
_PLACEHOLDER: Final = ev.DataReceived(0, b"", 0)

#: Frame type -> handler; anything else is an unknown type (ignored, counted).
#: DATA is dispatched by ``receive_data`` itself (it merges runs).
#: A handler's payload: the bytes, or the stand-in of a skipped payload.
HANDLERS: Final[
    dict[int, Callable[[FrameReceiver, int, int, bytes | Oversized, list[ev.Event]], None]]
] = {
    HEADERS: FrameReceiver._on_headers,
    RST: FrameReceiver._on_rst,
    SETTINGS: FrameReceiver._on_settings,
    PING: FrameReceiver._on_ping,
    GOAWAY: FrameReceiver._on_goaway,
    WINDOW_UPDATE: FrameReceiver._on_window_update,
}
