"""Per-stream state and the bounded stream table.

Theory of operation
-------------------
A stream is idle until HEADERS opens it, then follows (spec/mux-protocol.md
"Streams")::

    idle -> open -> half-closed(local | remote) -> closed;  RST_STREAM -> closed

:data:`TRANSITIONS` is the whole state machine as a table: ``(state, input) ->
next state``; a missing entry is an illegal move. Idle and closed streams are
*not* objects: the :class:`StreamTable` holds only open streams and remembers
the past with two integers (the highest id each side opened) plus a bounded
insertion-ordered set of ids we reset recently. So a connection that ran a
million streams costs the same as a fresh one:

* id not in the table and above the highest opened id of its side: idle;
* id not in the table and at or below it: closed (``recently_reset`` says
  whether we reset it, which makes the peer's late frames harmless).

:class:`Stream` is slotted and holds ints only; it allocates nothing else
(body buffering belongs to the driver, bounded by the receive window).
"""

from __future__ import annotations

import enum
from typing import Final


class StreamState(enum.IntEnum):
    """States of an existing stream (idle and closed are not stored)."""

    OPEN = 1
    HALF_CLOSED_LOCAL = 2
    HALF_CLOSED_REMOTE = 3
    CLOSED = 4


class StreamInput(enum.IntEnum):
    """What moves a stream between states."""

    SEND_END_STREAM = 1
    RECV_END_STREAM = 2
    SEND_RST = 3
    RECV_RST = 4


_S = StreamState
_I = StreamInput

#: The stream state machine: ``(state, input) -> next state``.
TRANSITIONS: Final[dict[tuple[StreamState, StreamInput], StreamState]] = {
    (_S.OPEN, _I.SEND_END_STREAM): _S.HALF_CLOSED_LOCAL,
    (_S.OPEN, _I.RECV_END_STREAM): _S.HALF_CLOSED_REMOTE,
    (_S.HALF_CLOSED_LOCAL, _I.RECV_END_STREAM): _S.CLOSED,
    (_S.HALF_CLOSED_REMOTE, _I.SEND_END_STREAM): _S.CLOSED,
    **{(state, rst): _S.CLOSED for state in _S for rst in (_I.SEND_RST, _I.RECV_RST)},
}


class Stream:
    """One open stream: its state and its two flow-control windows.

    Attributes:
        stream_id: the id.
        state: current :class:`StreamState`.
        send_window: bytes we may still send (may be negative after SETTINGS).
        recv_window: bytes the peer may still send us.
        recv_unannounced: consumed bytes not yet returned with WINDOW_UPDATE.
        headers_sent: we sent the initial HEADERS.
        headers_received: the peer's initial HEADERS arrived.
    """

    __slots__ = (
        "headers_received",
        "headers_sent",
        "recv_unannounced",
        "recv_window",
        "send_window",
        "state",
        "stream_id",
    )

    def __init__(self, stream_id: int, send_window: int, recv_window: int) -> None:
        self.stream_id = stream_id
        self.state = StreamState.OPEN
        self.send_window = send_window
        self.recv_window = recv_window
        self.recv_unannounced = 0
        self.headers_sent = False
        self.headers_received = False

    def advance(self, event: StreamInput) -> StreamState | None:
        """Apply ``event``; return the new state, or None if the move is illegal
        (the state is then unchanged)."""
        new = TRANSITIONS.get((self.state, event))
        if new is not None:
            self.state = new
        return new

    @property
    def can_send(self) -> bool:
        """Our half is open."""
        return self.state is StreamState.OPEN or self.state is StreamState.HALF_CLOSED_REMOTE

    @property
    def can_receive(self) -> bool:
        """The peer's half is open."""
        return self.state is StreamState.OPEN or self.state is StreamState.HALF_CLOSED_LOCAL

    def __repr__(self) -> str:
        return f"<Stream {self.stream_id} {self.state.name} send={self.send_window}>"


class StreamTable:
    """Open streams plus a bounded memory of closed ones.

    Args:
        client_side: True when we open the (odd) streams.
        reset_memory: how many ids we reset are remembered.
    """

    __slots__ = (
        "client_side",
        "highest_inbound",
        "highest_outbound",
        "open_inbound",
        "open_outbound",
        "recently_reset",
        "reset_memory",
        "streams",
    )

    def __init__(self, *, client_side: bool, reset_memory: int) -> None:
        self.client_side = client_side
        self.streams: dict[int, Stream] = {}
        self.highest_inbound = 0
        self.highest_outbound = 0
        self.open_inbound = 0
        self.open_outbound = 0
        self.recently_reset: dict[int, None] = {}
        self.reset_memory = reset_memory

    def is_outbound(self, stream_id: int) -> bool:
        """Whether we (not the peer) open ``stream_id``: odd ids are the client's."""
        return (stream_id & 1 == 1) == self.client_side

    def is_closed(self, stream_id: int) -> bool:
        """True for a non-open id that was opened once (or skipped over)."""
        if stream_id in self.streams:
            return False
        if self.is_outbound(stream_id):
            return stream_id <= self.highest_outbound
        return stream_id <= self.highest_inbound

    def add(self, stream: Stream) -> None:
        """Register a newly opened stream and raise the side's highest id."""
        sid = stream.stream_id
        self.streams[sid] = stream
        if self.is_outbound(sid):
            self.open_outbound += 1
            self.highest_outbound = max(self.highest_outbound, sid)
        else:
            self.open_inbound += 1
            self.highest_inbound = max(self.highest_inbound, sid)

    def remove(self, stream_id: int, *, reset_by_us: bool = False) -> None:
        """Forget a closed stream; remember its id if we reset it."""
        if self.streams.pop(stream_id, None) is not None:
            if self.is_outbound(stream_id):
                self.open_outbound -= 1
            else:
                self.open_inbound -= 1
        if reset_by_us:
            self.remember_reset(stream_id)

    def remember_reset(self, stream_id: int) -> None:
        """Add ``stream_id`` to the bounded recently-reset set (oldest evicted)."""
        memory = self.recently_reset
        memory[stream_id] = None
        if len(memory) > self.reset_memory:
            del memory[next(iter(memory))]
