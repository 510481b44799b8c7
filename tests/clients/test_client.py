"""The Trio client against the real server over loopback sockets."""

from __future__ import annotations

import pytest
import trio

import mux_client
from mux.server import Server


async def test_Client_unary_round_trip(target: str) -> None:
    """A unary call returns status, headers, body and trailers."""
    async with mux_client.connect(target) as client:
        resp = await client.request("POST", "/echo", body=b"hi", headers={"x-a": "b"}, timeout=5)
    assert resp.status == 200
    assert resp.body == b"hi"
    assert resp.header("x-echo") == b"1"
    assert resp.trailers == [(b"x-t", b"ok")]
    assert resp.is_success


async def test_Client_non_2xx_is_returned_and_raisable(target: str) -> None:
    """A 404 is a response; raise_for_status turns it into StatusError (PROCESSED)."""
    async with mux_client.connect(target) as client:
        resp = await client.request("GET", "/nowhere")
    assert resp.status == 404
    with pytest.raises(mux_client.StatusError) as info:
        resp.raise_for_status()
    assert info.value.processed is mux_client.Processed.PROCESSED


async def test_Client_server_streaming(target: str) -> None:
    """client.stream yields the response chunks in order."""
    async with (
        mux_client.connect(target) as client,
        client.stream("GET", "/stream/10", timeout=5) as call,
    ):
        assert call.status == 200
        chunks = [chunk async for chunk in call]
    assert b"".join(chunks) == b"".join(b"chunk-%d;" % i for i in range(10))


async def test_Client_client_streaming(target: str) -> None:
    """open_call sends many chunks, then reads the single response."""
    async with (
        mux_client.connect(target) as client,
        client.open_call("POST", "/sink", timeout=5) as call,
    ):
        for _ in range(100):
            await call.send(b"x" * 10_000)
        await call.end()
        status, _ = await call.response()
        body = await call.read()
    assert status == 200
    assert body == b"1000000"


async def test_Client_bidirectional_streaming(target: str) -> None:
    """Chunks are answered while the request is still open (ping-pong)."""
    async with (
        mux_client.connect(target) as client,
        client.open_call("POST", "/bidi", timeout=5) as call,
    ):
        replies = []
        for word in (b"a", b"bb", b"ccc"):
            await call.send(word)
            replies.append(await call.receive())
        await call.end(trailers=[(b"x-client", b"bye")])
        assert await call.receive() == b""
        trailers = call.trailers
    assert replies == [b"A", b"BB", b"CCC"]
    assert trailers == [(b"x-done", b"yes")]


async def test_Client_bidirectional_with_two_tasks(target: str) -> None:
    """One task sends while another receives on the same call."""
    received: list[bytes] = []
    async with (
        mux_client.connect(target) as client,
        client.open_call("POST", "/bidi", timeout=5) as call,
    ):

        async def sender() -> None:
            for i in range(50):
                await call.send(b"m%d," % i)
            await call.end()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(sender)
            async for chunk in call:
                received.append(chunk)
    assert b"".join(received) == b"".join(b"M%d," % i for i in range(50))


async def test_Client_thousands_of_concurrent_calls_share_one_connection(
    server: Server, target: str
) -> None:
    """2000 concurrent unary calls succeed over one TCP connection."""
    results: list[bytes] = []
    async with mux_client.connect(target) as client:
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                for i in range(2000):

                    async def one(i: int = i) -> None:
                        resp = await client.request("POST", "/echo", body=b"%d" % i, timeout=20)
                        assert resp.status == 200
                        results.append(resp.body)

                    nursery.start_soon(one)
        assert len(client.channel.connections) == 1
        assert server.connection_count == 1
    assert sorted(results) == sorted(b"%d" % i for i in range(2000))


async def test_Client_single_flight_connect(server: Server, target: str) -> None:
    """Simultaneous first calls share one connection attempt (no stampede)."""
    async with mux_client.connect(target, max_connections=8) as client:
        async with trio.open_nursery() as nursery:
            for _ in range(50):
                nursery.start_soon(client.request, "POST", "/echo")
        assert len(client.channel.connections) == 1
        assert server.connection_count == 1
