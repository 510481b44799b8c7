"""The SDK over HTTP/1.1 keep-alive (``protocol="http1"``), over real sockets.

Against ``mux serve``'s HTTP/1.1 (in process, its accepted connections counted
by the listener) and hypercorn (a subprocess whose app names the client port
of each request's connection): keep-alive reuse, one exchange per connection,
pool size as the concurrency, idle expiry, max requests and max age per
connection, a reset closing (not reusing) its connection, and a server that
closed idle keep-alive connections.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing
from upstream_procs import CountingListener, hypercorn

import mux_client
from mux.config import ConnectionTimeouts, ServerConfig
from mux.server import Server
from mux.server.demo import app as demo_app
from mux_client import ChannelOptions


@pytest.fixture
async def mux_h1(nursery: trio.Nursery) -> AsyncIterator[tuple[str, CountingListener]]:
    inner = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    listener = CountingListener(inner)
    server = Server(demo_app, ServerConfig(host="127.0.0.1", port=0))
    await nursery.start(server.serve, [listener])
    yield f"127.0.0.1:{inner.socket.getsockname()[1]}", listener
    server.shutdown()


def h1(max_connections: int = 1, **kw: object) -> ChannelOptions:
    return ChannelOptions(protocol="http1", max_connections=max_connections, **kw)  # type: ignore[arg-type]


async def test_keepalive_reuse_against_mux_serve(mux_h1: tuple[str, CountingListener]) -> None:
    target, listener = mux_h1
    async with mux_client.connect(target, options=h1(4)) as client:
        for i in range(20):
            response = await client.request("POST", "/echo", body=b"n%d" % i)
            assert (response.status, response.body) == (200, b"n%d" % i)
        assert listener.accepted == 1  # 20 sequential requests, one connection
        # 8 at once: one exchange per connection, so the pool opens up to its size.
        results: list[bytes] = []

        async def call(i: int) -> None:
            response = await client.request("GET", "/delay/100")
            assert response.status == 200
            results.append(response.body)

        async with trio.open_nursery() as nursery:
            for i in range(8):
                nursery.start_soon(call, i)
        assert len(results) == 8
        assert listener.accepted == 4
        assert len(client.channel.connections) == 4
        # A streamed (chunked) request body and a streamed response.
        async with client.open_call("POST", "/echo") as c:
            for part in (b"a" * 10, b"b" * 70_000, b"c"):
                await c.send(part)
            await c.end()
            assert (await c.response())[0] == 200
            assert await c.read() == b"a" * 10 + b"b" * 70_000 + b"c"
        assert listener.accepted == 4


async def test_keepalive_reuse_against_hypercorn() -> None:
    async with (
        hypercorn() as port,
        mux_client.connect(f"127.0.0.1:{port}", options=h1(3)) as client,
    ):
        ports = set()
        with trio.fail_after(30):
            for i in range(10):
                response = await client.request("POST", "/echo", body=b"x%d" % i)
                assert response.body == b"x%d" % i
                ports.add(response.header("x-client-port"))
        assert len(ports) == 1  # the server saw one connection

        seen: list[bytes | None] = []

        async def call() -> None:
            response = await client.request("POST", "/echo", body=b"y" * 100_000)
            assert response.body == b"y" * 100_000
            seen.append(response.header("x-client-port"))

        async with trio.open_nursery() as nursery:
            for _ in range(9):
                nursery.start_soon(call)
        assert len(seen) == 9 and len(set(seen)) <= 3  # never more than the pool


async def test_server_closed_idle_connections_are_not_used() -> None:
    """hypercorn closes idle keep-alive connections after 1 s: no request fails."""
    async with (
        hypercorn("--keep-alive", "1") as port,
        mux_client.connect(f"127.0.0.1:{port}", options=h1(2)) as client,
    ):
        with trio.fail_after(30):
            first = (await client.request("POST", "/echo", body=b"1")).header("x-client-port")
            await trio.sleep(1.6)  # the server closed it meanwhile
            for _ in range(5):
                response = await client.request("POST", "/echo", body=b"again")
                assert response.status == 200 and response.body == b"again"
            assert response.header("x-client-port") != first


async def test_idle_timeout_closes_our_side_first(mux_h1: tuple[str, CountingListener]) -> None:
    target, listener = mux_h1
    options = h1(2, timeouts=ConnectionTimeouts(handshake=None, idle=0.2))
    async with mux_client.connect(target, options=options) as client:
        await client.request("POST", "/echo", body=b"a")
        (conn,) = client.channel.connections
        assert conn.driver is not None
        with trio.fail_after(5):
            await conn.driver.wait_closed()  # idle for 0.2 s: closed by us
            await trio.testing.wait_all_tasks_blocked()
        assert not client.channel.connections
        assert (await client.request("POST", "/echo", body=b"b")).body == b"b"
        assert listener.accepted == 2


async def test_max_requests_and_max_age_retire_connections(
    mux_h1: tuple[str, CountingListener],
) -> None:
    target, listener = mux_h1
    async with mux_client.connect(target, options=h1(1, max_requests=3)) as client:
        for i in range(9):
            assert (await client.request("POST", "/echo", body=b"%d" % i)).status == 200
    assert listener.accepted == 3
    async with mux_client.connect(target, options=h1(1, max_age=0.3)) as client:
        for _ in range(3):
            assert (await client.request("POST", "/echo", body=b"q")).status == 200
        await trio.sleep(0.4)
        assert (await client.request("POST", "/echo", body=b"r")).status == 200
    assert listener.accepted == 3 + 2


@pytest.mark.parametrize("protocol", ["h2", "mux"])
async def test_max_requests_on_multiplexed_protocols(protocol: str) -> None:
    async with trio.open_nursery() as nursery:
        inner = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
        listener = CountingListener(inner)
        server = Server(demo_app, ServerConfig(host="127.0.0.1", port=0))
        await nursery.start(server.serve, [listener])
        target = f"127.0.0.1:{inner.socket.getsockname()[1]}"
        options = ChannelOptions(protocol=protocol, max_requests=4)  # type: ignore[arg-type]
        async with mux_client.connect(target, options=options) as client:
            for i in range(8):
                assert (await client.request("POST", "/echo", body=b"%d" % i)).status == 200
        assert listener.accepted == 2
        server.shutdown()


async def test_reset_closes_the_connection_instead_of_reusing_it(
    mux_h1: tuple[str, CountingListener],
) -> None:
    target, listener = mux_h1
    async with mux_client.connect(target, options=h1(1)) as client:
        assert (await client.request("POST", "/echo", body=b"a")).status == 200
        with pytest.raises(mux_client.DeadlineExceeded):
            await client.request("GET", "/delay/2000", timeout=0.2)  # reset mid-exchange
        response = await client.request("POST", "/echo", body=b"b")
        assert response.body == b"b"
        assert listener.accepted == 2  # the reset one was closed, not reused


async def test_reuse_check_sees_a_peer_close_the_reader_has_not_seen_yet() -> None:
    """The pool's check before reusing an HTTP/1.1 connection polls the socket:
    EOF (or any unsolicited byte) pending means "do not write a request here"."""
    from mux.core.h11client import H11ClientEngine
    from mux.driver.connection import ConnectionDriver
    from mux_client.channel import _peer_closed

    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    client = await trio.open_tcp_stream("127.0.0.1", port)
    server = await listener.accept()
    driver = ConnectionDriver(client, H11ClientEngine())  # not running: nobody reads
    assert not _peer_closed(driver)
    await server.aclose()  # the server's keep-alive timer fired
    with trio.fail_after(5):
        while not _peer_closed(driver):  # noqa: ASYNC110 (the FIN is in flight)
            await trio.sleep(0.01)
    await client.aclose()
    await listener.aclose()


async def test_slow_reader_bounds_what_an_http1_response_buffers(
    mux_h1: tuple[str, CountingListener],
) -> None:
    """No flow control in HTTP/1.1: the driver stops reading while the caller has
    not consumed what is buffered, so TCP pushes back on the server."""
    from mux.driver.tuning import MAX_RECEIVE_SIZE, RECEIVE_SIZE

    target, _ = mux_h1
    async with (
        mux_client.connect(target, options=h1(1)) as client,
        client.stream("GET", "/bytes/50000000") as call,
    ):
        (conn,) = client.channel.connections
        assert conn.driver is not None
        got = len(await call.receive())
        peak = 0
        for _ in range(10):
            await trio.sleep(0.03)  # a slow reader
            buffered = sum(s.buffered_bytes for s in conn.driver._streams.values())
            peak = max(peak, buffered)
            got += len(await call.receive())
        assert peak <= RECEIVE_SIZE + MAX_RECEIVE_SIZE
        assert got < 50_000_000
