"""HEAD is answered with headers only, over HTTP/2, mux and HTTP/1.1 (RFC 9110 §9.3.2).

The demo's ``/bytes/{n}`` handler writes its body whatever the method: the
stream layer must drop it, send END_STREAM on the HEADERS frame and keep
``content-length``. Real sockets, real peers (curl, our HTTP/2 driver, the SDK).
"""

from __future__ import annotations

import trio

import mux_client
from mux.server.server import Server

from .peerkit import h2_client, need, run_peer


def _url(server: Server, path: str) -> str:
    return f"http://127.0.0.1:{server.port}{path}"


async def test_curl_head_over_h2c(server: Server) -> None:
    curl = need("curl")
    # run_peer fails on a non-zero exit (curl says PROTOCOL_ERROR when DATA follows).
    out = await run_peer(curl, "-sS", "-I", "--http2-prior-knowledge", _url(server, "/bytes/4"))
    assert out.startswith("HTTP/2 200")
    assert "content-length: 4" in out


async def test_curl_head_over_http11_keeps_the_connection(server: Server) -> None:
    curl = need("curl")
    out = await run_peer(
        curl, "-sS", "-I", "--http1.1", "-w", "connects=%{num_connects}\n",
        _url(server, "/bytes/4"), _url(server, "/bytes/5"),
    )  # fmt: skip
    assert "content-length: 4" in out and "content-length: 5" in out
    # The second HEAD reused the connection: the first left it in a clean state.
    assert out.count("connects=1") == 1 and out.count("connects=0") == 1


async def test_h2_head_has_end_stream_on_headers(server: Server, nursery: trio.Nursery) -> None:
    driver = await h2_client(nursery, server.port)
    headers = [
        (b":method", b"HEAD"),
        (b":scheme", b"http"),
        (b":authority", b"x"),
        (b":path", b"/bytes/70000"),
    ]
    with trio.fail_after(5):
        stream = await driver.open_stream(headers, end_stream=True)
        response = await stream.receive_headers()
        assert stream.remote_ended  # END_STREAM came with the HEADERS frame
        assert await stream.receive_data() == b""
    assert dict(response)[b"content-length"] == b"70000"
    await driver.aclose()


async def test_sdk_head_over_mux(server: Server) -> None:
    with trio.fail_after(5):
        async with mux_client.connect(f"127.0.0.1:{server.port}") as client:
            head = await client.request("HEAD", "/bytes/4")
            get = await client.request("GET", "/bytes/4")  # the connection still works
    assert head.status == 200
    assert head.header("content-length") == b"4"
    assert head.body == b""
    assert len(get.body) == 4
