"""Inbound fast paths of the hardened h2 connection (private to the h2 engine).

Theory of operation
-------------------
For each DATA frame h2 builds a hyperframe object (copying the payload),
runs two state machines through their transition tables and builds its
events; for each response HEADERS frame it does the same plus header
validation. :class:`InboundPaths` does the common cases directly with exactly
h2's state changes, windows and events:

* :meth:`InboundPaths.fast_data`: an unpadded DATA frame on an open stream
  whose headers arrived, within both receive windows and the declared
  content-length (both sides);
* :meth:`InboundPaths.fast_response`: a client's final response (complete
  block, no padding or priority) on a stream it opened, whose header list h2
  already validated once on this connection (the memo); the block is decoded
  once, whatever path then handles it.

Anything else (a window overrun, a content-length mismatch, an informational
response, trailers, a connection not open) returns None having changed
nothing, and h2's own path handles the frame, raising what h2 raises.
``tests/core/test_h2_fastpath_equivalence.py`` runs the same exchanges with
these paths on and forced off and compares bytes, events and state.
"""

from __future__ import annotations

from typing import Any

from h2.connection import ConnectionState
from h2.events import DataReceived as H2DataReceived
from h2.events import ResponseReceived as H2ResponseReceived
from h2.events import StreamEnded as H2StreamEnded
from h2.exceptions import ProtocolError
from h2.stream import StreamClosedBy, StreamState
from h2.utilities import is_informational_response

from mux.core.h2memo import _CLIENT_RESPONSE_FLAGS, _plain_key
from mux.core.h2send import OutboundPaths

_OPEN = StreamState.OPEN
_HALF_CLOSED_LOCAL = StreamState.HALF_CLOSED_LOCAL
_HALF_CLOSED_REMOTE = StreamState.HALF_CLOSED_REMOTE
_CLOSED = StreamState.CLOSED
_RECEIVING = frozenset({ConnectionState.CLIENT_OPEN, ConnectionState.SERVER_OPEN})
_CLIENT_OPEN = ConnectionState.CLIENT_OPEN


class InboundPaths(OutboundPaths):
    """``OutboundPaths`` plus direct handling of common inbound frames."""

    def _decode(self, block: bytes) -> Any:
        raise NotImplementedError  # the hardened connection's (memoised, COMPRESSION_ERROR)

    def _stream_headers(
        self, stream: Any, headers: Any, end_stream: bool
    ) -> tuple[list[Any], list[Any]]:
        raise NotImplementedError  # the hardened connection's (malformed -> stream error)

    def fast_data(self, flags: int, stream_id: int, payload: bytes) -> list[Any] | None:
        """h2's handling of an unpadded DATA frame in the common case, or
        None having changed nothing."""
        if self.state_machine.state not in _RECEIVING:
            return None
        stream = self.streams.get(stream_id)
        if stream is None:
            return None
        machine = stream.state_machine
        state = machine.state
        if (state is not _OPEN and state is not _HALF_CLOSED_LOCAL) or not machine.headers_received:
            return None
        size = len(payload)
        connection_window = self._inbound_flow_control_window_manager
        stream_window = stream._inbound_window_manager
        if size > connection_window.current_window_size or size > stream_window.current_window_size:
            return None  # h2 raises FlowControlError
        end_stream = bool(flags & 0x1)
        actual = stream._actual_content_length + size
        expected = stream._expected_content_length
        if expected is not None and (expected < actual or (end_stream and expected != actual)):
            return None  # h2 raises InvalidBodyLengthError (a stream error here)
        connection_window.current_window_size -= size
        stream_window.current_window_size -= size
        stream._actual_content_length = actual
        event = H2DataReceived(stream_id=stream_id)
        event.data = payload if type(payload) is bytes else bytes(payload)
        event.flow_controlled_length = size
        if not end_stream:
            return [event]
        ended = H2StreamEnded(stream_id=stream_id)
        event.stream_ended = ended
        _end_remote(machine)
        return [event, ended]

    def fast_response(self, flags: int, stream_id: int, payload: bytes) -> list[Any] | None:
        """A client's final response in the common case: h2's state changes
        and events; None, having changed nothing, for any other case."""
        if self.state_machine.state is not _CLIENT_OPEN:
            return None
        stream = self.streams.get(stream_id)
        if stream is None:
            return None
        machine = stream.state_machine
        state = machine.state
        if (
            (state is not _OPEN and state is not _HALF_CLOSED_LOCAL)
            or machine.headers_received
            or machine.client is not True
        ):
            return None
        headers = self._decode(payload)
        end_stream = bool(flags & 0x1)
        entry = self._memo.last
        normal = None if entry is None else entry[2]
        if normal is None:
            key = _plain_key(headers, _CLIENT_RESPONSE_FLAGS, exact=False)
            normal = None if key is None else self._memo.inbound.get(key)
            if entry is not None:
                entry[2] = normal
        if normal is not None and is_informational_response(normal):
            normal = None  # h2's path: RECV_INFORMATIONAL_HEADERS
        if normal is not None:
            try:
                stream._initialize_content_length(headers)
            except ProtocolError:
                normal = None  # h2's path raises it again (a malformed response)
        if normal is None:  # h2's path from the decoded list on (connection: no change)
            frames, events = self._stream_headers(stream, headers, end_stream)
            self._prepare_for_sending(frames)
            return events
        machine.headers_received = True
        event = H2ResponseReceived(stream_id=stream_id)
        event.headers = list(normal)
        if not end_stream:
            return [event]
        ended = H2StreamEnded(stream_id=stream_id)
        event.stream_ended = ended
        _end_remote(machine)
        return [event, ended]


def _end_remote(machine: Any) -> None:
    """RECV_END_STREAM from OPEN or HALF_CLOSED_LOCAL, as h2 does it."""
    if machine.state is _OPEN:
        machine.state = _HALF_CLOSED_REMOTE
    else:
        machine.state = _CLOSED
        machine.stream_closed_by = StreamClosedBy.RECV_END_STREAM
