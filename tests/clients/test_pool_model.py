"""The pool book's O(log n) bookkeeping against its definition, under random operations.

The book keeps a heap of connections that may have a free slot and a count of
usable ones instead of scanning every connection per ticket; whatever happens
(tickets taken and given back, SETTINGS, limit changes, GOAWAY, closes,
backoffs), the connection it picks must be the one the definition names: the
oldest usable connection below its stream limit.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mux_client.pool import ConnBook, ConnStatus, PoolBook, Ticket

OPS = st.lists(
    st.tuples(
        st.sampled_from(["request", "release", "connected", "limit", "draining", "closed"]),
        st.integers(min_value=0, max_value=40),
        st.integers(min_value=0, max_value=4),
    ),
    max_size=120,
)


def _oldest_with_capacity(book: PoolBook) -> ConnBook | None:
    usable = [
        b
        for b in book.conns.values()
        if b.status is not ConnStatus.DRAINING and b.active < b.max_streams
    ]
    return min(usable, key=lambda b: b.key) if usable else None


@settings(max_examples=300, deadline=None)
@given(max_connections=st.integers(min_value=1, max_value=4), ops=OPS)
def test_PoolBook_picks_the_oldest_connection_with_a_free_slot(
    max_connections: int, ops: list[tuple[str, int, int]]
) -> None:
    book = PoolBook(max_connections=max_connections, assumed_max_streams=2)
    tickets: list[Ticket] = []
    now = 0.0
    for op, n, limit in ops:
        now += 0.1
        keys = sorted(book.conns)
        key = keys[n % len(keys)] if keys else None
        if op == "request":
            tickets.append(book.request(now)[-1])
        elif op == "release" and tickets:
            book.release(tickets.pop(n % len(tickets)), now)
        elif op == "connected" and key is not None:
            if book.conns[key].status is ConnStatus.CONNECTING:
                book.connected(key, limit, now)
        elif op == "limit" and key is not None:
            book.limit_changed(key, limit, now)
        elif op == "draining" and key is not None:
            book.draining(key, now)
        elif op == "closed" and key is not None:
            failure = "refused" if n % 2 else None
            book.closed(key, now, failure=failure, retry_at=now + 0.05 if failure else None)
        usable = sum(1 for b in book.conns.values() if b.status is not ConnStatus.DRAINING)
        assert book._usable_count() == usable
        assert book._with_capacity() is _oldest_with_capacity(book)
        # Nobody waits while the definition says a slot is free for them.
        if book.waiting:
            assert _oldest_with_capacity(book) is None
