"""Stream state table, the bounded stream table, and per-connection memory."""

from __future__ import annotations

import sys
from typing import Any

from helpers import REQUEST, RESPONSE, FrameFactory, handshaken_server

from mux.core.connection import MuxConnection
from mux.core.limits import ProtocolLimits
from mux.core.streams import (
    TRANSITIONS,
    Stream,
    StreamInput,
    StreamState,
    StreamTable,
)

ff = FrameFactory()


def deep_size(obj: Any, seen: set[int] | None = None) -> int:
    """sys.getsizeof summed over containers and __slots__ (shared objects counted once)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    size = sys.getsizeof(obj)
    if isinstance(obj, dict):
        size += sum(deep_size(k, seen) + deep_size(v, seen) for k, v in obj.items())
    elif isinstance(obj, list | tuple | set):
        size += sum(deep_size(item, seen) for item in obj)
    for cls in type(obj).__mro__:
        for slot in getattr(cls, "__slots__", ()):
            if hasattr(obj, slot):
                size += deep_size(getattr(obj, slot), seen)
    return size


def test_Stream_transitions_table() -> None:
    """END_STREAM each way closes; RST closes from anywhere; illegal moves return None."""
    stream = Stream(1, 10, 10)
    assert stream.advance(StreamInput.SEND_END_STREAM) is StreamState.HALF_CLOSED_LOCAL
    assert stream.advance(StreamInput.SEND_END_STREAM) is None
    assert stream.state is StreamState.HALF_CLOSED_LOCAL
    assert stream.advance(StreamInput.RECV_END_STREAM) is StreamState.CLOSED
    assert all(TRANSITIONS[(s, StreamInput.RECV_RST)] is StreamState.CLOSED for s in StreamState)


def test_StreamTable_idle_vs_closed() -> None:
    """Ids at or below the highest opened one are closed, above it idle."""
    table = StreamTable(client_side=False, reset_memory=2)
    table.add(Stream(5, 1, 1))
    assert not table.is_closed(5) and table.is_closed(3) and not table.is_closed(7)
    table.remove(5, reset_by_us=True)
    assert table.is_closed(5) and table.open_inbound == 0
    for sid in (7, 9, 11):
        table.remember_reset(sid)
    assert list(table.recently_reset) == [9, 11]


def test_Stream_is_slotted() -> None:
    """Streams have no __dict__ and stay small."""
    stream = Stream(1, 10, 10)
    assert not hasattr(stream, "__dict__")
    assert deep_size(stream) < 400


def test_idle_connection_is_small() -> None:
    """A handshaken idle connection costs well under 2 KB (measured ~1.5 KB with deep
    sys.getsizeof; shared default settings/limits objects are counted)."""
    server = handshaken_server()
    server.receive_data(ff.settings(ack=True))
    size = deep_size(server)
    assert size < 2048, size
    assert not hasattr(server, "__dict__")


def test_many_finished_streams_keep_tables_bounded() -> None:
    """100 000 streams (half of them reset) leave only counters and a bounded reset set."""
    # Above the default cap on streams per connection (10 000, spec 11.2).
    server = handshaken_server(ProtocolLimits(max_streams_per_connection=10**6))
    client = MuxConnection(client_side=True)
    client.initiate_connection()
    client.receive_data(server.data_to_send() or b"\x89MUX\r\n\x1a\x01" + ff.settings())
    client.data_to_send()
    request = ff.headers(1, REQUEST, end_stream=True)
    for sid in range(1, 200001, 2):
        server.receive_data(request[:6] + sid.to_bytes(4) + request[10:])
        if sid % 4 == 1:
            server.send_headers(sid, RESPONSE, end_stream=True)
        else:
            server.reset_stream(sid)
        server.data_to_send()
    table = server._table
    assert table.streams == {} and server.open_inbound_streams == 0
    assert len(table.recently_reset) <= server.limits.recently_reset_memory
    assert server.highest_inbound_stream_id == 199999
    assert deep_size(server) < 2048 + 256 * 120
