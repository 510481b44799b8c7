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
* **O(1) stream counting.** h2 scans every stream on each
  ``open_inbound_streams``/``open_outbound_streams`` (once per new stream).
  Our streams use a state machine whose ``state`` setter keeps per-parity
  open counters and queues newly closed ids; ``_open_streams`` just prunes
  that queue and reads the counter (same results, same pruning).
* **Memoised header work** (:class:`HeaderMemo`): h2 validates and
  normalises every header list and HPACK-codes it. The same lists recur
  (h2load, gRPC), so each direction's validation (exactly h2's, run once per
  distinct list and flags) and the HPACK coding of a block are cached, the
  latter only while the dynamic table is unchanged and only for blocks that
  did not change it (so the result is bit-for-bit what h2 would produce).
* **Outbound headers are checked before anything changes.** h2 moves the
  stream's state first and validates the list afterwards (a refused response
  left the stream "response sent", so a retry went out as trailers), closes
  the stream on a transition it does not allow, and normalises (lowercases,
  strips, drops connection-specific fields) instead of refusing.
  :meth:`HardenedH2Connection.prepare_send_headers` decides the list's role
  from the stream state, refuses what h2 would refuse (or would let through
  against RFC 9113: :func:`mux.core.h2guard.outbound_problem`) with
  :class:`SendRefused`, and leaves a validated ``outbound`` memo entry that
  both the fast path and h2's own path then use.

