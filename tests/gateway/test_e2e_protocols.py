"""Every downstream protocol x every upstream protocol through a real gateway on loopback.

Downstream: mux and HTTP/2 through the SDK (bidirectional streaming echo with
request and response trailers, checked chunk by chunk so the body is provably
streamed, not buffered) and HTTP/1.1 through httpx (a streamed echo; HTTP/1.1
clients do not send trailers in practice, so trailers are not checked there).
"""

from __future__ import annotations

import hashlib

import httpx
import pytest
import trio
from gwkit import UPSTREAMS, port_of, single_cluster, start_gateway, start_upstream

import mux_client
from mux.gateway.model import UpstreamProtocol
from mux.server.server import Server

CHUNK = 8192
CHUNKS = 40


@pytest.fixture
async def upstream(nursery: trio.Nursery) -> Server:
    """The demo services plus the gRPC test methods (stopped with the test's nursery)."""
    return await start_upstream(nursery)


def _chunk(i: int) -> bytes:
    return bytes([i % 251]) * CHUNK


@pytest.mark.parametrize("downstream", ["mux", "h2"])
@pytest.mark.parametrize("protocol", UPSTREAMS)
async def test_streaming_echo_both_ways_with_trailers(
    nursery: trio.Nursery, upstream: Server, downstream: str, protocol: UpstreamProtocol
) -> None:
    gateway = await start_gateway(nursery, single_cluster(protocol, upstream.port))
    target = f"127.0.0.1:{port_of(gateway)}"
    with trio.fail_after(20):
        async with (
            mux_client.connect(target, protocol=downstream) as client,  # type: ignore[arg-type]
            client.open_call("POST", "/echo", headers={"x-hello": "world"}) as call,
        ):
            # Ping-pong first: each chunk must come back before the next is sent.
            for i in range(5):
                await call.send(_chunk(i))
                if i == 0:
                    status, headers = await call.response()
                    assert status == 200
                    assert (b"x-hello", b"world") in headers.raw
                    hop = b"1.1 mux" if protocol is UpstreamProtocol.HTTP1 else b"2 mux"
                    assert any(n == b"via" and v.endswith(hop) for n, v in headers.raw), headers
                got = b""
                while len(got) < CHUNK:
                    got += await call.receive()
                assert got == _chunk(i)
            received = bytearray()

            async def read_rest() -> None:
                async for chunk in call:
                    received.extend(chunk)

            async with trio.open_nursery() as pumps:
                pumps.start_soon(read_rest)
                for i in range(5, CHUNKS):
                    await call.send(_chunk(i))
                await call.end(trailers=[(b"x-checksum", b"abc123")])
            assert bytes(received) == b"".join(_chunk(i) for i in range(5, CHUNKS))
            if protocol is not UpstreamProtocol.HTTP1:
                assert (b"x-checksum", b"abc123") in call.trailers.raw


@pytest.mark.parametrize("protocol", UPSTREAMS)
async def test_http1_downstream_streams_through(
    nursery: trio.Nursery, upstream: Server, protocol: UpstreamProtocol
) -> None:
    gateway = await start_gateway(nursery, single_cluster(protocol, upstream.port))
    base = f"http://127.0.0.1:{port_of(gateway)}"

    async def body() -> object:
        for i in range(CHUNKS):
            yield _chunk(i)

    with trio.fail_after(20):
        async with httpx.AsyncClient(http1=True, http2=False, timeout=10) as client:
            response = await client.post(f"{base}/echo", content=body(), headers={"x-a": "b"})
            assert response.status_code == 200
            assert response.content == b"".join(_chunk(i) for i in range(CHUNKS))
            assert response.headers["x-a"] == "b"
            hop = "1.1 mux" if protocol is UpstreamProtocol.HTTP1 else "2 mux"
            assert response.headers["via"].endswith(hop)
            big = await client.get(f"{base}/bytes/3000000")
            assert big.status_code == 200 and len(big.content) == 3_000_000
            sink = await client.post(f"{base}/sink", content=b"x" * 100_000)
            assert sink.json()["sha256"] == hashlib.sha256(b"x" * 100_000).hexdigest()


@pytest.mark.parametrize("protocol", UPSTREAMS)
async def test_h2_downstream_via_httpx(
    nursery: trio.Nursery, upstream: Server, protocol: UpstreamProtocol
) -> None:
    gateway = await start_gateway(nursery, single_cluster(protocol, upstream.port))
    async with httpx.AsyncClient(http1=False, http2=True, timeout=10) as client:
        response = await client.get(f"http://127.0.0.1:{port_of(gateway)}/stream/50")
    assert response.http_version == "HTTP/2"
    assert response.text.count("\n") == 50


@pytest.mark.parametrize("downstream", ["mux", "h2"])
@pytest.mark.parametrize("protocol", [UpstreamProtocol.MUX, UpstreamProtocol.H2])
async def test_small_body_with_content_length_and_trailers(
    nursery: trio.Nursery, upstream: Server, downstream: str, protocol: UpstreamProtocol
) -> None:
    """A small body with a content-length is read first (replayable); trailers after it
    still reach the upstream (the body is then streamed, not replayed)."""
    gateway = await start_gateway(nursery, single_cluster(protocol, upstream.port))
    target = f"127.0.0.1:{port_of(gateway)}"
    with trio.fail_after(10):
        async with mux_client.connect(target, protocol=downstream) as client:  # type: ignore[arg-type]
            headers = {"content-length": "3"}
            async with client.open_call("POST", "/echo", headers=headers) as call:
                await call.send(b"abc")
                await call.end(trailers=[(b"x-after", b"yes")])
                assert await call.read() == b"abc"
                assert (b"x-after", b"yes") in call.trailers.raw
            plain = await client.request("POST", "/echo", body=b"xyz", headers=headers)
            assert plain.body == b"xyz"
