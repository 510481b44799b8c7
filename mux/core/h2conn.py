"""A hardened subclass of ``h2.connection.H2Connection`` (private to the h2 engine).

Theory of operation
-------------------
h2 4.4.1 is correct on most of RFC 9113 but differs from it (or from what a
gateway needs) in a few places. This subclass changes exactly those, by
overriding h2's per-frame handlers (``_receive_headers_frame`` and
``_receive_data_frame``, stable private hooks since h2 3.0):

* **Excess streams are refused, not fatal.** h2 answers a stream beyond
  SETTINGS_MAX_CONCURRENT_STREAMS with GOAWAY (killing every legitimate
  stream). We decode the header block (the HPACK state must stay in sync),
  record the stream as closed by our RST_STREAM and answer
  RST_STREAM(REFUSED_STREAM) (RFC 9113 §5.1.2; threats.md §4.6).
* **Malformed messages are stream errors** (RFC 9113 §8.1.1): invalid or
  missing pseudo-headers, connection-specific fields, trailers without
  END_STREAM, content-length mismatch. h2 raises a connection error; we reset
  the one stream with PROTOCOL_ERROR and, for discarded DATA, return the
  connection credit at once (python-hyper/h2#1210).
* **GOAWAY does not freeze the connection.** h2 moves to CLOSED on any GOAWAY
  and then rejects every frame, which breaks graceful shutdown (in-flight
  streams must complete, PINGs must be answered: RFC 9113 §6.8). Our state
  machine ignores GOAWAY; after *we* sent one, new inbound streams are refused.
* **HPACK decoding failures are COMPRESSION_ERROR** (RFC 9113 §4.3), not h2's
  PROTOCOL_ERROR; an oversized decoded list stays ENHANCE_YOUR_CALM.
* **Closed streams are remembered only boundedly**: ``_closed_streams`` keeps
  ``closed_stream_memory`` records instead of 65536.
* **Frames after our RST_STREAM are ignored** (RFC 9113 §5.1, "closed": the
  peer may not have seen the reset yet). h2 answers each late DATA or HEADERS
  frame with another RST_STREAM(STREAM_CLOSED); for a stream that the bounded
  record says *we* reset, the frame is dropped silently (a header block is
  still decoded, DATA still returns its connection credit). A stream the peer
  reset, or one forgotten since, keeps h2's answer (a stream error, or a
  connection error for an unknown id).
* **O(1) stream counting** and **memoised header work**: streams are
  :class:`mux.core.h2stream._FastStream` (counted states, see there); header
  validation and HPACK coding go through :class:`mux.core.h2memo.HeaderMemo`.
* **Outbound headers are checked before anything changes**
  (:class:`mux.core.h2send.OutboundPaths`, which this class extends); a
  refused list raises :class:`SendRefused`.
* **Common frames skip h2's machinery** with h2's exact effects: a server's
  new request (here), a client's response and DATA on open streams
  (:class:`mux.core.h2recv.InboundPaths`), requests, responses, DATA and
  END_STREAM sent (:class:`mux.core.h2send.OutboundPaths`).

PRIORITY information never reaches this class: the engine strips it.
"""

from __future__ import annotations

from typing import Any

from h2.config import H2Configuration
from h2.connection import (
    AllowedStreamIDs,
    ConnectionInputs,
    ConnectionState,
    H2ConnectionStateMachine,
)
from h2.errors import ErrorCodes
from h2.events import RequestReceived as H2RequestReceived
from h2.events import StreamEnded as H2StreamEnded
from h2.events import StreamReset as H2StreamReset
from h2.exceptions import (
    DenialOfServiceError,
    FrameDataMissingError,
    InvalidBodyLengthError,
    ProtocolError,
    StreamClosedError,
    StreamIDTooLowError,
)
from h2.settings import SettingCodes
from h2.stream import H2Stream, StreamClosedBy, StreamState
from h2.utilities import SizeLimitDict
from hyperframe.exceptions import InvalidDataError, InvalidFrameError, InvalidPaddingError
from hyperframe.frame import FRAMES, RstStreamFrame, WindowUpdateFrame

from mux.core.h2compact import CompactSettings, FrameDispatch, LazyHeaderTable
from mux.core.h2memo import _REQUEST_FLAGS, HeaderMemo, SendRefused, _plain_key
from mux.core.h2recv import InboundPaths
from mux.core.h2stream import _FastStream

__all__ = ["CompressionError", "HardenedH2Connection", "HeaderMemo", "SendRefused", "_FastStream"]

#: Frame types (and END_HEADERS) that may start or continue a header block.
_BLOCK_TYPES = frozenset({0x1, 0x5, 0x9})
_END_HEADERS = 0x4
#: HEADERS flags the fast path does not handle: PADDED, PRIORITY.
_HEADERS_EXTRAS = 0x8 | 0x20
_PADDED = 0x8
_GOAWAY_INPUTS = frozenset({ConnectionInputs.SEND_GOAWAY, ConnectionInputs.RECV_GOAWAY})


