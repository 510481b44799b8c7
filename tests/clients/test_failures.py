"""Connection loss, REFUSED_STREAM, GOAWAY, stream limits and reconnection."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import mux_client
from mux_client import Processed
from mux_client.transport import Protocol

from .scripted import start_scripted
from .serverkit import Observed, start_server

#: The retry/loss tests run over both framings (one code path above the engine).
BOTH = pytest.mark.parametrize("protocol", ["mux", "h2"])

FAST = mux_client.BackoffPolicy(initial=0.05, multiplier=1.6, maximum=0.2, jitter=0.2)


@BOTH
async def test_refused_stream_is_retried_transparently(
    nursery: trio.Nursery, protocol: Protocol
) -> None:
    """REFUSED_STREAM is retried on a fresh connection (never processed) and succeeds."""
    script, port = await start_scripted(nursery, ["refuse"], protocol)
    async with mux_client.connect(f"127.0.0.1:{port}", protocol=protocol) as client:
        resp = await client.request("POST", "/x", body=b"payload", timeout=5)
    assert resp.status == 200
    assert [(i, b) for i, b, _ in script.log] == [(0, "refuse"), (1, "ok")]


@BOTH
async def test_refused_stream_retries_are_bounded(
    nursery: trio.Nursery, protocol: Protocol
) -> None:
    """After max_attempts refusals the caller gets CallReset NOT_PROCESSED."""
    script, port = await start_scripted(nursery, ["refuse"] * 4, protocol)
    async with mux_client.connect(f"127.0.0.1:{port}", max_attempts=3, protocol=protocol) as client:
        with pytest.raises(mux_client.CallReset) as info:
            await client.request("GET", "/x", timeout=5)
    assert info.value.processed is Processed.NOT_PROCESSED
    assert "REFUSED_STREAM" in str(info.value)
    assert [i for i, _, _ in script.log] == [0, 1, 2]


@BOTH
async def test_goaway_above_last_stream_id_is_retried_on_a_fresh_connection(
    nursery: trio.Nursery, protocol: Protocol
) -> None:
    """A stream above GOAWAY's last_stream_id is replayed on a new connection."""
    script, port = await start_scripted(nursery, ["goaway"], protocol)
    async with mux_client.connect(f"127.0.0.1:{port}", protocol=protocol) as client:
        resp = await client.request("POST", "/x", body=b"b", timeout=5)
    assert resp.body == b"ok 1"
    assert [(i, b) for i, b, _ in script.log] == [(0, "goaway"), (1, "ok")]


@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [("drop", Processed.MAYBE_PROCESSED), ("drop_after_headers", Processed.PROCESSED)],
)
@BOTH
async def test_connection_lost_mid_call_is_classified(
    nursery: trio.Nursery, behaviour: str, expected: Processed, protocol: Protocol
) -> None:
    """A dropped connection fails the call, says whether it was processed, and is not retried."""
    script, port = await start_scripted(nursery, [behaviour], protocol)
    async with mux_client.connect(f"127.0.0.1:{port}", protocol=protocol) as client:
        with pytest.raises(mux_client.ConnectionLost) as info:
            async with client.stream("POST", "/x", body=b"b", timeout=5) as call:
                await call.read()
        assert info.value.processed is expected
        assert len(script.log) == 1
        # The next call reconnects (no backoff: the connection had succeeded).
        assert (await client.request("GET", "/x", timeout=5)).body == b"ok 1"


async def test_connect_refused_then_backoff_then_reconnect(nursery: trio.Nursery) -> None:
    """Refused connects fail fast during backoff; after a restart on the same port, calls work."""
    seen = Observed()
    async with trio.open_nursery() as first:
        server = await start_server(first, seen)
        port = server.port
        target = f"127.0.0.1:{port}"
        async with mux_client.connect(target, backoff=FAST) as client:
            assert (await client.request("POST", "/echo", body=b"1")).body == b"1"
            (conn,) = client.channel.connections
            assert conn.driver is not None
            server.shutdown()
            with trio.fail_after(5):
                await conn.driver.wait_closed()
                await trio.testing.wait_all_tasks_blocked()
            assert client.channel.connections == []
            with pytest.raises(mux_client.ConnectError) as refused:
                await client.request("POST", "/echo", body=b"2")
            assert refused.value.processed is Processed.NOT_PROCESSED
            with pytest.raises(mux_client.ConnectError) as fast:
                await client.request("POST", "/echo", body=b"2")
            assert fast.value.retry_in is not None and 0 < fast.value.retry_in <= 0.2
            await start_server(nursery, seen, port=port)
            with trio.fail_after(5):
                while True:
                    try:
                        resp = await client.request("POST", "/echo", body=b"3")
                        break
                    except mux_client.ConnectError:
                        await trio.sleep(0.02)
            assert resp.body == b"3"


async def test_max_concurrent_streams_is_honoured(nursery: trio.Nursery) -> None:
    """With the server at 4 streams, 50 concurrent calls all succeed, at most 4 at once."""
    seen = Observed()
    server = await start_server(nursery, seen, max_streams=4)
    async with mux_client.connect(f"127.0.0.1:{server.port}") as client:
        with trio.fail_after(10):
            async with trio.open_nursery() as calls:
                for _ in range(50):
                    calls.start_soon(client.request, "GET", "/delay/20")
    assert seen.completed == 50
    assert seen.max_active == 4


async def test_extra_connections_open_when_streams_are_exhausted(nursery: trio.Nursery) -> None:
    """With max_connections=3 the pool spreads 50 calls over 3 connections of 4 streams."""
    seen = Observed()
    server = await start_server(nursery, seen, max_streams=4)
    async with mux_client.connect(f"127.0.0.1:{server.port}", max_connections=3) as client:
        with trio.fail_after(10):
            async with trio.open_nursery() as calls:
                for _ in range(50):
                    calls.start_soon(client.request, "GET", "/delay/200")
                for _ in range(1000):  # poll the server's count, at most ~5 s
                    if server.connection_count >= 3:
                        break
                    await trio.sleep(0.005)
                await trio.sleep(0.05)
                assert server.connection_count == 3  # and no more than 3
    assert seen.completed == 50
    assert seen.max_active == 12
