"""Connection-pool bookkeeping as pure code (httpcore ``_assign_requests_to_connections``).

Theory of operation
-------------------
Every call takes a :class:`Ticket` (a claim on one stream slot) from the
:class:`PoolBook`, and gives it back when its stream is closed. The book knows, for
each pooled connection, its status, how many calls hold a slot on it (``active``)
and the server's MAX_CONCURRENT_STREAMS (``max_streams``); it never does I/O.
:meth:`PoolBook.assign` serves waiting tickets in FIFO order:

1. a usable connection (connecting or ready, not draining) with a free slot: the
   oldest one, so traffic concentrates and spare connections can idle out;
2. otherwise, while fewer than ``max_connections`` connections are usable, open a
   new one and assign the ticket to it; its ``max_streams`` is assumed to be the
   last value the server announced (spec default 100) until SETTINGS arrive.
   Tickets that arrive while that connection is still connecting join it
   (single-flight connect: no stampede); when its SETTINGS reveal a lower
   limit, the tickets beyond it go back to the head of the queue (and may open
   another connection);
3. during a reconnection backoff no connection is opened: if no connection is
   usable the ticket fails at once (gRPC fail-fast), otherwise it keeps waiting;
4. otherwise the ticket waits until a slot frees (never "too many streams").

Every mutating method returns the tickets whose state changed, so the async
layer (:mod:`mux_client.channel`) wakes exactly those callers.

Cost: O(log connections) per ticket, not a scan of every connection (an
HTTP/1.1 pool of 800 one-stream connections is 800 books). The book keeps the
count of usable connections, and a min-heap of the keys of connections that
may have a free slot (keys only grow, so the smallest key is the oldest): a
connection is pushed when it gains a slot (opened, a ticket released, a higher
limit) and popped lazily when found full, draining or closed.
"""

from __future__ import annotations

import collections
import enum
import heapq
from typing import Final

import attrs

#: The spec's default MAX_CONCURRENT_STREAMS, assumed until the server's SETTINGS.
DEFAULT_MAX_STREAMS: Final = 100


class ConnStatus(enum.Enum):
    """Lifecycle of one pooled connection."""

    CONNECTING = "connecting"
    READY = "ready"
    #: GOAWAY received: running calls finish, no new ones are assigned.
    DRAINING = "draining"


@attrs.define
class ConnBook:
    """Bookkeeping for one pooled connection."""

    key: int
    status: ConnStatus = ConnStatus.CONNECTING
    active: int = 0
    max_streams: int = DEFAULT_MAX_STREAMS
    #: Tickets assigned while connecting (re-queued if the real limit is lower).
    pending: list[Ticket] = attrs.field(factory=list)
    #: Its key is in the book's heap of connections that may have a free slot.
    listed: bool = attrs.field(default=False, repr=False, eq=False)

    def is_usable(self) -> bool:
        """True when new calls may be assigned to this connection."""
        return self.status is not ConnStatus.DRAINING

    def has_capacity(self) -> bool:
        """True when it is usable and below the server's stream limit."""
        return self.is_usable() and self.active < self.max_streams


@attrs.define(eq=False)
class Ticket:
    """One call's claim on a stream slot.

    Exactly one of these ends up set: ``key`` (the connection to use; ``opens``
    is True for the one ticket whose arrival created it) or ``failure``.
    """

    key: int | None = None
    opens: bool = False
    #: Why the ticket cannot be served (e.g. reconnection backoff in force).
    failure: str | None = None
    #: Seconds until the backoff allows a connection attempt (with ``failure``).
    retry_in: float | None = None

    #: Set by :meth:`PoolBook.release`; a released ticket is inert.
    released: bool = False

    def is_settled(self) -> bool:
        """True once the ticket has a connection or a failure."""
        return self.key is not None or self.failure is not None


