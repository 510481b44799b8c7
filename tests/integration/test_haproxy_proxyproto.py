"""Real HAProxy (TCP mode, ``send-proxy-v2``) in front of two mux processes.

Clients connect to HAProxy from several loopback source addresses (127.0.0.2,
127.0.0.3, ...: the client socket is bound before connecting) and each sees
its own address arrive behind whichever backend HAProxy chose:

* two ``mux serve --proxy-protocol`` running an app that answers the client
  address and port it was given (``Request.client``);
* two ``mux gateway`` instances whose listener sets ``proxy_protocol = true``,
  forwarding to ``mux serve``'s demo ``/echo``, which sends the request's
  headers back: ``x-forwarded-for``/``forwarded`` must name the client. HAProxy's
  stats socket shows that both gateways carried clients.

Every process is started on free loopback ports with a generated configuration
and stopped by the test. Skipped when the ``haproxy`` binary is absent (Debian
package ``haproxy``).
"""

from __future__ import annotations

import contextlib
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
    """``python -m mux <args>``; returns it and its port once its first line names it.

    ``mux serve`` says ``serving on HOST:PORT`` and ``mux gateway`` says
    ``listening on HOST:PORT``.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), str(ROOT / "clients" / "python"), str(Path(__file__).parent)]
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "mux", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT
    line = b""
    fd = proc.stdout.fileno()  # read the fd itself: a buffered read would hide bytes from select
    while time.monotonic() < deadline and b"\n" not in line:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            line += chunk
    line = line.split(b"\n")[0]
    if b"serving on" not in line and b"listening on" not in line:
        stop(proc)
        raise RuntimeError(f"mux did not start: {line!r}")
    return proc, int(line.strip().split(b",")[0].rsplit(b":", 1)[1])


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
    stats socket {stats}
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


def need_haproxy() -> str:
    binary = shutil.which("haproxy")
    if binary is None:
        pytest.skip("haproxy not installed (Debian package haproxy: apt-get install haproxy)")
    return binary


SERVE = ("serve", "--listen", "127.0.0.1:0", "--no-tune-allocator")


@contextlib.contextmanager
def haproxy_in_front(ports: list[int], directory: Path) -> Iterator[tuple[int, Path]]:
    """HAProxy on a free port, TCP round robin with send-proxy-v2 over ``ports``.

    Yields its port and its stats socket.
    """
    binary = need_haproxy()
    port = free_port()
    servers = "\n".join(
        f"    server mux{i} 127.0.0.1:{p} send-proxy-v2" for i, p in enumerate(ports)
    )
    stats = directory / "haproxy.sock"
    config = directory / "haproxy.cfg"
    config.write_text(HAPROXY_CONFIG.format(port=port, servers=servers, stats=stats))
    haproxy = subprocess.Popen(
        [binary, "-db", "-f", str(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        wait_listening(port, haproxy)
        yield port, stats
    finally:
        stop(haproxy)


@contextlib.contextmanager
def processes(*commands: tuple[str, ...]) -> Iterator[list[int]]:
    """Start ``python -m mux`` processes; yield their ports; always stop them all."""
    started: list[tuple[subprocess.Popen[bytes], int]] = []
    try:
        for args in commands:
            started.append(start_mux(*args))
        yield [port for _, port in started]
    finally:
        for proc, _ in started:
            stop(proc)


def sessions_per_server(stats: Path) -> dict[str, int]:
    """Total sessions (``stot``) HAProxy sent to each backend server."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(str(stats))
        sock.sendall(b"show stat\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    lines = data.decode().splitlines()
    columns = lines[0].lstrip("# ").split(",")
    out = {}
    for line in lines[1:]:
        row = dict(zip(columns, line.split(","), strict=False))
        if row.get("svname", "").startswith("mux"):
            out[row["svname"]] = int(row["stot"])
    return out


@pytest.fixture
def haproxy_front(tmp_path: Path) -> Iterator[int]:
    """HAProxy round robin over two ``mux serve --proxy-protocol`` (app: :func:`whoami`)."""
    need_haproxy()
    app = ("--proxy-protocol", "--app", "test_haproxy_proxyproto:whoami")
    with (
        processes((*SERVE, *app), (*SERVE, *app)) as ports,
        haproxy_in_front(ports, tmp_path) as (port, _),
    ):
        yield port


GATEWAY_CONFIG = """\
[[listeners]]
address = "127.0.0.1:{port}"
proxy_protocol = true

[[routes]]
name = "all"
cluster = "echo"
path_prefix = "/"

[clusters.echo]
endpoints = ["127.0.0.1:{upstream}"]
protocol = "h2"
"""


def mux_gateway_exists() -> bool:
    return (ROOT / "mux" / "gateway" / "cli.py").exists()


async def get_from(
    source: str, port: int, path: str = "/whoami"
) -> tuple[int, dict[bytes, bytes], bytes]:
    """One HTTP/1.1 request from ``source``: (our local port, headers, body)."""
    sock = trio.socket.socket()
    await sock.bind((source, 0))
    await sock.connect(("127.0.0.1", port))
    local_port: int = sock.getsockname()[1]
    stream = trio.SocketStream(sock)
    async with stream:
        request = f"GET {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n"
        await stream.send_all(request.encode())
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
    return local_port, headers, body


async def test_clients_see_their_own_addresses_through_haproxy(haproxy_front: int) -> None:
    backends = set()
    for round_ in range(2):
        for source in SOURCES:
            local_port, headers, body = await get_from(source, haproxy_front)
            assert body == f"{source} {local_port}".encode(), (round_, source)
            backends.add(headers[b"x-backend"])
    assert len(backends) == 2  # round robin: both processes saw relayed clients


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy not installed")
@pytest.mark.skipif(not mux_gateway_exists(), reason="mux gateway is not in this tree yet")
async def test_gateways_forward_the_proxied_client_address(tmp_path: Path) -> None:
    with processes(SERVE) as (upstream,):
        commands = []
        for i in range(2):
            config = tmp_path / f"gateway{i}.toml"
            config.write_text(GATEWAY_CONFIG.format(port=free_port(), upstream=upstream))
            commands.append(("gateway", "--config", str(config)))
        with processes(*commands) as ports, haproxy_in_front(ports, tmp_path) as (port, stats):
            for round_ in range(2):
                for source in SOURCES:
                    _, headers, _ = await get_from(source, port, "/echo")
                    assert headers.get(b"x-forwarded-for") == source.encode(), (round_, headers)
                    assert f"for={source};".encode() in headers.get(b"forwarded", b""), headers
            sessions = sessions_per_server(stats)
    assert sorted(sessions) == ["mux0", "mux1"]
    assert all(count >= 2 for count in sessions.values()), sessions
