"""The timers and parking of :class:`~mux.driver.connection.ConnectionDriver`.

Theory of operation
-------------------
The reader task waits for bytes in a cancel scope whose deadline is no later
than the earliest armed timer (:meth:`~mux.driver.base.DriverBase._next_deadline`).
One scope serves many reads, so a timer that moved later fires early once and
finds nothing due. When it fires, the reader calls
:meth:`TimersMixin._run_timers`, which closes the connection on a handshake,
SETTINGS-ack, incomplete-frame, keepalive or idle timeout (or, from a
stream's send-stall wait, when every stream is held at a zero window:
:meth:`TimersMixin._send_stall_timeout`), sends the keepalive
PING or the final shutdown GOAWAY, or asks :meth:`ConnectionDriver.run` to
park the idle connection. Code that moves a timer calls ``_rearm_timers`` so
the reader wakes at the new deadline.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import trio

from mux.driver.lifecycle import LifecycleMixin
from mux.driver.tuning import KEEPALIVE_PING
from mux.errors import ConnectionClosed, ErrorCode
from mux.logs import peer_error

if TYPE_CHECKING:
    from mux.driver.stream import Stream

logger = logging.getLogger("mux.driver")


class TimersMixin(LifecycleMixin):
    """Timers (handshake, SETTINGS ack, frame, keepalive, idle, shutdown PING) and parking."""

    __slots__ = ()

    # --------------------------------------------------------------- parking

    def _parkable(self) -> bool:
        """Idle and nothing buffered anywhere: safe to drop every task."""
        return (
            self._can_park is not None
            and not (self._streams or self._active_handlers or self._closing)
            and not (self._shutting_down or self._shutdown_on_start)
            and not (self._dirty or self._flushing or self._unsent or self._sending or self._carry)
            and not (self._backlog or self._deferred)
            and self._upgraded_request is None
            and self._pending_events is None
            and self._partial_since is None
            and self._header_since is None
            and self._can_park(self._transport)
        )

    def _request_park(self) -> None:
        """Timer: idle long enough; stop the tasks so :meth:`run` can park."""
        self._park_at = None
        if self._parkable() and self._nursery is not None:
            self._park_requested = True
            self._nursery.cancel_scope.cancel()
        else:
            self._park_at = trio.current_time() + self._park_delay

    def _park(self) -> None:
        self._parked = True
        self._park_at = None
        self._flush_done = None
        self._timer_scope = None
        self._read_lot = None
        self._window_waiters = None
        self._backlog = None
        self._deferred = None
        self._streams = {}

    def parked_deadline(self) -> float:
        """While parked: when a timer (idle, keepalive, ...) needs the connection."""
        return self._next_deadline()

    # ---------------------------------------------------------------- timers

    def _arm_initial_timers(self) -> None:
        now = trio.current_time()
        self._last_received = now
        self._idle_since = now
        if self._can_park is not None:
            self._park_at = now + self._park_delay
        t = self._timeouts
        self._handshake_at = now + t.handshake if t.handshake is not None else None
        self._settings_ack_at = now + t.settings_ack if t.settings_ack is not None else None
        if self._engine.protocol == "http/1.1":
            self._settings_ack_at = None  # no SETTINGS in HTTP/1.1
            if self._engine.client_side:
                self._handshake_at = None  # the server speaks only when asked

    def _track_header_block(self, now: float) -> None:
        """After a read: the header timer runs while the engine says the peer's
        header block is unfinished (``header_block_open``), from its first byte."""
        if getattr(self._engine, "header_block_open", False):
            if self._header_since is None:
                self._header_since = now
        else:
            self._header_since = None

    def _run_timers(self, now: float) -> None:
        t = self._timeouts
        if self._handshake_at is not None and now >= self._handshake_at:
            self._timeout("no preface/SETTINGS", t.handshake, ErrorCode.PROTOCOL_ERROR)
        elif self._settings_ack_at is not None and now >= self._settings_ack_at:
            self._timeout("SETTINGS not acknowledged", t.settings_ack, ErrorCode.SETTINGS_TIMEOUT)
        elif (
            t.frame is not None
            and self._partial_since is not None
            and now >= self._partial_since + t.frame
        ):
            self._timeout("incomplete frame", t.frame, ErrorCode.PROTOCOL_ERROR)
        elif (
            t.header is not None
            and self._header_since is not None
            and now >= self._header_since + t.header
        ):
            self._timeout("unfinished header block", t.header, ErrorCode.PROTOCOL_ERROR)
        if self._closing:
            return
        if self._ping_due_at is not None and now >= self._ping_due_at:
            self._timeout("keepalive PING not answered", t.keepalive_timeout, ErrorCode.NO_ERROR)
        elif (
            self._ping_due_at is None
            and t.keepalive_interval is not None
            and self._engine.protocol != "http/1.1"
            and now >= self._last_received + t.keepalive_interval
        ):
            self._engine.ping(KEEPALIVE_PING)
            self._ping_due_at = now + t.keepalive_timeout
            self._wake_writer()
        if self._idle_since is not None and t.idle is not None and now >= self._idle_since + t.idle:
            self._timeout("idle", t.idle, ErrorCode.NO_ERROR)
        if self._shutdown_ping_at is not None and now >= self._shutdown_ping_at:
            self._send_final_goaway()
        if self._park_at is not None and now >= self._park_at and not self._closing:
            self._request_park()

    def _every_stream_held(self, stream: Stream) -> bool:
        """True when ``stream`` hit the send-stall timeout and every other
        unfinished stream also waits for send credit (the whole connection is
        held at a zero window). Server side only: a client's streams awaiting
        their responses have ended their side and would not count."""
        if self._engine.client_side:
            return False
        waiters = self._window_waiters or set()
        return all(
            other is stream or other in waiters
            for other in self._streams.values()
            if not other.local_ended
        )

    def _send_stall_timeout(self, seconds: float | None) -> None:
        """Every stream held at a zero window: close the connection with GOAWAY."""
        self._timeout(
            "every stream held at a zero send window", seconds, ErrorCode.ENHANCE_YOUR_CALM
        )

    def _timeout(self, what: str, seconds: float | None, code: ErrorCode) -> None:
        if self._closing:
            return
        message = f"{what} within {seconds} s"
        if code == ErrorCode.NO_ERROR:
            logger.debug("closing connection: %s", message)
        else:
            peer_error(logger, f"timeout ({what})", "closing connection: %s", message)
        self._close(ConnectionClosed(f"timeout: {message}", code=code), code, message.encode())
