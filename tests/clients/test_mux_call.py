"""`mux call` as a debugging tool: protocols, TLS, heads, trailers, clear failures.

Every case runs the real command in a subprocess against a real server on loopback.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trustme

from mux.config import ServerConfig
from mux.server import Request, Response, Router, Server
from mux.server.demo import app as demo_app

ROOT = Path(__file__).resolve().parents[2]
ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "clients" / "python")]),
}


def _app() -> Router:
    app = Router()

    @app.route("/trailers")
    async def trailers(request: Request) -> Response:
        return Response(200, {"x-head": "h"}, b"body\n", trailers={"x-tail": "t"})

    app.add("/{a}", demo_app)
    app.add("/{a}/{b}", demo_app)
    return app


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def plain(nursery: trio.Nursery) -> AsyncIterator[str]:
    server: Server = await nursery.start(
        Server(_app(), ServerConfig(host="127.0.0.1", port=0)).serve
    )
    yield f"127.0.0.1:{server.port}"
    server.shutdown()


@pytest.fixture
async def tls(nursery: trio.Nursery, ca: trustme.CA, tmp_path: Path) -> AsyncIterator[str]:
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    config = ServerConfig(
        host="127.0.0.1",
        port=0,
        tls_cert=str(tmp_path / "cert.pem"),
        tls_key=str(tmp_path / "key.pem"),
    )
    server: Server = await nursery.start(Server(_app(), config).serve)
    yield f"127.0.0.1:{server.port}"
    server.shutdown()


async def _call(*args: str) -> subprocess.CompletedProcess[bytes]:
    with trio.fail_after(30):
        return await trio.run_process(
            [sys.executable, "-m", "mux", "call", *args],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            env=ENV,
        )


@pytest.mark.parametrize(
    ("protocol", "status_line"),
    [
        ("mux", b"mux/1 200"),
        ("h2", b"HTTP/2 200"),
        ("h1", b"HTTP/1.1 200"),
        ("http1", b"HTTP/1.1 200"),
    ],
)
async def test_include_shows_status_headers_body_trailers(
    plain: str, protocol: str, status_line: bytes
) -> None:
    done = await _call(f"http://{plain}/trailers", "--protocol", protocol, "-i")
    assert done.returncode == 0, done.stderr
    head, _, rest = done.stdout.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0] == status_line
    assert b"x-head: h" in head.split(b"\r\n")
    assert rest == b"body\nx-tail: t\r\n"
    assert done.stderr == b""


@pytest.mark.parametrize("protocol", ["mux", "h2", "h1"])
async def test_verbose_goes_to_stderr_and_the_body_alone_to_stdout(
    plain: str, protocol: str
) -> None:
    done = await _call(
        "--target",
        plain,
        "/echo",
        "-X",
        "PUT",
        "-d",
        "hello",
        "-H",
        "x-a: 1",
        "-v",
        "--protocol",
        protocol,
    )
    assert (done.returncode, done.stdout) == (0, b"hello")
    err = done.stderr.decode()
    assert "> PUT /echo" in err and "> x-a: 1" in err
    assert "< x-a: 1" in err and " 200" in err
    trailers = await _call("--target", plain, "/trailers", "-v", "--protocol", protocol)
    assert trailers.stdout == b"body\n"
    assert "< x-tail: t" in trailers.stderr.decode()


async def test_refused_connection_is_said_as_such() -> None:
    with trio.socket.socket() as sock:  # a port nobody listens on
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for protocol in ("mux", "h1"):
        done = await _call("--target", f"127.0.0.1:{port}", "/echo", "--protocol", protocol)
        assert done.returncode == 1 and done.stdout == b""
        assert b"connection refused" in done.stderr, done.stderr


async def test_tls_port_without_tls_gets_a_hint(tls: str) -> None:
    done = await _call("--target", tls, "/echo", "-d", "x")
    assert done.returncode == 1
    assert f"{tls} speaks TLS: add --tls".encode() in done.stderr


async def test_plain_port_with_tls_gets_a_hint(plain: str) -> None:
    done = await _call(f"https://{plain}/echo", "-k")
    assert done.returncode == 1
    assert b"does not answer a TLS handshake: drop --tls" in done.stderr


async def test_unverified_certificate_names_cacert_and_insecure(tls: str) -> None:
    done = await _call(f"https://{tls}/echo", "-d", "x")
    assert done.returncode == 1
    assert b"does not verify" in done.stderr and b"--cacert" in done.stderr


@pytest.mark.parametrize("protocol", [None, "mux", "h2", "h1"])
async def test_tls_with_cacert_or_insecure(tls: str, tmp_path: Path, protocol: str | None) -> None:
    extra = ["--protocol", protocol] if protocol else []
    done = await _call(
        "--target", tls, "/echo", "-d", "over tls", "--cacert", str(tmp_path / "ca.pem"), *extra
    )
    assert (done.returncode, done.stdout) == (0, b"over tls"), done.stderr
    done = await _call(f"https://{tls}/echo", "-d", "insecure", "--insecure", "-i", *extra)
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith(b"\r\n\r\ninsecure")
    expected = {None: b"mux/1", "mux": b"mux/1", "h2": b"HTTP/2", "h1": b"HTTP/1.1"}[protocol]
    assert done.stdout.startswith(expected + b" 200")


async def test_usage_errors_name_flags(plain: str) -> None:
    bad = await _call("--target", plain, "/echo", "--protocol", "h3")
    assert bad.returncode == 2 and b"--protocol" in bad.stderr
    for args, flag in [
        (["--timeout", "-1"], b"--timeout must be > 0"),
        (["-H", "novalue"], b"-H must look like 'name: value'"),
        (["--cacert", "/no/such/ca.pem"], b"--cacert /no/such/ca.pem"),
        (["-d", "@/no/such/file"], b"--data @/no/such/file"),
        (["--target", "x"], b"--target must be HOST:PORT"),
        (["-H", "mux-timeout: 5"], b"-H cannot set mux-timeout: give --timeout SECONDS"),
        (["-H", ":path: /x"], b"-H cannot set :path: give the method with -X"),
    ]:
        done = await _call("--target", plain, "/echo", *args)
        assert done.returncode == 1 and flag in done.stderr, (args, done.stderr)
        assert b"Traceback" not in done.stderr


async def test_non_2xx_body_on_stdout_status_on_stderr(plain: str) -> None:
    done = await _call(f"http://{plain}/nope", "--protocol", "h2")
    assert done.returncode == 1
    assert done.stdout == b"not found: /nope\n"
    assert done.stderr == b"mux call: status 404\n"


async def test_terminal_output_ends_with_a_newline(plain: str) -> None:
    """On a terminal a body without a final newline gets one; in a pipe it stays exact."""
    controller, terminal = pty.openpty()
    try:
        with trio.fail_after(30):
            done = await trio.run_process(
                [sys.executable, "-m", "mux", "call", "--target", plain, "/echo", "-d", "hi"],
                stdout=terminal,
                capture_stderr=True,
                check=False,
                env=ENV,
            )
        assert done.returncode == 0, done.stderr
        shown = os.read(controller, 1024)
    finally:
        os.close(controller)
        os.close(terminal)
    assert shown.replace(b"\r\n", b"\n") == b"hi\n"
    piped = await _call("--target", plain, "/echo", "-d", "hi")
    assert piped.stdout == b"hi"


async def test_deadline_over_each_protocol_names_the_flag(plain: str) -> None:
    for protocol in ("mux", "h2", "h1"):
        done = await _call(
            "--target", plain, "/delay/5000", "--timeout", "0.3", "--protocol", protocol
        )
        assert done.returncode == 1 and done.stdout == b""
        err = done.stderr.decode()
        assert "deadline" in err and ("--timeout" in err or "0.3s" in err), (protocol, err)
        assert "Traceback" not in err


async def test_h1_over_tls_to_a_plain_port_gets_the_hint(plain: str) -> None:
    done = await _call(f"https://{plain}/echo", "-k", "--protocol", "h1")
    assert done.returncode == 1
    assert b"does not answer a TLS handshake: drop --tls" in done.stderr
