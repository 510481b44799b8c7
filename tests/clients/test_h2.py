"""The SDK over HTTP/2: h2c and TLS (ALPN) against hypercorn and mux serve.

The call path above the engine is the one the mux tests cover; these tests check
that it behaves the same over H2Engine: bodies, streaming, deadlines (RST_STREAM
CANCEL, the connection survives), TLS with ALPN picking the engine.
"""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
import trustme

import mux_client
from mux.config import ServerConfig
from mux.server import Server, serve
from mux_client import ConnectError, DeadlineExceeded
from mux_client.transport import Protocol
from tests.subprocs import free_port, wait_listening

from .serverkit import Observed, build_app

ROOT = Path(__file__).resolve().parents[2]
HYPERCORN = Path(sys.executable).parent / "hypercorn"


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, Path, Path]:
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    folder = tmp_path_factory.mktemp("tls")
    certfile, keyfile = folder / "cert.pem", folder / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    for pem in cert.cert_chain_pems[1:]:
        pem.write_to_path(str(certfile), append=True)
    cert.private_key_pem.write_to_path(str(keyfile))
    return ca, certfile, keyfile


def _hypercorn(*extra: str) -> Iterator[int]:
    port = free_port()
    cmd = [str(HYPERCORN), "--worker-class", "trio", "--bind", f"127.0.0.1:{port}", *extra]
    proc = subprocess.Popen(
        [*cmd, "tests.asgi_echo:app"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_listening(port, proc, limit=20)
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def h2c_port() -> Iterator[int]:
    yield from _hypercorn()


@pytest.fixture(scope="module")
def tls_port(tls_files: tuple[trustme.CA, Path, Path]) -> Iterator[int]:
    _, certfile, keyfile = tls_files
    yield from _hypercorn("--certfile", str(certfile), "--keyfile", str(keyfile))


def _client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


async def test_h2c_unary_and_streaming_against_hypercorn(h2c_port: int) -> None:
    """Bodies and headers round-trip over h2c; a streamed response arrives in order."""
    async with mux_client.connect(f"127.0.0.1:{h2c_port}", protocol="h2") as client:
        responses = []
        async with trio.open_nursery() as nursery:

            async def one(i: int) -> None:
                body = b"hello-%d" % i
                resp = await client.request("POST", "/echo", body=body, timeout=5)
                responses.append((resp.status, resp.header("x-echo"), resp.body == body))

            for i in range(20):
                nursery.start_soon(one, i)
        assert responses == [(200, b"1", True)] * 20
        assert len(client.channel.connections) == 1
        assert client.channel.protocol == "h2"
        async with client.stream("GET", "/stream", timeout=5) as call:
            chunks = [chunk async for chunk in call]
        assert b"".join(chunks) == b"part0;part1;part2;"
        missing = await client.request("GET", "/nope", timeout=5)
        assert missing.status == 404


async def test_h2c_deadline_resets_only_the_stream(h2c_port: int) -> None:
    """An expired deadline raises DeadlineExceeded; the connection keeps serving."""
    async with mux_client.connect(f"127.0.0.1:{h2c_port}", protocol="h2") as client:
        await client.request("POST", "/echo", body=b"warm", timeout=5)
        started = trio.current_time()
        with pytest.raises(DeadlineExceeded):
            await client.request("GET", "/slow", timeout=0.2)
        assert trio.current_time() - started < 2
        driver = client.channel.connections[0].driver
        assert driver is not None and driver.open_streams == 0
        resp = await client.request("POST", "/echo", body=b"after", timeout=5)
        assert resp.body == b"after"
        assert client.channel.connections[0].driver is driver


async def test_h2c_cancellation_resets_the_stream(h2c_port: int) -> None:
    """Trio cancellation of a call resets its stream (no leak, same connection)."""
    async with mux_client.connect(f"127.0.0.1:{h2c_port}", protocol="h2") as client:
        with trio.move_on_after(0.2):
            await client.request("GET", "/slow")
        driver = client.channel.connections[0].driver
        assert driver is not None and driver.open_streams == 0
        assert (await client.request("POST", "/echo", body=b"x", timeout=5)).body == b"x"


async def test_tls_alpn_picks_h2_against_hypercorn(
    tls_port: int, tls_files: tuple[trustme.CA, Path, Path]
) -> None:
    """Over TLS with no explicit protocol, ALPN offers mux/1 and h2; hypercorn picks h2."""
    ca = tls_files[0]
    target = f"127.0.0.1:{tls_port}"
    async with mux_client.connect(
        target, tls=_client_context(ca), server_hostname="localhost"
    ) as client:
        resp = await client.request("POST", "/echo", body=b"secret", timeout=5)
        assert (resp.status, resp.body, resp.header("x-scheme")) == (200, b"secret", b"https")
        assert client.channel.protocol == "h2"


async def test_tls_untrusted_certificate_is_a_connect_error(tls_port: int) -> None:
    """A certificate the client does not trust fails the call with ConnectError."""
    async with mux_client.connect(
        f"127.0.0.1:{tls_port}", tls=True, server_hostname="localhost", connect_timeout=5
    ) as client:
        with pytest.raises(ConnectError, match="TLS handshake failed"):
            await client.request("GET", "/echo", timeout=5)


async def test_h2c_against_mux_serve(server: Server, target: str, seen: Observed) -> None:
    """mux serve speaks h2 on the same port: echo, trailers and deadline reset."""
    async with mux_client.connect(target, protocol="h2") as client:
        resp = await client.request("POST", "/echo", body=b"via h2", timeout=5)
        assert (resp.status, resp.body) == (200, b"via h2")
        assert resp.trailers == [(b"x-t", b"ok")]
        with pytest.raises(DeadlineExceeded):
            await client.request("GET", "/delay/5000", timeout=0.2)
        with trio.fail_after(5):
            await seen.finished.wait()
        assert seen.cancelled == ["/delay/5000"]
        assert len(seen.timeout_headers) == 1 and 100 < int(seen.timeout_headers[0]) <= 200


@pytest.mark.parametrize(("protocol", "expected"), [(None, "mux"), ("h2", "h2")])
async def test_tls_alpn_against_mux_serve(
    nursery: trio.Nursery,
    tls_files: tuple[trustme.CA, Path, Path],
    protocol: Protocol | None,
    expected: str,
) -> None:
    """mux serve over TLS: with no protocol ALPN picks mux/1 (server preference);
    asking for h2 offers only h2."""
    ca, certfile, keyfile = tls_files
    config = ServerConfig(
        host="127.0.0.1", port=0, drain_timeout=2.0, tls_cert=str(certfile), tls_key=str(keyfile)
    )
    server: Server = await nursery.start(serve, build_app(Observed()), config)
    target = f"127.0.0.1:{server.port}"
    async with mux_client.connect(
        target, protocol=protocol, tls=_client_context(ca), server_hostname="localhost"
    ) as client:
        resp = await client.request("POST", "/echo", body=b"tls", timeout=5)
        assert (resp.status, resp.body) == (200, b"tls")
        assert client.channel.protocol == expected
    server.shutdown()
