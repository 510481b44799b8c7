"""httpx (HTTP/2 prior knowledge, TLS with ALPN h2 and http/1.1) and the mux SDK on one port."""

from __future__ import annotations

import ssl

import httpx
import trio

from mux.server.server import Server
from mux_client import connect

from .peerkit import h2_client


async def test_httpx_h2_prior_knowledge(server: Server) -> None:
    async with httpx.AsyncClient(http1=False, http2=True, timeout=10) as client:
        base = f"http://127.0.0.1:{server.port}"
        echo = await client.post(f"{base}/echo", content=b"x" * 300_000, headers={"x-a": "1"})
        big = await client.get(f"{base}/bytes/1000000")
        missing = await client.get(f"{base}/nope")
    assert echo.http_version == "HTTP/2" and echo.content == b"x" * 300_000
    assert echo.headers["x-a"] == "1"
    assert len(big.content) == 1_000_000 and missing.status_code == 404


async def test_httpx_tls_alpn_h2_and_http11(tls_server: Server, ca_file: str) -> None:
    context = ssl.create_default_context(cafile=ca_file)
    base = f"https://127.0.0.1:{tls_server.port}"
    versions = []
    for http2 in (True, False):
        async with httpx.AsyncClient(verify=context, http2=http2, timeout=10) as client:
            response = await client.post(f"{base}/echo", content=b"secret")
            assert response.content == b"secret"
            versions.append(response.http_version)
    assert versions == ["HTTP/2", "HTTP/1.1"]


async def test_sdk_httpx_and_raw_h2_share_the_port(server: Server, nursery: trio.Nursery) -> None:
    """The mux SDK, httpx HTTP/2, httpx HTTP/1.1 and our h2 client at the same time."""
    results: dict[str, object] = {}
    base = f"http://127.0.0.1:{server.port}"

    async def sdk() -> None:
        async with connect(f"127.0.0.1:{server.port}") as client:
            replies = []
            for i in range(20):
                replies.append((await client.request("POST", "/echo", body=b"%d" % i)).body)
            results["sdk"] = replies

    async def via_httpx(name: str, http2: bool) -> None:
        async with httpx.AsyncClient(http1=not http2, http2=http2, timeout=10) as client:
            replies = [
                (await client.post(f"{base}/echo", content=b"%d" % i)).content for i in range(20)
            ]
            results[name] = replies

    async def raw_h2() -> None:
        client = await h2_client(nursery, server.port)
        headers = [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"x"),
                   (b":path", b"/stream/4")]  # fmt: skip
        stream = await client.open_stream(headers, end_stream=True)
        await stream.receive_headers()
        results["raw"] = b"".join([chunk async for chunk in stream]).count(b"\n")

    with trio.fail_after(20):
        async with trio.open_nursery() as group:
            group.start_soon(sdk)
            group.start_soon(via_httpx, "h2", True)
            group.start_soon(via_httpx, "h1", False)
            group.start_soon(raw_h2)
    expected = [b"%d" % i for i in range(20)]
    assert results["sdk"] == results["h2"] == results["h1"] == expected
    assert results["raw"] == 4
