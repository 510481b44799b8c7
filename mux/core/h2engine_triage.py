"""The state-aware rules :class:`~mux.core.h2engine.H2Engine` applies to each
inbound frame before h2 sees it (RFC 9113).

Theory of operation
-------------------
:meth:`H2TriageMixin._triage` takes each complete frame from the guard and
returns the frame to give h2, or None when the frame is handled here:
unknown frame types are dropped (§5.5); PRIORITY frames are validated and
dropped (no priority tree, CVE-2019-9513); PRIORITY data is stripped from
HEADERS (a self-dependency dooms the stream: a *stream* error once its
headers are decoded, §5.3.1); RST_STREAM and WINDOW_UPDATE on an idle stream
are connection errors, on a closed stream are ignored (late frames never kill
the connection), WINDOW_UPDATE 0 on a stream is a stream error (§6.9); a
stream frame after the peer's END_STREAM is a connection error. Each
inbound WINDOW_UPDATE is counted against the data-dribble budget
(CVE-2019-9511); each stream error against the reset budget.
"""

from __future__ import annotations

from hyperframe.frame import RstStreamFrame

from mux.core import events as ev
from mux.core.h2engine_send import H2SendMixin
from mux.core.h2guard import (
    CONTINUATION,
    DATA,
    FLAG_PADDED,
    FLAG_PRIORITY,
    HEADERS,
    PRIORITY,
    RST_STREAM,
    WINDOW_UPDATE,
    RawFrame,
)
from mux.errors import ErrorCode

_KNOWN_TYPES = frozenset(range(0xB))
_STREAM_TYPES = frozenset({DATA, HEADERS, CONTINUATION})


class H2TriageMixin(H2SendMixin):
    """Inbound frame rules and the data-dribble budget."""

    def _triage(self, frame: RawFrame) -> RawFrame | None:
        """Apply the state-aware rules; return the frame to give h2, or None."""
        if frame.type not in _KNOWN_TYPES:
            return None
        if frame.type == PRIORITY:
            self._priority_frame(frame)
            return None
        if frame.type == HEADERS and frame.flags & FLAG_PRIORITY:
            frame = self._strip_priority(frame)
        if frame.type == WINDOW_UPDATE:
            self._count_window_update()
        if frame.type in (RST_STREAM, WINDOW_UPDATE) and frame.stream_id:
            return self._stream_control_frame(frame)
        if frame.type in _STREAM_TYPES and self._ended_by_peer(frame.stream_id):
            self._fail(
                ErrorCode.STREAM_CLOSED,
                f"frame type 0x{frame.type:x} on stream {frame.stream_id} after END_STREAM",
            )
        return frame

    def _count_window_update(self) -> None:
        """Data dribble (CVE-2019-9511): bound WINDOW_UPDATEs per DATA frame sent."""
        self._window_updates += 1
        lim = self.limits
        allowed = (
            lim.window_update_allowance
            + 2 * self._streams_seen
            + lim.window_updates_per_data_frame * self._data_frames_sent
        )
        if self._window_updates > allowed:
            self._fail(
                ErrorCode.ENHANCE_YOUR_CALM,
                f"too many WINDOW_UPDATE frames ({self._window_updates} for "
                f"{self._data_frames_sent} DATA frames sent)",
            )

    def _ended_by_peer(self, stream_id: int) -> bool:
        """True when the stream is closed and the closing was by END_STREAM
        (so the peer had ended its side): RFC 9113 §5.1 "closed"."""
        return bool(stream_id) and (
            self._stream_state(stream_id) == "closed"
            and self._h2._stream_is_closed_by_end(stream_id)
        )

    def _priority_frame(self, frame: RawFrame) -> None:
        if frame.stream_id == 0:
            self._fail(ErrorCode.PROTOCOL_ERROR, "PRIORITY frame on stream 0")
        if len(frame.payload) != 5:
            self._stream_error(frame.stream_id, ErrorCode.FRAME_SIZE_ERROR)
        elif int.from_bytes(frame.payload[:4], "big") & 0x7FFF_FFFF == frame.stream_id:
            self._stream_error(frame.stream_id, ErrorCode.PROTOCOL_ERROR)

    def _strip_priority(self, frame: RawFrame) -> RawFrame:
        payload = frame.payload
        pad = 1 if frame.flags & FLAG_PADDED else 0
        if len(payload) < pad + 5 or (pad and payload[0] > len(payload) - 6):
            self._fail(ErrorCode.PROTOCOL_ERROR, "HEADERS frame too short for its padding/priority")
        dependency = int.from_bytes(payload[pad : pad + 4], "big") & 0x7FFF_FFFF
        if dependency == frame.stream_id:
            self._doomed = {*self._doomed, frame.stream_id}
        body = payload[:pad] + payload[pad + 5 :]
        return RawFrame(frame.type, frame.flags & ~FLAG_PRIORITY, frame.stream_id, body)

    def _stream_control_frame(self, frame: RawFrame) -> RawFrame | None:
        if len(frame.payload) != 4:
            self._fail(ErrorCode.FRAME_SIZE_ERROR, f"frame type 0x{frame.type:x} length must be 4")
        state = self._stream_state(frame.stream_id)
        name = "RST_STREAM" if frame.type == RST_STREAM else "WINDOW_UPDATE"
        if state == "idle":
            self._fail(ErrorCode.PROTOCOL_ERROR, f"{name} on idle stream {frame.stream_id}")
        if state == "closed":
            return None  # a late frame: ignore (RFC 9113 §5.1 "closed")
        if frame.type == WINDOW_UPDATE and not int.from_bytes(frame.payload, "big") & 0x7FFF_FFFF:
            self._stream_error(frame.stream_id, ErrorCode.PROTOCOL_ERROR)
            return None
        return frame

    def _stream_error(self, stream_id: int, code: ErrorCode) -> None:
        """Reset a stream because of the peer (stream error, RFC 9113 §5.4.2)."""
        if self._stream_state(stream_id) == "open":
            self._h2.reset_stream(stream_id, error_code=code)
            self._drain()
            self._pending_resets.append(ev.StreamReset(stream_id, code, remote=False))
        else:
            frame = RstStreamFrame(stream_id)
            frame.error_code = int(code)
            self._out += frame.serialize()
        self._count_reset()
