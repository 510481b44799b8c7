"""``mux serve`` as a new user meets it: clear errors, checked limits, honest help.

Each test runs the real command line (in-process ``main`` or a subprocess)
and, where a limit reaches the wire, a real loopback connection.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import h2.config
import h2.connection
import h2.events
import h2.settings
import pytest
import trio
import trustme
from cryptography.hazmat.primitives import serialization

from mux import cli
from mux.config import H2_MAX_FRAME_SIZE, LIMIT_RANGES, ServerConfig
from mux.core.connection import MuxConnection
from mux.core.h2engine import H2Engine
from mux.core.h2guard import H2_MAX_FRAME_SIZE as GUARD_H2_MAX_FRAME_SIZE
from mux.server.demo import app as demo_app
from mux.server.server import Server

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'clients' / 'python'}"}


def _serve_exit(argv: list[str]) -> int:
    """Run ``mux serve argv`` in-process; the exit status (argparse's included)."""
    try:
        return cli.main(["serve", "--no-tune-allocator", *argv])
    except SystemExit as exc:
        return int(exc.code or 0)


# -- bind failures -------------------------------------------------------------------------


def test_port_in_use_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert _serve_exit(["--listen", f"127.0.0.1:{port}"]) == 1
    err = capsys.readouterr().err
    assert err == f"mux serve: cannot listen on 127.0.0.1:{port}: Address already in use\n"


@pytest.mark.parametrize(
    ("listen", "reason"),
    [
        ("192.0.2.1:0", "Cannot assign requested address"),  # TEST-NET-1: never local
        ("no-such-host.invalid:0", "cannot resolve the host"),
    ],
)
def test_unbindable_address_is_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str], listen: str, reason: str
) -> None:
    assert _serve_exit(["--listen", listen]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"mux serve: cannot listen on {listen}: {reason}")
    assert err.count("\n") == 1 and "Traceback" not in err


# -- limits: checked once, with the engines' rules -----------------------------------------

_FLAGS = {
    "--max-concurrent-streams": "max_concurrent_streams",
    "--initial-window": "initial_stream_window",
    "--connection-window": "connection_window",
    "--max-frame-size": "max_frame_size",
    "--h2-max-frame-size": "h2_max_frame_size",
    "--max-streams-per-connection": "max_streams_per_connection",
}


