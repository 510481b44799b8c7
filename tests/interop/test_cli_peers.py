"""curl, nghttp and h2load against one mux port (h2c, HTTP/1.1, Upgrade: h2c, TLS)."""

from __future__ import annotations

import re

import trio

from mux.server.server import Server

from .peerkit import need, run_peer


def _url(server: Server, path: str, scheme: str = "http") -> str:
    return f"{scheme}://127.0.0.1:{server.port}{path}"


async def test_curl_http2_prior_knowledge(server: Server) -> None:
    curl = need("curl")
    out = await run_peer(
        curl, "-sS", "--http2-prior-knowledge", "-d", "hello h2", "-H", "x-trace: t1",
        "-D", "-", "-w", "\n%{http_version}", _url(server, "/echo"),
    )  # fmt: skip
    assert out.startswith("HTTP/2 200")
    assert "x-trace: t1" in out
    assert out.endswith("hello h2\n2")


async def test_curl_http11_keepalive_and_chunked_upload(server: Server) -> None:
    curl = need("curl")
    out = await run_peer(
        curl, "-sS", "--http1.1", "-H", "transfer-encoding: chunked", "-d", "abc",
        "-w", " %{http_version} %{num_connects}\n",
        _url(server, "/echo"), _url(server, "/echo"),
    )  # fmt: skip
    assert out.splitlines() == ["abc 1.1 1", "abc 1.1 0"]  # second request reused the connection


async def test_curl_upgrade_h2c(server: Server) -> None:
    curl = need("curl")
    out = await run_peer(
        curl, "-sS", "--http2", "-w", "%{http_version} %{http_code} %{size_download}",
        "-o", "/dev/null", _url(server, "/bytes/100000"),
    )  # fmt: skip
    assert out == "2 200 100000"


async def test_curl_tls_alpn_h2_and_http11(tls_server: Server, ca_file: str) -> None:
    curl = need("curl")
    common = ["-sS", "--cacert", ca_file, "-w", "%{http_version} %{http_code}", "-o", "/dev/null"]
    url = _url(tls_server, "/bytes/70000", "https")
    assert await run_peer(curl, *common, "--http2", url) == "2 200"
    assert await run_peer(curl, *common, "--http1.1", url) == "1.1 200"


async def test_nghttp_many_streams_and_flow_control(server: Server) -> None:
    nghttp = need("nghttp")
    paths = [_url(server, f"/bytes/{n}") for n in (0, 1, 65535, 300000)]
    out = await run_peer(nghttp, "-n", "-s", "-w", "16", "-W", "16", *paths)
    # -s prints one stats row per stream: all four completed with status 200.
    assert len(re.findall(r"\s200\s", out)) == 4, out


async def test_nghttp_verbose_settings_and_goaway(server: Server) -> None:
    nghttp = need("nghttp")
    out = await run_peer(nghttp, "-nv", _url(server, "/echo"), "-d", "/dev/null")
    assert "recv SETTINGS frame" in out
    assert "(niv=" in out
    assert ":status: 200" in out


async def test_h2load_small_run(server: Server) -> None:
    h2load = need("h2load")
    out = await run_peer(h2load, "-n", "2000", "-c", "4", "-m", "20", _url(server, "/echo"))
    assert "2000 succeeded, 0 failed, 0 errored" in out, out
    assert "status codes: 2000 2xx" in out


async def test_h2load_http11(server: Server) -> None:
    h2load = need("h2load")
    out = await run_peer(h2load, "--h1", "-n", "500", "-c", "2", _url(server, "/bytes/10"))
    assert "500 succeeded, 0 failed, 0 errored" in out, out


async def test_peers_do_not_disturb_each_other(server: Server) -> None:
    """curl HTTP/1.1, curl h2c and nghttp at the same time on the same port."""
    curl, nghttp = need("curl"), need("nghttp")
    results: dict[str, str] = {}

    async def one(name: str, *argv: str) -> None:
        results[name] = await run_peer(*argv)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(one, "h1", curl, "-sS", _url(server, "/delay/200"))
        nursery.start_soon(
            one, "h2c", curl, "-sS", "--http2-prior-knowledge", _url(server, "/stream/3")
        )
        nursery.start_soon(one, "nghttp", nghttp, "-n", "-s", _url(server, "/bytes/1000"))
    assert results["h2c"].count("\n") == 3
    assert " 200 " in results["nghttp"] or "200" in results["nghttp"]
