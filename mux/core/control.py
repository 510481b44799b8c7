"""ControlReceiver: the connection-level frame handlers of FrameReceiver.

RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE and unknown types, each
applying the checks of spec/mux-protocol.md Section 4 for its type in the
order of Section 3.3. :class:`~mux.core.receive.FrameReceiver` dispatches to
them through its ``HANDLERS`` table; DATA and HEADERS stay in receive.py, on
the hot path. A payload too long to be buffered arrives as an
:class:`~mux.core.codec.Oversized` stand-in (see receive.py's module doc) and
gets the outcome its length implies.
"""

from __future__ import annotations

from collections.abc import Mapping

from mux.core import events as ev
from mux.core.codec import Oversized
from mux.core.compiled import error_code as code_from_int
from mux.core.compiled import mypyc_attr
from mux.core.connstate import PING, SETTINGS, ConnectionState, pack_header, protocol_error
from mux.core.flow import BDP_PING, credit
from mux.core.frames import (
    ACK,
    MAX_SETTINGS_ENTRIES,
    STREAM_ID_MASK,
    decode_goaway,
    decode_settings,
    decode_u32,
)
from mux.core.settings import check_settings, known_settings
from mux.errors import (
    CalmDownError,
    ErrorCode,
    FlowControlError,
    FrameSizeError,
    RemoteProtocolError,
)


@mypyc_attr(allow_interpreted_subclasses=True)
class ControlReceiver(ConnectionState):
    """Handlers of the control frame types (a base of FrameReceiver)."""

    __slots__ = ()

    def _on_rst(
        self, flags: int, sid: int, payload: bytes | Oversized, events: list[ev.Event]
    ) -> None:
        if sid == 0:
            raise protocol_error("RST_STREAM on stream 0")
        code = decode_u32(_exact(payload, 4, "RST_STREAM"))
        self._count_control()
        if sid not in self._streams:
            if not self._table.is_closed(sid):
                raise protocol_error(f"RST_STREAM on idle stream {sid}")
            return
        self._table.remove(sid)
        events.append(ev.StreamReset(sid, code_from_int(code), True))
        self._count_reset()

    def _on_settings(
        self, flags: int, sid: int, payload: bytes | Oversized, events: list[ev.Event]
    ) -> None:
        if sid != 0:
            raise protocol_error(f"SETTINGS on stream {sid}")
        self._count_control()
        if flags & ACK:
            if payload:
                raise FrameSizeError(f"SETTINGS ACK with a {len(payload)}-byte payload")
            if not self._pending:
                raise protocol_error("SETTINGS ACK but no SETTINGS awaits acknowledgement")
            self._local = self._local.with_changes(self._pending.pop(0))
            self._recompute_local()
            events.append(ev.SettingsAcknowledged())
            return
        if isinstance(payload, Oversized):
            raise _oversized_settings(payload)
        changes = decode_settings(payload)
        check_settings(changes)
        known = known_settings(changes)
        self._apply_remote(known)
        self._queue_control(pack_header(0, SETTINGS, ACK, 0))
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

    def _on_ping(
        self, flags: int, sid: int, payload: bytes | Oversized, events: list[ev.Event]
    ) -> None:
        if sid != 0:
            raise protocol_error(f"PING on stream {sid}")
        payload = _exact(payload, 8, "PING")
        if flags & ACK or not self._keepalive_ping():
            self._count_control()
        if flags & ACK:
            tuner = self._tuner
            if payload == BDP_PING and tuner is not None and tuner.sampling:
                self._finish_sample(tuner)
            else:
                events.append(ev.PingAcknowledged(payload))
        else:
            self._queue_control(pack_header(8, PING, ACK, 0) + payload)
            events.append(ev.PingReceived(payload))

    def _on_goaway(
        self, flags: int, sid: int, payload: bytes | Oversized, events: list[ev.Event]
    ) -> None:
        if sid != 0:
            raise protocol_error(f"GOAWAY on stream {sid}")
        # Oversized: the kept prefix holds the 8 fixed bytes; debug data is cut.
        kept = payload.prefix if isinstance(payload, Oversized) else payload
        last, code, debug = decode_goaway(kept)
        self._count_control()
        previous = self._goaway_received_id
        if previous is not None and last > previous:
            raise protocol_error(f"GOAWAY raised last_stream_id from {previous} to {last}")
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
        self, flags: int, sid: int, payload: bytes | Oversized, events: list[ev.Event]
    ) -> None:
        increment = decode_u32(_exact(payload, 4, "WINDOW_UPDATE")) & STREAM_ID_MASK
        self._count_control()
        if sid == 0:
            if increment == 0:
                raise protocol_error("WINDOW_UPDATE with increment 0 on the connection")
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
                raise protocol_error(f"WINDOW_UPDATE on idle stream {sid}")
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


def _exact(payload: bytes | Oversized, size: int, what: str) -> bytes:
    """The payload of a fixed-size frame type ``what``.

    Raises:
        FrameSizeError: the payload is not ``size`` bytes long.
    """
    if isinstance(payload, Oversized) or len(payload) != size:
        raise FrameSizeError(f"{what} payload must be {size} bytes, got {len(payload)}")
    return payload


def _oversized_settings(payload: Oversized) -> RemoteProtocolError:
    """The connection error for a SETTINGS payload too long to be buffered.

    Every msgpack integer takes at most 9 bytes, so a map of at most
    MAX_SETTINGS_ENTRIES uint: uint entries is at most 5 + 32 * 18 = 581
    bytes: a payload over the decoder's 64 KiB floor is malformed whatever
    its content, exactly as :func:`~mux.core.frames.decode_settings` would
    find (PROTOCOL_ERROR).
    """
    return protocol_error(
        f"malformed SETTINGS payload: {len(payload)} bytes, longer than any map of "
        f"at most {MAX_SETTINGS_ENTRIES} uint entries"
    )