PRIORITY information never reaches this class: the engine strips it.
"""

from __future__ import annotations

import struct
from typing import Any

from h2.config import H2Configuration
from h2.connection import (
    AllowedStreamIDs,
    ConnectionInputs,
    ConnectionState,
    H2Connection,
    H2ConnectionStateMachine,
    _decode_headers,
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
from h2.stream import STREAM_OPEN, H2Stream, H2StreamStateMachine, StreamClosedBy, StreamState
from h2.utilities import (
    HeaderValidationFlags,
    SizeLimitDict,
    is_informational_response,
    normalize_inbound_headers,
    normalize_outbound_headers,
    validate_headers,
    validate_outbound_headers,
)
from h2.windows import WindowManager
from hpack import Decoder, Encoder
from hyperframe.exceptions import InvalidDataError, InvalidFrameError, InvalidPaddingError
from hyperframe.frame import FRAMES, ContinuationFrame, RstStreamFrame, WindowUpdateFrame

from mux.core.h2guard import outbound_problem

#: Frame types (and END_HEADERS) that may start or continue a header block.
_BLOCK_TYPES = frozenset({0x1, 0x5, 0x9})
_END_HEADERS = 0x4
#: HEADERS flags the fast path does not handle: PADDED, PRIORITY.
_HEADERS_EXTRAS = 0x8 | 0x20
_GOAWAY_INPUTS = frozenset({ConnectionInputs.SEND_GOAWAY, ConnectionInputs.RECV_GOAWAY})


class CompressionError(ProtocolError):
    """The header block could not be decoded (HPACK state lost)."""

    error_code = ErrorCodes.COMPRESSION_ERROR


class SendRefused(Exception):
    """A header list we were asked to send breaks the protocol; nothing changed."""


class _GoAwayTolerantStateMachine(H2ConnectionStateMachine):
    """h2's connection state machine, except that GOAWAY (sent or received,
    with any error code, before or after the first stream) changes nothing."""

    def process_input(self, input_: ConnectionInputs) -> list[Any]:
        if input_ in _GOAWAY_INPUTS and self.state != ConnectionState.CLOSED:
            return []  # also before any stream (IDLE): h2spec h2/7/1
        result: list[Any] = super().process_input(input_)
        return result


#: Entries per memo table before it is cleared (bounds memory per connection).
_MEMO_SIZE = 64
_CLOSED = StreamState.CLOSED
_IDLE = StreamState.IDLE
_OPEN = StreamState.OPEN
_HALF_CLOSED_REMOTE = StreamState.HALF_CLOSED_REMOTE
_HALF_CLOSED_LOCAL = StreamState.HALF_CLOSED_LOCAL
#: Connection states in which sending HEADERS/DATA changes nothing.
_SERVER_OPEN = ConnectionState.SERVER_OPEN
_SENDING = frozenset({ConnectionState.CLIENT_OPEN, ConnectionState.SERVER_OPEN})
#: h2's validation flags for a server's final response and for its trailers.
_RESPONSE_FLAGS = HeaderValidationFlags(
    is_client=False, is_trailer=False, is_response_header=True, is_push_promise=False
)
_REQUEST_FLAGS = HeaderValidationFlags(
    is_client=False, is_trailer=False, is_response_header=False, is_push_promise=False
)
_TRAILER_FLAGS = HeaderValidationFlags(
    is_client=False, is_trailer=True, is_response_header=False, is_push_promise=False
)
#: The same for a client's request and its trailers.
_CLIENT_REQUEST_FLAGS = HeaderValidationFlags(
    is_client=True, is_trailer=False, is_response_header=False, is_push_promise=False
)
_CLIENT_TRAILER_FLAGS = HeaderValidationFlags(
    is_client=True, is_trailer=True, is_response_header=False, is_push_promise=False
)
#: Highest stream id (RFC 9113 §5.1.1).
_MAX_STREAM_ID = 2**31 - 1
#: A frame header: 24-bit length (as 8 + 16 bits), type, flags, stream id.
_FRAME_HEADER = struct.Struct(">BHBBL")


def _table_token(table: Any, *extra: int) -> tuple[Any, ...]:
    """What an HPACK block's coding depends on: the newest dynamic entry (by
    identity: any insertion replaces it), the entry count, sizes and limits."""
    entries = table.dynamic_entries
    return (entries[0] if entries else None, len(entries), table.maxsize, *extra)


def _same_token(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    return a[0] is b[0] and a[1:] == b[1:]


class HeaderMemo:
    """Per-connection caches of header work (bounded, created empty)."""

    __slots__ = ("decoded", "encoded", "inbound", "last", "outbound", "refused")

    def __init__(self) -> None:
        #: block bytes -> [decoder token, headers, validated request or None]
        self.decoded: dict[bytes, list[Any]] = {}
        #: (headers, flags) -> validated, normalised inbound headers
        self.inbound: dict[tuple[Any, ...], list[Any]] = {}
        #: (headers, flags) -> [validated, normalised outbound headers,
        #: encoder token or None, their block, informational response?]
        self.outbound: dict[tuple[Any, ...], list[Any]] = {}
        #: (headers, flags) -> why sending them was refused (made when needed)
        self.refused: dict[tuple[Any, ...], str] | None = None
        #: normalised outbound headers (exact tuples) -> (encoder token, block)
        self.encoded: dict[tuple[Any, ...], tuple[tuple[Any, ...], bytes]] = {}
        #: The ``decoded`` entry the last :meth:`decode` used or made, if any.
        self.last: list[Any] | None = None

    def decode(self, decoder: Decoder, block: bytes) -> list[Any]:
        """``_decode_headers`` unless this block was decoded, table-neutrally,
        against the current table; ``last`` is then its entry."""
        table = decoder.header_table
        limits = (decoder.max_header_list_size, decoder.max_allowed_table_size)
        before = _table_token(table, *limits)
        hit = self.decoded.get(block)
        if hit is not None and _same_token(hit[0], before):
            self.last = hit
            return list(hit[1])
        self.last = None
        headers: list[Any] = list(_decode_headers(decoder, block))
        if _same_token(_table_token(table, *limits), before):
            self.last = [before, headers, None]
            _store(self.decoded, block, self.last)
            return list(headers)
        return headers

    def encode(self, encoder: Encoder, headers: list[Any]) -> bytes:
        """``encoder.encode`` unless these exact fields were encoded,
        table-neutrally, against the current table."""
        if encoder.table_size_changes:
            return bytes(encoder.encode(headers))
        key = tuple((type(h), *h) for h in headers)
        before = _table_token(encoder.header_table)
        hit = self.encoded.get(key)
        if hit is not None and _same_token(hit[0], before):
            return hit[1]
        block = bytes(encoder.encode(headers))
        if _same_token(_table_token(encoder.header_table), before):
            _store(self.encoded, key, (before, block))
        return block

    def outbound_entry(self, headers: Any, flags: HeaderValidationFlags, split: bool) -> list[Any]:
        """The ``outbound`` entry of a list we are about to send with these
        h2 flags: our RFC check and h2's own, run once per distinct list.

        Raises:
            SendRefused: the list is invalid for that role.
        """
        key = _plain_key(headers, flags)
        if key is not None:
            hit = self.outbound.get(key)
            if hit is not None:
                return hit
            if self.refused is not None and (problem := self.refused.get(key)) is not None:
                raise SendRefused(problem)
        try:
            entry = _checked_entry(headers, flags, split)
        except SendRefused as exc:
            if key is not None:
                if self.refused is None:
                    self.refused = {}
                _store(self.refused, key, str(exc))
            raise
        if key is not None:
            _store(self.outbound, key, entry)
        return entry

    @staticmethod
    def encode_entry(encoder: Encoder, entry: list[Any]) -> bytes:
        """:meth:`encode` for an ``outbound`` entry, cached on the entry."""
        if encoder.table_size_changes:
            return bytes(encoder.encode(entry[0]))
        before = _table_token(encoder.header_table)
        if entry[1] is not None and _same_token(entry[1], before):
            block: bytes = entry[2]
            return block
        block = bytes(encoder.encode(entry[0]))
        if _same_token(_table_token(encoder.header_table), before):
            entry[1], entry[2] = before, block
        return block


def _store(table: dict[Any, Any], key: Any, value: Any) -> None:
    if len(table) >= _MEMO_SIZE:
        table.clear()
    table[key] = value


def _checked_entry(headers: Any, flags: HeaderValidationFlags, split: bool) -> list[Any]:
    """A fresh ``outbound`` entry, or SendRefused naming the problem."""
    problem = outbound_problem(headers, request=flags.is_client, trailers=flags.is_trailer)
    if problem is None:
        try:
            normal = list(
                validate_outbound_headers(normalize_outbound_headers(headers, flags, split), flags)
            )
        except ProtocolError as exc:
            problem = str(exc)
    if problem is not None:
        raise SendRefused(problem)
    informational = flags.is_response_header and is_informational_response(normal)
    return [normal, None, b"", informational]


def _plain_key(
    headers: Any, flags: HeaderValidationFlags, exact: bool = True
) -> tuple[Any, ...] | None:
    """A memo key for a list of 2-tuples of bytes, else None. ``exact``: only
    plain tuples (a ``NeverIndexedHeaderTuple`` must not share a key with an
    equal plain tuple when it decides how the field is encoded). Inbound the
    tuple kind is dropped by the engine, so any 2-tuple may share a key."""
    if not isinstance(headers, list):
        return None
    for field in headers:
        if (type(field) is not tuple if exact else not isinstance(field, tuple)) or len(field) != 2:
            return None
        name, value = field
        if type(name) is not bytes or type(value) is not bytes:
            return None
    return (tuple(headers), flags)


class _CountingStateMachine(H2StreamStateMachine):
    """h2's stream state machine; every state change updates shared counters."""

    def __init__(self, stream_id: int, counts: list[int], closed: list[int]) -> None:
        self._counts = counts
        self._closed_ids = closed
        self._state = StreamState.IDLE
        super().__init__(stream_id)

    @property
    def state(self) -> StreamState:
        return self._state

    @state.setter
    def state(self, new: StreamState) -> None:
        old = self._state
        if new is old:
            return
        self._state = new
        parity = self.stream_id & 1
        self._counts[parity] += STREAM_OPEN[new] - STREAM_OPEN[old]
        if new is _CLOSED:
            self._closed_ids.append(self.stream_id)


