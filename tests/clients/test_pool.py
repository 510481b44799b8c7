"""Tests for the pure pool bookkeeping."""

from __future__ import annotations

import pytest

from mux_client.pool import ConnStatus, PoolBook, Ticket


def _take(book: PoolBook, now: float = 0.0) -> Ticket:
    return book.request(now)[-1]


def test_PoolBook_single_flight_connect() -> None:
    """Calls arriving while the first connection is connecting join it (no stampede)."""
    book = PoolBook(max_connections=4)
    first = _take(book)
    assert first.key == 1 and first.opens
    others = [_take(book) for _ in range(50)]
    assert all(t.key == 1 and not t.opens for t in others)
    assert list(book.conns) == [1]
    assert book.conns[1].active == 51


def test_PoolBook_waits_at_the_stream_limit_then_hands_over_fifo() -> None:
    """At max_streams on max_connections, tickets wait and are served in order."""
    book = PoolBook(max_connections=1)
    holders = [_take(book) for _ in range(2)]
    assert book.connected(1, max_streams=2, now=0.0) == []
    waiting = [_take(book) for _ in range(3)]
    assert not any(t.is_settled() for t in waiting)
    woken = book.release(holders[0], 0.0)
    assert woken == [waiting[0]] and waiting[0].key == 1
    assert book.release(holders[0], 0.0) == []  # double release is a no-op
    assert book.conns[1].active == 2
    book.release(waiting[1], 0.0)  # a waiter gives up: removed from the queue
    assert book.release(holders[1], 0.0) == [waiting[2]]


def test_PoolBook_opens_more_connections_up_to_the_limit() -> None:
    """When every connection is full, another is opened while under max_connections."""
    book = PoolBook(max_connections=2)
    _take(book)
    book.connected(1, max_streams=1, now=0.0)
    second = _take(book)
    assert second.key == 2 and second.opens
    assert book.conns[2].max_streams == 1  # learnt from the first server
    third = _take(book)
    assert not third.is_settled()
    book.connected(2, max_streams=5, now=0.0)
    assert third.key == 2


def test_PoolBook_limit_raised_later_wakes_waiters() -> None:
    """A SETTINGS raising MAX_CONCURRENT_STREAMS serves waiting tickets."""
    book = PoolBook()
    _take(book)
    book.connected(1, max_streams=1, now=0.0)
    waiting = [_take(book) for _ in range(3)]
    assert book.limit_changed(1, 3, 0.0) == waiting[:2]


def test_PoolBook_draining_connection_gets_no_new_calls() -> None:
    """After GOAWAY a connection keeps its calls but new ones open a fresh connection."""
    book = PoolBook(max_connections=1)
    old = _take(book)
    book.connected(1, 100, 0.0)
    book.draining(1, 0.0)
    fresh = _take(book)
    assert fresh.key == 2 and fresh.opens
    assert book.conns[1].status is ConnStatus.DRAINING
    book.release(old, 0.0)
    book.closed(1, 0.0)
    assert list(book.conns) == [2]


def test_PoolBook_backoff_fails_fast_without_usable_connection() -> None:
    """During a connect backoff with no usable connection, tickets fail at once."""
    book = PoolBook()
    _take(book)
    book.closed(1, now=10.0, failure="connection refused", retry_at=11.0)
    ticket = _take(book, now=10.25)
    assert ticket.key is None and ticket.failure == "connection refused"
    assert ticket.retry_in == pytest.approx(0.75)
    after = _take(book, now=11.0)
    assert after.key == 2 and after.opens


def test_PoolBook_backoff_waits_when_a_connection_is_usable() -> None:
    """During a backoff, tickets queue on existing full connections instead of failing."""
    book = PoolBook(max_connections=2)
    _take(book)
    book.connected(1, 1, 0.0)
    second = _take(book)
    assert second.key == 2
    book.closed(2, now=1.0, failure="refused", retry_at=5.0)
    assert book.assign(1.0) == []
    waiting = _take(book, now=1.0)
    assert not waiting.is_settled()


def test_PoolBook_rejects_zero_connections() -> None:
    """max_connections below 1 is a configuration error."""
    with pytest.raises(ValueError, match="max_connections"):
        PoolBook(max_connections=0)


def test_PoolBook_requeues_overflow_when_the_real_limit_is_lower() -> None:
    """Tickets that joined a connecting connection beyond its SETTINGS limit move on."""
    book = PoolBook(max_connections=2)
    tickets = [_take(book) for _ in range(6)]
    assert all(t.key == 1 for t in tickets)
    moved = book.connected(1, max_streams=4, now=0.0)
    assert [t.key for t in tickets] == [1, 1, 1, 1, 2, 2]
    assert moved == tickets[4:] and tickets[4].opens and not tickets[5].opens
    assert book.conns[1].active == 4 and book.conns[2].active == 2
    book.release(tickets[5], 0.0)
    assert book.conns[2].active == 1 and book.conns[2].pending == [tickets[4]]