@attrs.define
class PoolBook:
    """The pool's whole state, mutated only through its methods."""

    max_connections: int = 1
    conns: dict[int, ConnBook] = attrs.field(factory=dict)
    waiting: collections.deque[Ticket] = attrs.field(factory=collections.deque)
    #: Stream limit assumed for a connection until its server's SETTINGS arrive.
    assumed_max_streams: int = DEFAULT_MAX_STREAMS
    #: Reason of the last connection failure, while a backoff is in force.
    backoff_reason: str | None = None
    #: No connection may be opened before this time.
    not_before: float = float("-inf")
    _next_key: int = 1
    #: Keys of connections that may have a free slot (a min-heap: oldest first).
    _free: list[int] = attrs.field(factory=list, repr=False)
    #: How many connections in ``conns`` are not draining.
    _usable: int = attrs.field(default=0, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {self.max_connections}")

    def request(self, now: float) -> list[Ticket]:
        """Queue a new ticket (last in the returned list) and assign what can be."""
        ticket = Ticket()
        if not self.waiting and self._settle(ticket, now):
            return [ticket]  # the common case, O(connections) without the queue
        self.waiting.append(ticket)
        changed = self.assign(now)
        if ticket not in changed:
            changed.append(ticket)
        return changed

    def release(self, ticket: Ticket, now: float) -> list[Ticket]:
        """Give back ``ticket`` (call done, cancelled or failed); may wake others."""
        if ticket.released:
            return []
        ticket.released = True
        if not ticket.is_settled():
            self.waiting.remove(ticket)
        elif ticket.key is not None and ticket.key in self.conns:
            book = self.conns[ticket.key]
            book.active -= 1
            if book.pending and ticket in book.pending:
                book.pending.remove(ticket)
            self._list(book)
        return self.assign(now) if self.waiting else []

    def connected(self, key: int, max_streams: int, now: float) -> list[Ticket]:
        """Connection ``key`` is ready; ``max_streams`` is the server's limit."""
        book = self.conns[key]
        book.status = ConnStatus.READY
        self.not_before, self.backoff_reason = float("-inf"), None
        # Tickets that joined beyond the real limit go back to the head of the
        # queue, in order, so they may open another connection.
        overflow = book.pending[max(max_streams, 0) :]
        book.pending = []
        for ticket in reversed(overflow):
            ticket.key, ticket.opens = None, False
            book.active -= 1
            self.waiting.appendleft(ticket)
        self._list(book)
        return self.limit_changed(key, max_streams, now)

    def limit_changed(self, key: int, max_streams: int, now: float) -> list[Ticket]:
        """The server of connection ``key`` announced a new MAX_CONCURRENT_STREAMS."""
        if key in self.conns:
            book = self.conns[key]
            book.max_streams = max_streams
            self.assumed_max_streams = max(1, max_streams)
            self._list(book)
        return self.assign(now)

    def draining(self, key: int, now: float) -> list[Ticket]:
        """Connection ``key`` got GOAWAY: assign no new calls to it."""
        book = self.conns.get(key)
        if book is not None and book.status is not ConnStatus.DRAINING:
            book.status = ConnStatus.DRAINING
            self._usable -= 1
        return self.assign(now)

    def closed(
        self, key: int, now: float, *, failure: str | None = None, retry_at: float | None = None
    ) -> list[Ticket]:
        """Connection ``key`` is gone; ``failure``/``retry_at`` start a connect backoff."""
        book = self.conns.pop(key, None)
        if book is not None and book.status is not ConnStatus.DRAINING:
            self._usable -= 1
        if failure is not None and retry_at is not None:
            self.backoff_reason, self.not_before = failure, retry_at
        return self.assign(now)

    def assign(self, now: float) -> list[Ticket]:
        """Serve waiting tickets in FIFO order; return those that got settled."""
        settled: list[Ticket] = []
        while self.waiting:
            ticket = self.waiting[0]
            if not self._settle(ticket, now):
                break
            self.waiting.popleft()
            settled.append(ticket)
        return settled

    def has_capacity(self) -> bool:
        """True when a new ticket would get a slot on an existing connection now."""
        return not self.waiting and self._with_capacity() is not None

    def would_open(self, now: float) -> bool:
        """True when a new ticket would open a new connection now."""
        return (
            not self.waiting
            and self._with_capacity() is None
            and self._usable_count() < self.max_connections
            and now >= self.not_before
        )

    def _settle(self, ticket: Ticket, now: float) -> bool:
        book = self._with_capacity()
        if book is None and self._usable_count() < self.max_connections:
            if now < self.not_before:
                if self._usable_count() > 0:
                    return False
                ticket.failure = self.backoff_reason or "reconnection backoff"
                ticket.retry_in = self.not_before - now
                return True
            book = self._open()
            ticket.opens = True
        if book is None:
            return False
        book.active += 1
        ticket.key = book.key
        if book.status is ConnStatus.CONNECTING:
            book.pending.append(ticket)
        return True

    def _open(self) -> ConnBook:
        book = ConnBook(self._next_key, max_streams=self.assumed_max_streams)
        self._next_key += 1
        self.conns[book.key] = book
        self._usable += 1
        self._list(book)
        return book

    def _list(self, book: ConnBook) -> None:
        """Put ``book`` on the free heap if it has a slot (and is not there yet)."""
        if not book.listed and book.has_capacity() and book.key in self.conns:
            book.listed = True
            heapq.heappush(self._free, book.key)

    def _with_capacity(self) -> ConnBook | None:
        """The oldest usable connection below its stream limit, if any."""
        free, conns = self._free, self.conns
        while free:
            book = conns.get(free[0])
            if book is not None and book.status is not ConnStatus.DRAINING:
                if book.active < book.max_streams:
                    return book
                book.listed = False  # full: listed again when a slot frees
            heapq.heappop(free)
        return None

    def _usable_count(self) -> int:
        return self._usable
