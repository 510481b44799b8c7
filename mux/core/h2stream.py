"""h2 streams with counted states and memoised headers (private to the h2 engine).

Theory of operation
-------------------
h2 scans every stream on each ``open_inbound_streams`` /
``open_outbound_streams`` (once per new stream). :class:`_FastStream` uses a
state machine whose ``state`` setter keeps per-parity open counters and
queues newly closed ids, shared with the connection, so the connection's
``_open_streams`` just prunes that queue and reads the counter (same results,
same pruning). The stream also routes h2's header validation and HPACK
encoding through the connection's :class:`mux.core.h2memo.HeaderMemo`.
"""

from __future__ import annotations

from typing import Any

from h2.config import H2Configuration
from h2.stream import STREAM_OPEN, H2Stream, H2StreamStateMachine, StreamState
from h2.utilities import (
    HeaderValidationFlags,
    is_informational_response,
    normalize_inbound_headers,
    normalize_outbound_headers,
    validate_headers,
    validate_outbound_headers,
)
from h2.windows import WindowManager
from hyperframe.frame import ContinuationFrame

from mux.core.h2memo import HeaderMemo, _plain_key, _store

_CLOSED = StreamState.CLOSED


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
