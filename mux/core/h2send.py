"""Outbound fast paths of the hardened h2 connection (private to the h2 engine).

Theory of operation
-------------------
h2 moves a stream's state first and validates the header list afterwards (a
refused response left the stream "response sent", so a retry went out as
trailers), closes the stream on a transition it does not allow, and
normalises (lowercases, strips, drops connection-specific fields) instead of
refusing. :meth:`OutboundPaths.prepare_send_headers` decides the list's role
from the stream state, refuses what h2 would refuse (or would let through
against RFC 9113) with :class:`mux.core.h2memo.SendRefused`, and leaves a
validated ``outbound`` memo entry that both the fast path
(:meth:`OutboundPaths.fast_send_headers`, which writes the frames itself with
exactly h2's state changes and bytes) and h2's own path then use.
"""

from __future__ import annotations

import struct
from typing import Any

from h2.connection import AllowedStreamIDs, ConnectionState, H2Connection
from h2.stream import StreamClosedBy, StreamState

from mux.core.h2memo import (
    _CLIENT_REQUEST_FLAGS,
    _CLIENT_TRAILER_FLAGS,
    _RESPONSE_FLAGS,
    _TRAILER_FLAGS,
    HeaderMemo,
    SendRefused,
)

_CLOSED = StreamState.CLOSED
_IDLE = StreamState.IDLE
_OPEN = StreamState.OPEN
_HALF_CLOSED_REMOTE = StreamState.HALF_CLOSED_REMOTE
_HALF_CLOSED_LOCAL = StreamState.HALF_CLOSED_LOCAL
#: Connection states in which sending HEADERS/DATA changes nothing.
_SENDING = frozenset({ConnectionState.CLIENT_OPEN, ConnectionState.SERVER_OPEN})
_CLIENT_OPEN = ConnectionState.CLIENT_OPEN
#: ``prepare_send_headers``'s mark for a request opening a new stream.
_NEW_STREAM = "new stream"
#: Highest stream id (RFC 9113 §5.1.1).
_MAX_STREAM_ID = 2**31 - 1
#: A frame header: 24-bit length (as 8 + 16 bits), type, flags, stream id.
_FRAME_HEADER = struct.Struct(">BHBBL")


class OutboundPaths(H2Connection):
    """``H2Connection`` plus checked, memoised outbound HEADERS and fast END_STREAM."""

    _memo: HeaderMemo

    def _sendable(self, stream_id: int) -> Any:
        """The stream if we may send DATA or END_STREAM on it without any
        connection-level effect (the stream exists and is open for sending,
        its request or response was sent or received, the connection is
        open), else None. Client and server streams alike: h2's SEND_DATA and
        SEND_END_STREAM transitions do not depend on the role."""
        if self.state_machine.state not in _SENDING:
            return None
        stream = self.streams.get(stream_id)
        if stream is None:
            return None
        machine = stream.state_machine
        state = machine.state
        if (state is not _HALF_CLOSED_REMOTE and state is not _OPEN) or machine.client is None:
            return None
        return stream

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
            entry = self._prepare_request(stream_id, headers, stream is None)
            new = stream is None and self.state_machine.state is _CLIENT_OPEN
            return entry, _NEW_STREAM if new else None
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
        or a client's request on a new stream, :meth:`prepare_send_headers`
        having checked the state and the list: same state changes, same HPACK
        block, same frames. Returns False, having changed nothing, when the
        case is not one of those (h2 does it)."""
        entry, machine = prepared
        if machine is None:
            return False
        if machine is _NEW_STREAM:
            return self._fast_request(stream_id, entry, end_stream)
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

    def _fast_request(self, stream_id: int, entry: list[Any], end_stream: bool) -> bool:
        """h2's ``send_headers`` opening a client stream (connection already
        CLIENT_OPEN): a new stream, IDLE -> OPEN (request sent), the request's
        method and authority noted, the block written."""
        if self.open_outbound_streams + 1 > self.remote_settings.max_concurrent_streams:
            return False  # h2 raises TooManyStreamsError, before any change
        if len(entry) < 6:  # h2 reads them from the list it encodes
            entry += [_field(entry[0], b":method"), _field(entry[0], b":authority")]
        stream = self._begin_new_stream(stream_id, AllowedStreamIDs.ODD)
        machine = stream.state_machine
        machine.state = _OPEN
        machine.client = True
        machine.headers_sent = True
        block = self._memo.encode_entry(self.encoder, entry)
        flags = 0x4
        if end_stream:
            machine.state = _HALF_CLOSED_LOCAL
            flags = 0x5
        stream._authority = entry[5]
        stream.request_method = entry[4]
        self._write_header_block(stream_id, block, flags)
        return True

    def fast_end_stream(self, stream_id: int) -> bool:
        """h2's ``end_stream`` (or ``send_data(b"", end_stream=True)``) on a
        stream we may send on; False, having changed nothing, otherwise."""
        stream = self._sendable(stream_id)
        if stream is None:
            return False
        self._end_stream_state(stream.state_machine)
        self._data_to_send += _FRAME_HEADER.pack(0, 0, 0x0, 0x1, stream_id)
        return True

    def fast_send_data(self, stream_id: int, data: bytes, end_stream: bool) -> bool:
        """h2's ``send_data`` (no padding) of one frame's worth that both
        windows allow, on a stream we may send on: same state changes, same
        windows, same frame. False, having changed nothing, otherwise."""
        size = len(data)
        stream = self._sendable(stream_id)
        if (
            stream is None
            or size > self.outbound_flow_control_window
            or size > stream.outbound_flow_control_window
            or size > self.max_outbound_frame_size
        ):
            return False
        if end_stream:
            self._end_stream_state(stream.state_machine)
        stream.outbound_flow_control_window -= size
        self.outbound_flow_control_window -= size
        out = self._data_to_send
        out += _FRAME_HEADER.pack(size >> 16, size & 0xFFFF, 0x0, int(end_stream), stream_id)
        out += data
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


def _field(headers: list[Any], name: bytes) -> bytes | None:
    """The first value of ``name`` (h2's ``extract_method_header`` and
    ``authority_from_headers``; the validated list holds bytes)."""
    for field_name, value in headers:
        if field_name == name:
            return bytes(value)
    return None
