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

PRIORITY information never reaches this class: the engine strips it.
"""

from __future__ import annotations

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
from h2.events import StreamReset as H2StreamReset
from h2.exceptions import (
    DenialOfServiceError,
    InvalidBodyLengthError,
    ProtocolError,
    StreamClosedError,
)
from h2.stream import StreamClosedBy, StreamState
from h2.utilities import SizeLimitDict
from hyperframe.frame import RstStreamFrame, WindowUpdateFrame

_GOAWAY_INPUTS = frozenset({ConnectionInputs.SEND_GOAWAY, ConnectionInputs.RECV_GOAWAY})


class CompressionError(ProtocolError):
    """The header block could not be decoded (HPACK state lost)."""

    error_code = ErrorCodes.COMPRESSION_ERROR


class _GoAwayTolerantStateMachine(H2ConnectionStateMachine):
    """h2's connection state machine, except that GOAWAY changes nothing once open."""

    def process_input(self, input_: ConnectionInputs) -> list[Any]:
        if input_ in _GOAWAY_INPUTS and self.state != ConnectionState.IDLE:
            return []
        result: list[Any] = super().process_input(input_)
        return result


def _decode(decoder: Any, block: bytes) -> Any:
    try:
        return _decode_headers(decoder, block)
    except DenialOfServiceError:
        raise
    except ProtocolError as exc:
        raise CompressionError(str(exc)) from exc


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
        _decode(self.decoder, frame.data)  # keep HPACK in sync (may raise)
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
        headers = _decode(self.decoder, frame.data)
        events = self.state_machine.process_input(ConnectionInputs.RECV_HEADERS)
        stream = self._get_or_create_stream(
            stream_id, AllowedStreamIDs(not self.config.client_side)
        )
        try:
            frames, stream_events = stream.receive_headers(
                headers, "END_STREAM" in frame.flags, self.config.header_encoding
            )
        except StreamClosedError:
            raise
        except ProtocolError:
            if stream.state_machine.state == StreamState.CLOSED:
                raise
            return self._malformed(stream, 0)
        return frames, events + stream_events

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