class _FastStream(H2Stream):
    """``H2Stream`` with counted states and memoised header processing."""

    def __init__(
        self,
        stream_id: int,
        memo: HeaderMemo,
        counts: list[int],
        closed: list[int],
        config: H2Configuration,
        inbound_window_size: int,
        outbound_window_size: int,
    ) -> None:
        # h2 4.4.1's H2Stream.__init__, minus the state machine it would build
        # for us to replace (a test checks the attribute sets stay equal).
        self.state_machine = _CountingStateMachine(stream_id, counts, closed)
        self.stream_id = stream_id
        self.max_outbound_frame_size = None
        self.request_method = None
        self.outbound_flow_control_window = outbound_window_size
        self._inbound_window_manager = WindowManager(inbound_window_size)
        self._expected_content_length = None
        self._actual_content_length = 0
        self._authority = None
        self.config = config
        self._memo = memo

    def _process_received_headers(
        self, headers: Any, header_validation_flags: Any, header_encoding: Any
    ) -> list[Any]:
        key = _plain_key(headers, header_validation_flags, exact=False)
        if key is not None and (hit := self._memo.inbound.get(key)) is not None:
            return list(hit)
        result: list[Any] = list(
            validate_headers(
                normalize_inbound_headers(headers, header_validation_flags),
                header_validation_flags,
            )
        )
        if key is not None:
            _store(self._memo.inbound, key, result)
            return list(result)
        return result

    def _outbound_headers(self, headers: Any, flags: HeaderValidationFlags) -> list[Any]:
        key = _plain_key(headers, flags)
        if key is not None and (hit := self._memo.outbound.get(key)) is not None:
            normal: list[Any] = hit[0]
            return normal
        split = self.config.split_outbound_cookies
        result: list[Any] = list(
            validate_outbound_headers(normalize_outbound_headers(headers, flags, split), flags)
        )
        if key is not None:
            informational = flags.is_response_header and is_informational_response(result)
            _store(self._memo.outbound, key, [result, None, b"", informational])
        return result

    def _build_headers_frames(
        self, headers: Any, encoder: Any, first_frame: Any, hdr_validation_flags: Any
    ) -> list[Any]:
        block = self._memo.encode(encoder, self._outbound_headers(headers, hdr_validation_flags))
        size = self.max_outbound_frame_size or 0
        first_frame.data = block[:size]
        frames: list[Any] = [first_frame]
        for start in range(size, len(block), size):
            frame = ContinuationFrame(self.stream_id)
            frame.data = block[start : start + size]
            frames.append(frame)
        frames[-1].flags.add("END_HEADERS")
        return frames


