"""Real HAProxy (TCP mode, ``send-proxy-v2``) in front of two mux processes.

Clients connect to HAProxy from several loopback source addresses (127.0.0.2,
127.0.0.3, ...: the client socket is bound before connecting) and each sees
its own address and port arrive at whichever backend HAProxy chose. Every
process is started on free loopback ports with a generated configuration and
stopped by the test. Skipped when the ``haproxy`` binary is absent (Debian
package ``haproxy``).
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from mux.server.app import Request, Response

pytestmark = pytest.mark.interop

ROOT = Path(__file__).resolve().parents[2]
#: Bound on starting any process (seconds).
START_TIMEOUT = 20.0
SOURCES = ("127.0.0.2", "127.0.0.3", "127.0.0.4")


async def whoami(request: Request) -> Response:
    """The backend app: the client address the server attributes the request to."""
    client = request.client
    text = "none" if client is None else f"{client[0]} {client[1]}"
    return Response.text(200, text, {"x-backend": str(os.getpid())})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def start_mux(*args: str) -> tuple[subprocess.Popen[bytes], int]:
    """``python -m mux <args> --listen 127.0.0.1:0``; returns it and its port."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), str(ROOT / "clients" / "python"), str(Path(__file__).parent)]
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "mux", *args, "--listen", "127.0.0.1:0", "--no-tune-allocator"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT
    line = b""
    while time.monotonic() < deadline and not line.endswith(b"\n"):
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            byte = proc.stdout.read(1)
            if not byte:
                break
            line += byte
    if b"serving on" not in line:
        stop(proc)
        raise RuntimeError(f"mux did not start: {line!r}")
    return proc, int(line.strip().rsplit(b":", 1)[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"haproxy exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("haproxy did not start listening")


HAPROXY_CONFIG = """\
global
    nbthread 1
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend front
    bind 127.0.0.1:{port}
    default_backend muxes
backend muxes
    balance roundrobin
{servers}
"""


@pytest.fixture
def haproxy_front(tmp_path: Path) -> Iterator[int]:
    """HAProxy on a free port, round robin over two ``mux serve --proxy-protocol``."""
    binary = shutil.which("haproxy")
    if binary is None:
        pytest.skip("haproxy not installed (Debian package haproxy: apt-get install haproxy)")
    backends = []
    try:
        for _ in range(2):
            backends.append(
                start_mux("serve", "--proxy-protocol", "--app", "test_haproxy_proxyproto:whoami")
            )
        port = free_port()
        servers = "\n".join(
            f"    server mux{i} 127.0.0.1:{p} send-proxy-v2" for i, (_, p) in enumerate(backends)
        )
        config = tmp_path / "haproxy.cfg"
        config.write_text(HAPROXY_CONFIG.format(port=port, servers=servers))
        haproxy = subprocess.Popen(
            [binary, "-db", "-f", str(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            wait_listening(port, haproxy)
            yield port
        finally:
            stop(haproxy)
    finally:
        for proc, _ in backends:
            stop(proc)


async def get_from(source: str, port: int) -> tuple[int, bytes, bytes]:
    """One HTTP/1.1 request from ``source``: (our local port, x-backend, body)."""
    sock = trio.socket.socket()
    await sock.bind((source, 0))
    await sock.connect(("127.0.0.1", port))
    local_port: int = sock.getsockname()[1]
    stream = trio.SocketStream(sock)
    async with stream:
        await stream.send_all(b"GET /whoami HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
        response = b""
        with trio.fail_after(10):
            while chunk := await stream.receive_some(65536):
                response += chunk
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), response
    headers = {
        name.lower(): value
        for name, value in (line.split(b": ", 1) for line in head.split(b"\r\n")[1:])
    }
    if headers.get(b"transfer-encoding") == b"chunked":
        size, _, rest = body.partition(b"\r\n")
        body = rest[: int(size, 16)]
    return local_port, headers[b"x-backend"], body


async def test_clients_see_their_own_addresses_through_haproxy(haproxy_front: int) -> None:
    backends = set()
    for round_ in range(2):
        for source in SOURCES:
            local_port, backend, body = await get_from(source, haproxy_front)
            assert body == f"{source} {local_port}".encode(), (round_, source)
            backends.add(backend)
    assert len(backends) == 2  # round robin: both processes saw relayed clients
