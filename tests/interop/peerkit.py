"""Shared pieces of the interop tests: the app every peer talks to, servers, TLS.

The app serves the demo services (``/echo``, ``/bytes/{n}``, ...) plus three
gRPC methods (``/test.Echo/Unary``, ``/test.Echo/Bidi``, ``/test.Echo/Sleep``)
through :class:`mux.server.grpc.GrpcService`; all of it is one handler, so
every protocol reaches the same code.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trustme

from mux.config import ServerConfig
from mux.core.h2engine import H2Engine
from mux.core.h2guard import H2Limits
from mux.driver import ConnectionDriver
from mux.server.app import Request, Response
from mux.server.demo import app as demo_app
from mux.server.grpc import GrpcError, GrpcService
from mux.server.grpcwire import StatusCode
from mux.server.server import Server

#: Bound on any external peer process (seconds).
PEER_TIMEOUT = 20.0

grpc_service = GrpcService()


async def _unary(message: bytes) -> bytes:
    if message == b"fail":
        raise GrpcError(StatusCode.INVALID_ARGUMENT, "asked to fail")
    return b"echo:" + message


async def _bidi(messages: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    async for message in messages:
        yield message.upper()


async def _sleep(message: bytes) -> bytes:
    await trio.sleep(10)
    return message


grpc_service.unary("/test.Echo/Unary", _unary)
grpc_service.bidi("/test.Echo/Bidi", _bidi)
grpc_service.unary("/test.Echo/Sleep", _sleep)


async def app(request: Request) -> Response | None:
    """The demo services plus the gRPC test methods."""
    if request.path.startswith("/test.Echo/"):
        return await grpc_service(request)
    return await demo_app(request)


def need(binary: str) -> str:
    """The path of ``binary`` or skip the test (``make test`` installs them)."""
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} not installed (apt-get install nghttp2-client curl)")
    return path


def write_tls_files(ca: trustme.CA, directory: Path) -> tuple[str, str]:
    """Write a 127.0.0.1/localhost certificate and key; return their paths."""
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    key_path.write_bytes(cert.private_key_pem.bytes())
    return str(cert_path), str(key_path)


async def start(nursery: trio.Nursery, config: ServerConfig | None = None) -> Server:
    """A server on 127.0.0.1 port 0 running :func:`app`."""
    config = config or ServerConfig(host="127.0.0.1", port=0)
    server: Server = await nursery.start(Server(app, config).serve)
    return server


async def h2_client(
    nursery: trio.Nursery, port: int, limits: H2Limits | None = None
) -> ConnectionDriver:
    """Our own HTTP/2 client (driver + H2Engine) over loopback TCP."""
    transport = await trio.open_tcp_stream("127.0.0.1", port)
    engine = H2Engine(client_side=True, limits=limits)
    driver = ConnectionDriver(transport, engine)
    await nursery.start(driver.run)
    return driver


async def run_peer(*argv: str, limit: float = PEER_TIMEOUT) -> str:
    """Run a peer binary to completion (bounded) and return its stdout."""
    with trio.fail_after(limit):
        result = await trio.run_process(list(argv), capture_stdout=True, capture_stderr=True)
    return result.stdout.decode(errors="replace")