class CompressionError(ProtocolError):
    """The header block could not be decoded (HPACK state lost)."""

    error_code = ErrorCodes.COMPRESSION_ERROR


class _GoAwayTolerantStateMachine(H2ConnectionStateMachine):
    """h2's connection state machine, except that GOAWAY (sent or received,
    with any error code, before or after the first stream) changes nothing."""

    def process_input(self, input_: ConnectionInputs) -> list[Any]:
        if input_ in _GOAWAY_INPUTS and self.state != ConnectionState.CLOSED:
            return []  # also before any stream (IDLE): h2spec http2/7/1
        result: list[Any] = super().process_input(input_)
        return result


_OPEN = StreamState.OPEN
_HALF_CLOSED_REMOTE = StreamState.HALF_CLOSED_REMOTE
_SERVER_OPEN = ConnectionState.SERVER_OPEN


class HardenedH2Connection(InboundPaths):
    """``H2Connection`` with stream-scoped errors and bounded closed-stream memory."""

    def __init__(self, config: H2Configuration, closed_stream_memory: int) -> None:
        super().__init__(config=config)
        self._client_side: bool = config.client_side
        self.state_machine = _GoAwayTolerantStateMachine()
        self._compact(config)
        #: True once we queued a GOAWAY: new inbound streams are refused.
        self.goaway_sent = False
        self._closed_streams = SizeLimitDict(size_limit=closed_stream_memory)
        #: Streams refused because of MAX_CONCURRENT_STREAMS (a counter).
        self.refused_streams = 0
        self._memo = HeaderMemo()
        #: Open streams by id parity (even, odd), kept by the stream machines.
        self._open_counts = [0, 0]
        #: Ids of streams that closed since the last prune.
        self._newly_closed: list[int] = []

    def _compact(self, config: H2Configuration) -> None:
        """Swap h2's idle-heavy helpers for equivalent compact ones
        (:mod:`mux.core.h2compact`), before anything used them."""
        self.local_settings = CompactSettings(
            client=config.client_side,
            initial_values={
                SettingCodes.MAX_CONCURRENT_STREAMS: 100,
                SettingCodes.MAX_HEADER_LIST_SIZE: self.DEFAULT_MAX_HEADER_LIST_SIZE,
            },
        )
        self.remote_settings = CompactSettings(client=not config.client_side)
        self.encoder.header_table = LazyHeaderTable()
        self.decoder.header_table = LazyHeaderTable()
        self._frame_dispatch_table = FrameDispatch(self)  # type: ignore[assignment]

    def _decode(self, block: bytes) -> Any:
        """Decode a header block; HPACK failures are COMPRESSION_ERROR."""
        try:
            return self._memo.decode(self.decoder, block)
        except DenialOfServiceError:
            raise
        except ProtocolError as exc:
            raise CompressionError(str(exc)) from exc

    def receive_frame(self, ftype: int, flags: int, stream_id: int, payload: bytes) -> list[Any]:
        """``receive_data`` for one complete frame of a known type, without
        h2's re-buffering and re-parsing of the header (same errors, same
        GOAWAY). Frames of a multi-frame header block take h2's path, which
        joins them."""
        if ftype in _BLOCK_TYPES and (
            ftype == 0x9 or not flags & _END_HEADERS or self.incoming_buffer._headers_buffer
        ):
            header = len(payload).to_bytes(3, "big") + bytes((ftype, flags))
            return self.receive_data(header + stream_id.to_bytes(4, "big") + payload)
        try:
            if ftype == 0x0 and not flags & _PADDED:
                events = self.fast_data(flags, stream_id, payload)
                if events is not None:
                    return events
            elif ftype == 0x1 and not flags & _HEADERS_EXTRAS:
                events = (
                    self.fast_response(flags, stream_id, payload)
                    if self._client_side
                    else self._fast_headers(flags, stream_id, payload)
                )
                if events is not None:
                    return events
            return self._receive_frame(_parse_frame(ftype, flags, stream_id, payload))
        except InvalidPaddingError as exc:
            self._terminate_connection(ErrorCodes.PROTOCOL_ERROR)
            raise ProtocolError("Received frame with invalid padding.") from exc
        except ProtocolError as exc:
            self._terminate_connection(exc.error_code)
            raise

    def _open_streams(self, remainder: int) -> int:
        """Open streams with ``id % 2 == remainder``; prunes closed streams
        (as h2's scan does) from the queue the stream machines fill: O(1)."""
        closed = self._newly_closed
        if closed:
            for stream_id in closed:
                stream = self.streams.pop(stream_id, None)
                if stream is not None:
                    self._closed_streams[stream_id] = stream.closed_by
            closed.clear()
        return self._open_counts[remainder]

    def _begin_new_stream(self, stream_id: int, allowed_ids: AllowedStreamIDs) -> H2Stream:
        """h2's ``_begin_new_stream``, creating a :class:`_FastStream`."""
        outbound = self._stream_id_is_outbound(stream_id)
        highest = self.highest_outbound_stream_id if outbound else self.highest_inbound_stream_id
        if stream_id <= highest:
            raise StreamIDTooLowError(stream_id, highest)
        if (stream_id % 2) != int(allowed_ids):
            raise ProtocolError("Invalid stream ID for peer.")
        stream = _FastStream(
            stream_id,
            self._memo,
            self._open_counts,
            self._newly_closed,
            config=self.config,
            inbound_window_size=self.local_settings.initial_window_size,
            outbound_window_size=self.remote_settings.initial_window_size,
        )
        stream.max_outbound_frame_size = self.max_outbound_frame_size
        self.streams[stream_id] = stream
        if outbound:
            self.highest_outbound_stream_id = stream_id
        else:
            self.highest_inbound_stream_id = stream_id
        return stream

    def _is_new_inbound(self, stream_id: int) -> bool:
        return (
            stream_id not in self.streams
            and stream_id > self.highest_inbound_stream_id
            and not self._stream_id_is_outbound(stream_id)
        )

    def _local_reset(self, stream_id: int, code: ErrorCodes) -> tuple[list[Any], list[Any]]:
        frame = RstStreamFrame(stream_id)
        frame.error_code = code
        event = H2StreamReset(stream_id=stream_id, error_code=code, remote_reset=False)
        return [frame], [event]

    def _refuse(self, frame: Any) -> tuple[list[Any], list[Any]]:
        self._decode(frame.data)  # keep HPACK in sync (may raise)
        self.state_machine.process_input(ConnectionInputs.RECV_HEADERS)
        self.highest_inbound_stream_id = frame.stream_id
        self._closed_streams[frame.stream_id] = StreamClosedBy.SEND_RST_STREAM
        self.refused_streams += 1
        return self._local_reset(frame.stream_id, ErrorCodes.REFUSED_STREAM)

    def _receive_headers_frame(self, frame: Any) -> tuple[list[Any], list[Any]]:
        stream_id = frame.stream_id
        limit = self.local_settings.max_concurrent_streams
        if self._is_new_inbound(stream_id) and (
            self.goaway_sent or self.open_inbound_streams >= limit
        ):
            return self._refuse(frame)
        headers = self._decode(frame.data)
        events = self.state_machine.process_input(ConnectionInputs.RECV_HEADERS)
        stream = self._get_or_create_stream(
            stream_id, AllowedStreamIDs(not self.config.client_side)
        )
        frames, stream_events = self._stream_headers(stream, headers, "END_STREAM" in frame.flags)
        return frames, events + stream_events

    def _stream_headers(
        self, stream: Any, headers: Any, end_stream: bool
    ) -> tuple[list[Any], list[Any]]:
        """The stream's part of receiving a header block (h2's), malformed
        messages becoming stream errors."""
        try:
            result: tuple[list[Any], list[Any]] = stream.receive_headers(
                headers, end_stream, self.config.header_encoding
            )
        except StreamClosedError:
            raise
        except ProtocolError:
            if stream.state_machine.state == StreamState.CLOSED:
                raise
            return self._malformed(stream, 0)
        return result

    def _fast_headers(self, flags: int, stream_id: int, payload: bytes) -> list[Any] | None:
        """A server's HEADERS frame (complete block, no padding or priority)
        opening a new stream within the limits: what ``_receive_frame`` would
        do, without the frame object and, when h2 already validated this
        request's header list, without h2's stream machinery (same state, same
        events). None, having changed nothing, for any other case."""
        if (
            self.state_machine.state is not _SERVER_OPEN
            or not self._is_new_inbound(stream_id)
            or self.goaway_sent
            or self.open_inbound_streams >= self.local_settings.max_concurrent_streams
        ):
            return None
        headers = self._decode(payload)
        stream = self._begin_new_stream(stream_id, AllowedStreamIDs.ODD)
        end_stream = bool(flags & 0x1)
        entry = self._memo.last
        normal = None if entry is None else entry[2]
        if normal is None:
            key = _plain_key(headers, _REQUEST_FLAGS, exact=False)
            normal = None if key is None else self._memo.inbound.get(key)
            if entry is not None:
                entry[2] = normal
        if normal is None:
            frames, events = self._stream_headers(stream, headers, end_stream)
            self._prepare_for_sending(frames)
            return events
        machine = stream.state_machine
        machine.client = False
        machine.headers_received = True
        event = H2RequestReceived(stream_id=stream_id)
        event.headers = list(normal)
        if not end_stream:
            machine.state = _OPEN
            stream._initialize_content_length(headers)
            return [event]
        machine.state = _HALF_CLOSED_REMOTE
        event.stream_ended = H2StreamEnded(stream_id=stream_id)
        stream._initialize_content_length(headers)
        return [event, event.stream_ended]

    def _receive_data_frame(self, frame: Any) -> tuple[list[Any], list[Any]]:
        try:
            result: tuple[list[Any], list[Any]] = super()._receive_data_frame(frame)
        except InvalidBodyLengthError:
            stream = self.streams.get(frame.stream_id)
            if stream is None or stream.state_machine.state == StreamState.CLOSED:
                raise
            return self._malformed(stream, frame.flow_controlled_length)
        return result

    def _late_after_our_reset(self, exc: StreamClosedError) -> bool:
        """True when ``exc`` is about a frame on a stream we had reset before
        (h2 hangs a StreamReset event on the error when the reset is new,
        e.g. DATA on a half-closed (remote) stream: that one is answered)."""
        return not exc._events and (
            self._stream_closed_by(exc.stream_id) is StreamClosedBy.SEND_RST_STREAM
        )

    def _receive_frame(self, frame: Any) -> list[Any]:
        """h2's ``_receive_frame``, except that a late frame on a stream we
        reset is ignored instead of answered with RST_STREAM."""
        try:
            frames, events = self._frame_dispatch_table[frame.__class__](frame)
        except StreamClosedError as exc:
            if self._late_after_our_reset(exc):
                return []
            if not self._stream_is_closed_by_reset(exc.stream_id):
                raise
            self._prepare_for_sending([_rst(exc.stream_id, exc.error_code)])
            return list(exc._events)
        except StreamIDTooLowError as exc:
            if self._stream_closed_by(exc.stream_id) is StreamClosedBy.SEND_RST_STREAM:
                return []
            if self._stream_is_closed_by_reset(exc.stream_id):
                self._prepare_for_sending([_rst(exc.stream_id, ErrorCodes.STREAM_CLOSED)])
                return []
            if self._stream_is_closed_by_end(exc.stream_id):
                raise StreamClosedError(exc.stream_id) from exc
            raise
        self._prepare_for_sending(frames)
        result: list[Any] = events
        return result

    def _handle_data_on_closed_stream(
        self, events: list[Any], exc: StreamClosedError, frame: Any
    ) -> tuple[list[Any], list[Any]]:
        """h2's: credit the connection window and answer RST_STREAM, except
        on a stream we reset (only the credit, see the module docstring)."""
        frames, result = super()._handle_data_on_closed_stream(events, exc, frame)
        if self._late_after_our_reset(exc):
            frames = [f for f in frames if not isinstance(f, RstStreamFrame)]
        return frames, result

    def _malformed(self, stream: Any, discarded: int) -> tuple[list[Any], list[Any]]:
        """Reset a stream whose message is malformed; credit discarded DATA."""
        frames: list[Any] = stream.reset_stream(ErrorCodes.PROTOCOL_ERROR)
        increment = self._inbound_flow_control_window_manager.process_bytes(discarded)
        if discarded and increment:
            update = WindowUpdateFrame(0)
            update.window_increment = increment
            frames.append(update)
        event = H2StreamReset(
            stream_id=stream.stream_id, error_code=ErrorCodes.PROTOCOL_ERROR, remote_reset=False
        )
        return frames, [event]

    def close_connection(self, *args: Any, **kwargs: Any) -> None:
        """Queue GOAWAY (h2's), remembering that we did."""
        super().close_connection(*args, **kwargs)
        self.goaway_sent = True

    def prune_closed_streams(self) -> None:
        """Move closed streams out of ``streams`` (h2 does it lazily)."""
        _ = self.open_inbound_streams


def _rst(stream_id: int, code: Any) -> RstStreamFrame:
    frame = RstStreamFrame(stream_id)
    frame.error_code = code
    return frame


def _parse_frame(ftype: int, flags: int, stream_id: int, payload: bytes) -> Any:
    """A hyperframe frame, with the errors h2's ``FrameBuffer`` raises."""
    try:
        frame = FRAMES[ftype](stream_id)
        frame.parse_flags(flags)
    except (InvalidDataError, InvalidFrameError) as exc:
        raise ProtocolError(f"Received frame with invalid header: {exc!s}") from exc
    try:
        frame.parse_body(memoryview(payload))
    except InvalidDataError as exc:
        raise ProtocolError("Received frame with non-compliant data") from exc
    except InvalidFrameError as exc:
        raise FrameDataMissingError("Frame data missing or invalid") from exc
    return frame
