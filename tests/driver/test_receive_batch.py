"""Receive batches: chunks that arrive together are acknowledged together (real sockets)."""

from __future__ import annotations

import trio
import trio.testing
from conftest import Harness, tcp_pair

from mux.core.connection import MuxConnection
from mux.driver import ConnectionDriver, Stream
from mux.driver.stream import ACK_BATCH


class CountingEngine(MuxConnection):
    """A client engine that records every acknowledgement the driver makes."""

    acks: list[int]
    # One event per DATA frame, so a burst read at once gives separate chunks
    # (the core merges them by default; HTTP/2 engines deliver them separately).
    merge_data = False

    def acknowledge_received_data(self, size: int, stream_id: int) -> None:
        self.acks.append(size)
        super().acknowledge_received_data(size, stream_id)


async def _burst_pair(
    harness: Harness, chunks: int, size: int, *, one_write: bool = True
) -> tuple[ConnectionDriver, CountingEngine, trio.Event]:
    """A server that answers with ``chunks`` DATA frames of ``size``, in one
    write (within the initial window) or as flow control allows."""
    release = trio.Event()

    async def burst(stream: Stream) -> None:
        await stream.send_headers([(b":status", b"200")])
        await trio.testing.wait_all_tasks_blocked()  # the deferred headers went out
        for i in range(chunks):  # one scheduler tick: one write, one receive batch
            if one_write:
                stream._driver._engine.send_data(stream.stream_id, bytes([i]) * size)
            else:
                await stream.send_data(bytes([i % 256]) * size)
        await stream.send_data(b"", end_stream=True)
        await release.wait()

    c, s = await tcp_pair()
    await harness.drive(s, client_side=False, on_stream=burst)
    engine = CountingEngine(client_side=True)
    engine.acks = []
    client = ConnectionDriver(c, engine)
    await harness.nursery.start(client.run)
    return client, engine, release


async def _until_buffered(stream: Stream, size: int) -> None:
    """Wait (at most 5 s) until ``size`` body bytes are buffered on ``stream``."""
    for _ in range(5000):
        if stream.buffered_bytes >= size:
            return
        await trio.sleep(0.001)


async def test_a_burst_is_acknowledged_once_when_its_last_chunk_is_taken(
    harness: Harness,
) -> None:
    client, engine, release = await _burst_pair(harness, chunks=8, size=1000)
    stream = await client.open_stream([(b":method", b"GET"), (b":path", b"/")], end_stream=True)
    await stream.receive_headers()
    await _until_buffered(stream, 8000)
    assert stream.buffered_bytes == 8000  # all eight frames buffered, none taken
    got = []
    for _ in range(7):
        got.append(await stream.receive_data())
        assert engine.acks == []  # taken, credit held until the batch is used up
    got.append(await stream.receive_data())
    assert engine.acks == [8000]  # one acknowledgement for the whole batch
    assert got == [bytes([i]) * 1000 for i in range(8)]  # chunk boundaries kept
    assert await stream.receive_data() == b""
    release.set()


async def test_a_large_burst_returns_credit_every_ack_batch(harness: Harness) -> None:
    size = 32768
    chunks = 3 * ACK_BATCH // size
    client, engine, release = await _burst_pair(harness, chunks, size, one_write=False)
    stream = await client.open_stream([(b":method", b"GET"), (b":path", b"/")], end_stream=True)
    total = 0
    while chunk := await stream.receive_data():
        total += len(chunk)
    assert total == chunks * size
    assert sum(engine.acks) == total  # every byte's credit went back
    assert max(engine.acks) <= ACK_BATCH  # never held back more than a batch
    release.set()


async def test_a_reset_returns_the_credit_of_taken_but_unacknowledged_chunks(
    harness: Harness,
) -> None:
    client, engine, release = await _burst_pair(harness, chunks=4, size=1000)
    stream = await client.open_stream([(b":method", b"GET"), (b":path", b"/")], end_stream=True)
    await stream.receive_headers()
    await _until_buffered(stream, 4000)
    await stream.receive_data()
    assert engine.acks == []
    stream._remote_ended = False  # pretend the body is still open, as mid-stream
    stream.reset()
    assert engine.acks == [4000]  # the taken chunk's credit and the rest's
    release.set()