@pytest.mark.parametrize("flag", sorted(_FLAGS))
def test_limit_flags_out_of_range_are_usage_errors(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    """Just outside the range: exit 2 naming the flag and the range; nothing starts."""
    monkeypatch.setattr(cli.trio, "run", lambda *a: pytest.fail("the server started"))
    low, high = LIMIT_RANGES[_FLAGS[flag]]
    for value in (low - 1, high + 1, "ten"):
        assert _serve_exit([flag, str(value)]) == 2
        err = capsys.readouterr().err
        assert f"argument {flag}: must be an integer in {low}..{high}" in err


@pytest.mark.parametrize("flag", sorted(_FLAGS))
def test_limit_flags_at_their_bounds_give_engines_that_run(flag: str) -> None:
    """The range is the engines' own: both ends build a config and both engines start."""
    for value in LIMIT_RANGES[_FLAGS[flag]]:
        args = cli.build_parser().parse_args(["serve", flag, str(value)])
        config = cli.config_from_args(args)
        h2 = H2Engine(client_side=False, limits=config.h2_limits())
        h2.initiate_connection()
        mux = MuxConnection(client_side=False, limits=config.limits)
        mux.initiate_connection()
        assert h2.data_to_send() and mux.data_to_send()


def test_zero_window_and_zero_streams_were_the_reported_cases() -> None:
    """`--initial-window 0` and `--max-concurrent-streams 0` used to start a broken server."""
    assert _serve_exit(["--initial-window", "0"]) == 2
    assert _serve_exit(["--max-concurrent-streams", "0"]) == 2
    with pytest.raises(ValueError, match="must be >= 1"):
        ServerConfig(limits=ServerConfig().limits.__class__(initial_stream_window=0))


def test_h2_frame_cap_matches_the_guard() -> None:
    assert H2_MAX_FRAME_SIZE == GUARD_H2_MAX_FRAME_SIZE


# -- MAX_FRAME_SIZE on the wire -------------------------------------------------------------


async def _h2_server_settings(port: int) -> dict[int, int]:
    """Connect as an HTTP/2 client; the settings the server's first SETTINGS frame carries."""
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    client.initiate_connection()
    tcp = await trio.open_tcp_stream("127.0.0.1", port)
    async with tcp:
        await tcp.send_all(client.data_to_send())
        with trio.fail_after(10):
            while True:
                data = await tcp.receive_some(65536)
                assert data, "server closed before its SETTINGS"
                for event in client.receive_data(data):
                    if isinstance(event, h2.events.RemoteSettingsChanged):
                        return {int(k): v.new_value for k, v in event.changed_settings.items()}


@pytest.mark.parametrize(("configured", "advertised"), [(None, 16_384), (65_536, 65_536)])
async def test_h2_advertises_the_rfc_frame_size_unless_configured(
    nursery: trio.Nursery, configured: int | None, advertised: int
) -> None:
    argv = ["serve", "--listen", "127.0.0.1:0"]
    if configured is not None:
        argv += ["--h2-max-frame-size", str(configured)]
    config = cli.config_from_args(cli.build_parser().parse_args(argv))
    assert config.limits.max_frame_size == 1 << 20  # mux/msgpack keeps 1 MiB
    server: Server = await nursery.start(Server(demo_app, config).serve)
    settings = await _h2_server_settings(server.port)
    frame_size = settings.get(int(h2.settings.SettingCodes.MAX_FRAME_SIZE), 16_384)
    assert frame_size == advertised
    server.shutdown()


def test_max_frame_size_help_states_both_protocols_and_ranges(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        cli.main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "mux/msgpack connections advertise and accept, bytes" in text
    assert "1024..16777215 (default: 1048576)" in text
    assert "HTTP/2 connections advertise and accept" in text
    assert "16384..65536 (default: 16384)" in text


# -- TLS files -------------------------------------------------------------------------------


@pytest.fixture
def pems(tmp_path: Path) -> dict[str, str]:
    ca = trustme.CA()
    one, other = ca.issue_cert("localhost"), ca.issue_cert("other")
    files = {
        "cert": one.cert_chain_pems[0],
        "key": one.private_key_pem,
        "other_key": other.private_key_pem,
    }
    for name, blob in files.items():
        blob.write_to_path(str(tmp_path / f"{name}.pem"))
    (tmp_path / "text.pem").write_text("hello\n")
    encrypted = one.private_key_pem.bytes()
    key = serialization.load_pem_private_key(encrypted, password=None)
    (tmp_path / "encrypted_key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    return {name: str(tmp_path / f"{name}.pem") for name in [*files, "text", "encrypted_key"]}


@pytest.mark.parametrize(
    ("cert", "key", "message"),
    [
        ("missing", "key", "certificate file {missing}: No such file or directory"),
        ("cert", "missing", "private key file {missing}: No such file or directory"),
        ("text", "key", "certificate file {text} is not PEM"),
        ("cert", "text", "private key file {text} is not PEM"),
        ("key", "key", "certificate file {key} holds a PEM EC PRIVATE KEY, not a certificate"),
        ("cert", "other_key", "private key {other_key} does not match certificate {cert}"),
        ("cert", "encrypted_key", "private key {encrypted_key} is encrypted"),
    ],
)
def test_tls_errors_name_the_file_and_the_problem(
    capsys: pytest.CaptureFixture[str],
    pems: dict[str, str],
    tmp_path: Path,
    cert: str,
    key: str,
    message: str,
) -> None:
    files = {**pems, "missing": str(tmp_path / "missing.pem")}
    assert _serve_exit(["--tls-cert", files[cert], "--tls-key", files[key]]) == 2
    err = capsys.readouterr().err
    assert message.format(**files) in err
    assert "_ssl.c" not in err and "Traceback" not in err


# -- --app from the current directory, --app-dir -------------------------------------------

_APP = """
from mux.server import Response

async def app(request):
    return Response.text(200, "from the current directory\\n")
"""


async def _serve_and_get(argv: list[str], cwd: Path) -> bytes:
    """Start `python -P -m mux serve argv` (no implicit cwd on sys.path), GET /, stop it."""
    import httpx

    command = [sys.executable, "-P", "-m", "mux", "serve", "--listen", "127.0.0.1:0", *argv]
    proc = subprocess.Popen(  # noqa: ASYNC220 (stdout is read in a thread)
        command, cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        with trio.fail_after(30):
            line = await trio.to_thread.run_sync(proc.stdout.readline)
        assert line.startswith(b"mux: serving on "), proc.communicate(timeout=10)
        address = line.split()[-1].decode()
        async with httpx.AsyncClient() as client:
            return (await client.get(f"http://{address}/")).content
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


async def test_app_resolves_from_the_current_directory(tmp_path: Path) -> None:
    (tmp_path / "myservice.py").write_text(_APP)
    assert await _serve_and_get(["--app", "myservice:app"], tmp_path) == (
        b"from the current directory\n"
    )


async def test_app_dir_chooses_another_directory(tmp_path: Path) -> None:
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "otherservice.py").write_text(_APP)
    body = await _serve_and_get(["--app", "otherservice:app", "--app-dir", "svc"], tmp_path)
    assert body == b"from the current directory\n"


def test_app_dir_must_exist(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert _serve_exit(["--app", "x:app", "--app-dir", str(tmp_path / "nope")]) == 2
    assert "is not a directory" in capsys.readouterr().err


# -- help and version ------------------------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("mux 0.")


def test_every_subcommand_is_described(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = capsys.readouterr().out
    for name in cli.DELEGATED:
        line = next(ln for ln in text.splitlines() if ln.strip().startswith(name))
        assert "see `mux" not in line
    assert "serve      serve handlers" in text


def test_serve_help_shows_every_default(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert text.count("(default: ") >= 13
    for shown in ("127.0.0.1:8080", "mux.server.demo:app", "INFO", "30.0", "100", "262144"):
        assert f"(default: {shown})" in text or f"(default: {shown};" in text
    assert "(default: None)" not in text and "(default " not in text
