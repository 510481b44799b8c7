"""ConnectionState: the state and bookkeeping shared by both halves of MuxConnection.

Theory of operation
-------------------
:class:`~mux.core.connection.MuxConnection` is split by concern into four
layers of one slotted class hierarchy (no extra object, no indirection)::

    ConnectionState (this module)   state, counters, output queue, bookkeeping
      ControlReceiver (control.py)  handlers of the control frame types
        FrameReceiver (receive.py)  receive_data, DATA and HEADERS
          MuxConnection (connection.py)  the public commands and properties

This module holds every slot of the connection plus the helpers both the
receive side and the commands use: queuing frames the peer made us send
(bounded by ``max_queued_control_frames``), stream errors (RST_STREAM + the
recently-reset set), stream half-closes, the flood counters of
:mod:`mux.core.limits`, returning connection credit (:mod:`mux.core.flow`),
and our own settings: they are enforced with the *loosest* of the
acknowledged value and every value still awaiting ACK (``_effective``), so a
lowered limit binds only after the ACK while a raised one binds at once.

Connection errors are raised here as :class:`~mux.errors.RemoteProtocolError`
subclasses; :meth:`ConnectionState._fail` turns one into the GOAWAY the spec
requires (preceded by our preface if we had not sent it).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Final

from mux.core import events as ev
from mux.core.codec import FrameDecoder
from mux.core.compiled import mypyc_attr
from mux.core.flow import BDP_PING, WindowTuner, grown_target, outstanding, update_due
from mux.core.frames import (
    HEADER_STRUCT,
    PREFACE,
    FrameType,
    encode_frame,
    encode_goaway,
    encode_settings,
)
from mux.core.limits import DEFAULT_LIMITS, ProtocolLimits, advertised_settings
from mux.core.settings import DEFAULT_SETTINGS, Settings, known_settings
from mux.core.streams import Stream, StreamInput, StreamState, StreamTable
from mux.errors import CalmDownError, ErrorCode, RemoteProtocolError

pack_header: Final = HEADER_STRUCT.pack
DATA: Final = int(FrameType.DATA)
HEADERS: Final = int(FrameType.HEADERS)
RST: Final = int(FrameType.RST_STREAM)
SETTINGS: Final = int(FrameType.SETTINGS)
PING: Final = int(FrameType.PING)
GOAWAY: Final = int(FrameType.GOAWAY)
WINDOW_UPDATE: Final = int(FrameType.WINDOW_UPDATE)
#: GOAWAY debug text is cut to this many bytes.
MAX_DEBUG_SIZE: Final = 512
#: Non-DATA payloads up to this many bytes (the spec's default MAX_FRAME_SIZE)
#: or our MAX_HEADER_LIST_SIZE, if larger, are buffered whole; longer ones are
#: skipped as they arrive (FrameDecoder.max_buffered, mux.core.codec).
MAX_BUFFERED_FLOOR: Final = 65536


def protocol_error(message: str) -> RemoteProtocolError:
    """A connection error PROTOCOL_ERROR naming the problem."""
    return RemoteProtocolError(message, ErrorCode.PROTOCOL_ERROR)


@mypyc_attr(allow_interpreted_subclasses=True)
class ConnectionState:
    """Every field of one mux connection, and the helpers that keep them consistent.

    Args:
        client_side: True for the side that opens (odd) streams.
        limits: our advertised settings and flood budgets.
        clock: monotonic seconds; read only to tell the peer's keepalive PINGs
            (at most one per its KEEPALIVE_INTERVAL) from a PING flood.
    """

    __slots__ = (
        "_autotune",
        "_chunks",
        "_clock",
        "_closed",
        "_control_count",
        "_decoder",
        "_effective",
        "_empty_count",
        "_goaway_received_id",
        "_goaway_sent_id",
        "_got_settings",
        "_initiated",
        "_keepalive_at",
        "_last_processed",
        "_local",
        "_opened",
        "_out",
        "_pending",
        "_piece_live",
        "_progress_mark",
        "_queued_control",
        "_recv_unannounced",
        "_recv_window",
        "_refused",
        "_remote",
        "_resets",
        "_send_window",
        "_streams",
        "_table",
        "_tuner",
        "_unknown_count",
        "client_side",
        "limits",
    )

    def __init__(
        self,
        *,
        client_side: bool,
        limits: ProtocolLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client_side = client_side
        self.limits = limits or DEFAULT_LIMITS
        # Read only for a PING when the peer advertised KEEPALIVE_INTERVAL (spec 9.3).
        self._clock = clock
        self._keepalive_at = -math.inf
        self._out = bytearray()
        # Output before ``_out`` when large DATA payloads are queued by reference.
        self._chunks: list[bytes | memoryview] | None = None
        self._decoder = FrameDecoder(DEFAULT_SETTINGS.max_frame_size)
        self._decoder.partial_data = True
        self._decoder.max_buffered = max(MAX_BUFFERED_FLOOR, DEFAULT_SETTINGS.max_header_list_size)
        # The DATA frame whose pieces still arrive was accepted (see receive.py).
        self._piece_live = False
        # (partial DATA frame serial, FRAME_PROGRESS units of it) at the last
        # frame-timer restart (MuxConnection.take_frame_progress).
        self._progress_mark = (0, 0)
        self._initiated = self._closed = self._got_settings = False
        self._local: Settings = DEFAULT_SETTINGS  # acknowledged by the peer
        self._effective: Settings = DEFAULT_SETTINGS  # loosest of acked + pending
        self._remote: Settings = DEFAULT_SETTINGS
        self._pending: list[Mapping[int, int]] = []
        self._table = StreamTable(
            client_side=client_side, reset_memory=self.limits.recently_reset_memory
        )
        self._streams = self._table.streams
        self._send_window = DEFAULT_SETTINGS.connection_window
        self._recv_window = DEFAULT_SETTINGS.connection_window
        self._recv_unannounced = 0
        self._tuner: WindowTuner | None = None  # created at the first sample
        limits = self.limits
        self._autotune = (
            limits.stream_window_cap > limits.initial_stream_window
            or limits.max_connection_window > limits.connection_window
        )
        self._goaway_sent_id: int | None = None
        self._goaway_received_id: int | None = None
        self._last_processed = 0
        self._queued_control = self._control_count = self._empty_count = 0
        self._unknown_count = self._resets = self._refused = self._opened = 0

    # ------------------------------------------------------------ our settings

    def _initiate(self) -> None:
        """Queue our preface and our first SETTINGS (non-default limits only)."""
        self._initiated = True
        self._out += PREFACE
        # One mapping per limits object, shared by its connections (read only:
        # it waits in ``_pending`` until the peer's ACK, forever on a peer that
        # never acknowledges).
        self._send_settings(advertised_settings(self.limits))

    def _send_settings(self, changes: Mapping[int, int]) -> None:
        self._out += encode_frame(SETTINGS, 0, 0, encode_settings(changes))
        self._pending.append(changes)
        self._recompute_local()

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
        self._decoder.max_buffered = max(MAX_BUFFERED_FLOOR, new.max_header_list_size)
        self._effective = new

    # ------------------------------------------------------------ bookkeeping

    def _count_control(self) -> None:
        self._control_count += 1
        if self._control_count > self.limits.max_control_frames_without_progress:
            raise CalmDownError(f"{self._control_count} control frames without progress")

    def _keepalive_ping(self) -> bool:
        """Whether a received PING is within the peer's keepalive allowance (spec 9.3).

        A peer that advertised KEEPALIVE_INTERVAL = N pings at most once per N ms
        of silence; such PINGs never count toward the control-frame budget. One
        PING at least N/2 ms after the previous uncounted one is uncounted (half,
        for timer jitter); any other PING counts as usual.
        """
        interval = self._remote.keepalive_interval_ms
        if not interval:
            return False
        now = self._clock()
        if (now - self._keepalive_at) * 2000 < interval:
            return False
        self._keepalive_at = now
        return True

    def _stream_cap_reached(self, sid: int) -> None:
        """The peer opened its last stream for this connection: GOAWAY(NO_ERROR, ``sid``).

        Graceful (spec 9.1, 11.2): ``sid`` and the streams below it complete,
        higher ids are refused, the client moves on to a new connection.
        """
        if self._goaway_sent_id is None or self._goaway_sent_id > sid:
            self._queue_goaway(sid, 0, b"streams per connection limit reached")

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
        self._queue_control(pack_header(4, RST, 0, sid) + code.to_bytes(4))
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
        if update_due(unannounced, self._connection_target()):
            self._out += pack_header(4, WINDOW_UPDATE, 0, 0) + unannounced.to_bytes(4)
            self._recv_window += unannounced
            unannounced = 0
        self._recv_unannounced = unannounced

    # ------------------------------------------------------------ window tuning

    def _connection_target(self) -> int:
        """The connection receive window we grant: configured plus tuned growth."""
        tuner = self._tuner
        extra = 0 if tuner is None else tuner.conn_extra
        return self._effective.connection_window + extra

    def _stream_target(self, sid: int) -> int:
        """A stream's receive window we grant: configured plus tuned growth."""
        tuner = self._tuner
        extra = 0 if tuner is None else tuner.stream_extra.get(sid, 0)
        return self._effective.initial_stream_window + extra

    def _tune_on_data(self, stream: Stream, size: int) -> None:
        """Count a delivered DATA frame, or start a sample when a window is in use."""
        tuner = self._tuner
        if tuner is not None:
            if tuner.sampling:
                tuner.count(stream.stream_id, size)
                return
            if tuner.quiet > 0:
                tuner.quiet -= size
                return
        limits = self.limits
        target = self._stream_target(stream.stream_id)
        conn_target = self._connection_target()
        # Sample only when over 1/8 of a window is in use (a burst, not a small
        # unary body) and the window may still grow.
        if (8 * (target - stream.recv_window) > target and target < limits.stream_window_cap) or (
            8 * (conn_target - self._recv_window) > conn_target
            and conn_target < limits.max_connection_window
        ):
            if tuner is None:
                tuner = self._tuner = WindowTuner()
            tuner.start(stream.stream_id, size)
            self._out += pack_header(8, PING, 0, 0) + BDP_PING

    def _finish_sample(self, tuner: WindowTuner) -> None:
        """The BDP PING came back: grow the windows the sample shows too small."""
        grew = False
        streams = self._streams
        cap = self.limits.stream_window_cap
        for sid, sampled in tuner.sample_streams.items():
            stream = streams.get(sid)
            if stream is None or not stream.can_receive:
                continue
            target = self._stream_target(sid)
            buffered = outstanding(target, stream.recv_window, stream.recv_unannounced)
            new = grown_target(target, sampled, buffered, cap)
            if new > target:
                grew = True
                tuner.stream_extra[sid] = tuner.stream_extra.get(sid, 0) + new - target
                stream.recv_window += new - target
                self._out += pack_header(4, WINDOW_UPDATE, 0, sid) + (new - target).to_bytes(4)
        tuner.sample_streams = {}
        for sid in [sid for sid in tuner.stream_extra if sid not in streams]:
            del tuner.stream_extra[sid]
        target = self._connection_target()
        buffered = outstanding(target, self._recv_window, self._recv_unannounced)
        new = grown_target(target, tuner.sample_total, buffered, self.limits.max_connection_window)
        if new > target:
            grew = True
            tuner.conn_extra += new - target
            self._recv_window += new - target
            self._out += pack_header(4, WINDOW_UPDATE, 0, 0) + (new - target).to_bytes(4)
        tuner.settle(grew, self._connection_target())

    def _fail(self, exc: RemoteProtocolError) -> None:
        if not self._initiated:
            self._initiated = True
            self._out += PREFACE
        debug = str(exc.args[0]).encode("utf-8", "replace")[:MAX_DEBUG_SIZE]
        self._queue_goaway(self._last_processed, int(exc.code), debug)
        self._closed = True

    def _queue_goaway(self, last: int, code: int, debug: bytes) -> None:
        """Queue GOAWAY; ``last`` never rises above a GOAWAY already sent."""
        if self._goaway_sent_id is not None:
            last = min(last, self._goaway_sent_id)
        self._goaway_sent_id = last
        self._out += encode_frame(GOAWAY, 0, 0, encode_goaway(last, code, debug))