class HardenedH2Connection(H2Connection):
    """``H2Connection`` with stream-scoped errors and bounded closed-stream memory."""

    def __init__(self, config: H2Configuration, closed_stream_memory: int) -> None:
        super().__init__(config=config)
        self.state_machine = _GoAwayTolerantStateMachine()
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
            if ftype == 0x1 and not flags & _HEADERS_EXTRAS:
                events = self._fast_headers(flags, stream_id, payload)
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

    # ------------------------------------------------ outbound fast paths

    def _sendable(self, stream_id: int) -> Any:
        """The stream's machine if a server may send on it without any
        connection-level effect (the stream exists and is open for sending,
        the connection is open), else None."""
        if self.state_machine.state not in _SENDING:
            return None
        stream = self.streams.get(stream_id)
        if stream is None:
            return None
        machine = stream.state_machine
        state = machine.state
        if (state is not _HALF_CLOSED_REMOTE and state is not _OPEN) or machine.client is not False:
            return None
        return machine

    def prepare_send_headers(self, stream_id: int, headers: Any, end_stream: bool) -> Any:
        """Everything h2's ``send_headers`` would check (and what it lets
        through against RFC 9113), done first: after this, h2's
        ``send_headers`` can only fail with TooManyStreamsError, before any
        change. Changes nothing but the memo.

        Returns:
            ``(entry, machine)`` for :meth:`fast_send_headers`: the list's
            ``outbound`` entry and, when the fast path may write it, the
            stream's state machine (else None).

        Raises:
            SendRefused: the headers, or sending them now, break the protocol.
        """
        if self.state_machine.state is ConnectionState.CLOSED:
            raise SendRefused("the connection is closed")
        stream = self.streams.get(stream_id)
        if stream is None or (stream.state_machine.state is _IDLE and self.config.client_side):
            return self._prepare_request(stream_id, headers, stream is None), None
        machine = stream.state_machine
        state = machine.state
        if (state is not _OPEN and state is not _HALF_CLOSED_REMOTE) or machine.client is None:
            raise SendRefused(f"stream {stream_id} is closed for sending ({state.name})")
        split = self.config.split_outbound_cookies
        if not machine.headers_sent:  # a server's response (client streams: request sent)
            if machine.client:
                raise SendRefused(f"stream {stream_id}: no request was sent on it")
            entry = self._memo.outbound_entry(headers, _RESPONSE_FLAGS, split)
            if not entry[3]:
                return entry, machine if self.state_machine.state in _SENDING else None
            if end_stream:
                raise SendRefused("an informational (1xx) response cannot end the stream")
            return entry, None  # 1xx: its own transition, h2 does it
        if machine.trailers_sent or not end_stream:
            raise SendRefused(f"trailers on stream {stream_id} must end it (END_STREAM)")
        if machine.client:
            return self._memo.outbound_entry(headers, _CLIENT_TRAILER_FLAGS, split), None
        entry = self._memo.outbound_entry(headers, _TRAILER_FLAGS, split)
        return entry, machine if self.state_machine.state in _SENDING else None

    def _prepare_request(self, stream_id: int, headers: Any, unknown: bool) -> list[Any]:
        """:meth:`prepare_send_headers` for a stream we would open."""
        if not self.config.client_side:
            raise SendRefused(f"a server cannot open stream {stream_id} (idle or closed)")
        if not 0 < stream_id <= _MAX_STREAM_ID or not stream_id & 1:
            raise SendRefused(f"stream id {stream_id} is not a valid client stream id")
        if unknown and stream_id <= self.highest_outbound_stream_id:
            raise SendRefused(f"stream {stream_id} is closed (or was skipped)")
        split = self.config.split_outbound_cookies
        return self._memo.outbound_entry(headers, _CLIENT_REQUEST_FLAGS, split)

    def fast_send_headers(self, stream_id: int, prepared: Any, end_stream: bool) -> bool:
        """h2's ``send_headers`` for a server's final response or trailers,
        :meth:`prepare_send_headers` having checked the state and the list:
        same state changes, same HPACK block, same frames. Returns False,
        having changed nothing, when the case is not that one (h2 does it)."""
        entry, machine = prepared
        if machine is None:
            return False
        if machine.headers_sent:  # h2's response_sent, in the same order as h2
            machine.trailers_sent = True
        else:
            machine.headers_sent = True
        block = self._memo.encode_entry(self.encoder, entry)
        flags = 0x4
        if end_stream:
            self._end_stream_state(machine)
            flags = 0x5
        self.streams[stream_id].request_method = None  # h2: the response's :method
        self._write_header_block(stream_id, block, flags)
        return True

    def fast_end_stream(self, stream_id: int) -> bool:
        """h2's ``end_stream`` (or ``send_data(b"", end_stream=True)``) on a
        stream a server may send on; False, having changed nothing, otherwise."""
        machine = self._sendable(stream_id)
        if machine is None:
            return False
        self._end_stream_state(machine)
        self._data_to_send += _FRAME_HEADER.pack(0, 0, 0x0, 0x1, stream_id)
        return True

    @staticmethod
    def _end_stream_state(machine: Any) -> None:
        """SEND_END_STREAM from OPEN or HALF_CLOSED_REMOTE, as h2 does it."""
        if machine.state is _OPEN:
            machine.state = _HALF_CLOSED_LOCAL
        else:
            machine.state = _CLOSED
            machine.stream_closed_by = StreamClosedBy.SEND_END_STREAM

    def _write_header_block(self, stream_id: int, block: bytes, flags: int) -> None:
        """HEADERS (+ CONTINUATION) frames for ``block``; ``flags`` include
        END_HEADERS, which moves to the last frame when the block is split."""
        size = self.streams[stream_id].max_outbound_frame_size or len(block)
        out = self._data_to_send
        starts = range(0, len(block), size) if block else range(1)
        for start in starts:
            chunk = block[start : start + size]
            ftype, fflags = (0x1, flags & ~0x4) if start == 0 else (0x9, 0)
            if start + size >= len(block):
                fflags |= 0x4
            out += _FRAME_HEADER.pack(
                len(chunk) >> 16, len(chunk) & 0xFFFF, ftype, fflags, stream_id
            )
            out += chunk


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
