"""The state every part of :class:`~mux.driver.connection.ConnectionDriver` shares.

Theory of operation
-------------------
The driver is split by concern into a chain of mixins, each in its own module:
:class:`DriverBase` (this module: the slotted state, the stream-slot parking
lot, the timer deadline) → :class:`~mux.driver.writer.WriterMixin` (flusher) →
:class:`~mux.driver.lifecycle.LifecycleMixin` (handlers, shutdown, close) →
:class:`~mux.driver.timers.TimersMixin` (timers, parking) →
:class:`~mux.driver.dispatch.ReaderMixin` (reader loop, event dispatch) →
:class:`~mux.driver.connection.ConnectionDriver` (public API, ``run``). A
mixin calls only what it or a class before it in the chain defines;
:meth:`DriverBase._close` is the one forward declaration (type checking only).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import trio

from mux.config import ConnectionTimeouts
from mux.core import events as ev
from mux.core.engine import Engine
from mux.errors import ConnectionClosed, ErrorCode

if TYPE_CHECKING:
    from mux.driver.stream import Stream

#: A server's per-stream callback: runs while the request is active.
StreamHandler = Callable[["Stream"], Awaitable[None]]


class DriverBase:
    """Slotted state of one connection driver (see :class:`ConnectionDriver` for the arguments)."""

    __slots__ = (
        "_active_handlers",
        "_backlog",
        "_can_park",
        "_carry",
        "_close_flushed",
        "_closed",
        "_closing",
        "_deferred",
        "_deferred_data",
        "_dirty",
        "_dispatch_batch",
        "_engine",
        "_error",
        "_final_goaway_sent",
        "_finished",
        "_flush_done",
        "_flushing",
        "_goaway",
        "_handshake_at",
        "_header_since",
        "_idle_since",
        "_initial_data",
        "_last_received",
        "_max_handlers",
        "_nursery",
        "_on_stream",
        "_park_at",
        "_park_delay",
        "_park_requested",
        "_parked",
        "_partial_since",
        "_peer_settings_seen",
        "_pending_events",
        "_ping_due_at",
        "_read_lot",
        "_sending",
        "_settings_ack_at",
        "_shutdown_on_start",
        "_shutdown_ping_at",
        "_shutting_down",
        "_slot_lot",
        "_started",
        "_streams",
        "_timeouts",
        "_timer_scope",
        "_tiny_pace",
        "_transport",
        "_unsent",
        "_unyielded",
        "_upgraded_request",
        "_window_waiters",
        "bytes_received",
        "bytes_sent",
        "client_address",
        "park_token",
    )

    def __init__(
        self,
        transport: trio.abc.Stream,
        engine: Engine,
        *,
        on_stream: StreamHandler | None = None,
        timeouts: ConnectionTimeouts | None = None,
        max_handlers: int | None = None,
        initial_data: bytes = b"",
        dispatch_batch: int | None = None,
        can_park: Callable[[trio.abc.Stream], bool] | None = None,
        park_delay: float = 0.25,
    ) -> None:
        self._transport = transport
        self._engine = engine
        self._on_stream = on_stream
        self._timeouts = timeouts if timeouts is not None else ConnectionTimeouts()
        self._max_handlers = max_handlers if max_handlers is not None else math.inf
        self._initial_data = initial_data
        # HTTP/1.1 engines (duck-typed): next pipelined request after a
        # response, and "close after flushing".
        self._pending_events: Callable[[], list[ev.Event]] | None = getattr(
            engine, "pending_events", None
        )
        # Lazily created (an idle connection should cost little memory).
        self._read_lot: trio.lowlevel.ParkingLot | None = None
        self._slot_lot: trio.lowlevel.ParkingLot | None = None
        self._flush_done: trio.Event | None = None
        self._flushing = False
        self._timer_scope: trio.CancelScope | None = None
        self._closed: trio.Event | None = None
        self._window_waiters: set[Stream] | None = None
        #: Tiny-DATA pacing bucket (tokens, time), created on first use.
        self._tiny_pace: tuple[float, float] | None = None
        self._backlog: list[ev.Event] | None = None
        # Streams whose response headers wait for the next flush.
        self._deferred: list[Stream] | None = None
        self._deferred_data = 0  # how many of them hold a DATA chunk
        self._upgraded_request: ev.RequestReceived | None = None
        self._streams: dict[int, Stream] = {}
        self._dispatch_batch = dispatch_batch or 0
        self._nursery: trio.Nursery | None = None
        self._finished = False
        self._started = False
        self._can_park = can_park
        self._park_delay = park_delay
        self._park_at: float | None = None
        self._park_requested = False
        self._parked = False
        #: Owned by the :class:`~mux.driver.parker.Parker` while parked.
        self.park_token = 0
        self._dirty = False
        self._unsent = 0
        self._sending = 0
        #: Views of a send round not yet written (see WriterMixin._flush_inline).
        self._carry: list[memoryview] | None = None
        #: Bytes written synchronously since the last flush checkpoint (writer.BURST).
        self._unyielded = 0
        self._active_handlers = 0
        self._closing = False
        #: Everything queued before the close went to the kernel (LifecycleMixin._finish_close).
        self._close_flushed = False
        self._error: ConnectionClosed | None = None
        self._goaway: ev.GoAwayReceived | None = None
        self._shutting_down = False
        self._final_goaway_sent = False
        # An HTTP/1.1 client has no SETTINGS to wait for: it may send at once.
        self._peer_settings_seen = engine.client_side and engine.protocol == "http/1.1"
        self._shutdown_on_start = False
        # Timers: absolute trio times, None when not armed.
        self._handshake_at: float | None = None
        self._settings_ack_at: float | None = None
        self._partial_since: float | None = None
        #: When the peer's unfinished header block began (header timeout).
        self._header_since: float | None = None
        self._last_received = 0.0
        self._ping_due_at: float | None = None
        self._idle_since: float | None = None
        self._shutdown_ping_at: float | None = None
        #: Total bytes handed to the transport's send path (statistics).
        self.bytes_sent = 0
        #: Total bytes read from the transport (statistics).
        self.bytes_received = 0
        #: Server side: the client as ``(host, port)`` (the PROXY protocol source
        #: or the socket peer), set by the server; ``None`` if unknown.
        self.client_address: tuple[str, int] | None = None

    if TYPE_CHECKING:

        def _close(
            self, error: ConnectionClosed, goaway: ErrorCode | None = None, debug: bytes = b""
        ) -> None:
            """Defined by :class:`~mux.driver.lifecycle.LifecycleMixin`."""

    def _spawn(self, fn: Callable[[], Awaitable[None]]) -> bool:
        """Start ``fn`` in the connection's nursery; False if it is gone or closing.

        Between the nursery finishing and ``run`` resuming to forget it, other
        tasks (a call being cancelled, ``aclose``) can still reach here: trio then
        refuses new children, and the connection is ending anyway.
        """
        nursery = self._nursery
        if nursery is None:
            return False
        try:
            nursery.start_soon(fn)
        except RuntimeError:  # "Nursery is closed to new arrivals"
            self._nursery = None
            return False
        return True

    def _lot_for_slots(self) -> trio.lowlevel.ParkingLot:
        if self._slot_lot is None:
            self._slot_lot = trio.lowlevel.ParkingLot()
        return self._slot_lot

    def _unpark_slots(self) -> None:
        if self._slot_lot is not None:
            self._slot_lot.unpark_all()

    def _rearm_timers(self) -> None:
        """A timer moved: let the reader wake at the new earliest deadline."""
        if self._timer_scope is not None:
            self._timer_scope.deadline = self._next_deadline()

    def _next_deadline(self) -> float:
        t = self._timeouts
        candidates = [math.inf]
        for at in (self._handshake_at, self._settings_ack_at, self._shutdown_ping_at):
            if at is not None:
                candidates.append(at)
        if self._partial_since is not None and t.frame is not None:
            candidates.append(self._partial_since + t.frame)
        if self._header_since is not None and t.header is not None:
            candidates.append(self._header_since + t.header)
        if self._ping_due_at is not None:
            candidates.append(self._ping_due_at)
        elif t.keepalive_interval is not None and self._engine.protocol != "http/1.1":
            candidates.append(self._last_received + t.keepalive_interval)
        if self._idle_since is not None and t.idle is not None:
            candidates.append(self._idle_since + t.idle)
        if self._park_at is not None:
            candidates.append(self._park_at)
        return min(candidates)
