"""The blocking SyncClient and the `mux call` command line."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import trio

import mux_client
from mux_client import cli

ROOT = Path(__file__).resolve().parents[2]
ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "clients" / "python")]),
}


async def test_SyncClient_round_trip_from_threads(target: str) -> None:
    """Blocking calls from several threads share one client, then it closes cleanly."""

    def script() -> list[bytes]:
        with mux_client.SyncClient(target) as client:
            bodies: list[bytes] = []

            def worker(i: int) -> None:
                bodies.append(client.request("POST", "/echo", body=b"%d" % i, timeout=5).body)

            threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(10)
            status = client.request("GET", "/status/503").status
            bodies.append(b"%d" % status)
        with pytest.raises(mux_client.ClientClosedError):
            client.request("GET", "/echo")
        client.close()  # idempotent
        return bodies

    with trio.fail_after(20):
        bodies = await trio.to_thread.run_sync(script)
    assert sorted(bodies) == sorted([b"%d" % i for i in range(8)] + [b"503"])
    assert not [t for t in threading.enumerate() if t.name.startswith("mux-client")]


async def test_SyncClient_reports_connection_errors() -> None:
    """A refused connection raises ConnectError in the calling thread."""

    def script() -> None:
        with mux_client.SyncClient("127.0.0.1:1") as client:
            client.request("GET", "/x", timeout=2)

    with pytest.raises(mux_client.ConnectError) as info:
        await trio.to_thread.run_sync(script)
    assert info.value.processed is mux_client.Processed.NOT_PROCESSED


async def _mux_call(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    with trio.fail_after(30):  # trio kills the child if this expires
        return await trio.run_process(
            [sys.executable, "-m", "mux", "call", *args],
            stdin=stdin,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            env=ENV,
        )


async def test_mux_call_prints_the_body_binary_safe(target: str, tmp_path: Path) -> None:
    """`mux call` writes the raw response body to stdout and exits 0."""
    payload = bytes(range(256)) * 4
    (tmp_path / "body.bin").write_bytes(payload)
    done = await _mux_call("--target", target, "/echo", "--data", f"@{tmp_path / 'body.bin'}")
    assert done.returncode == 0, done.stderr
    assert done.stdout == payload
    done = await _mux_call(
        "--target", target, "/echo", "-d", "hi", "-H", "x-a: b", "--timeout", "5"
    )
    assert (done.returncode, done.stdout) == (0, b"hi")


async def test_mux_call_failures_exit_1_with_a_message(target: str) -> None:
    """Non-2xx, timeout and refused connections print an error and exit 1."""
    status = await _mux_call("--target", target, "/status/404")
    assert status.returncode == 1
    assert b"status 404" in status.stderr and status.stdout == b"as requested"
    slow = await _mux_call("--target", target, "/delay/5000", "--timeout", "0.3")
    assert slow.returncode == 1 and b"deadline of 0.3s exceeded" in slow.stderr
    refused = await _mux_call("--target", "127.0.0.1:1", "/echo")
    assert refused.returncode == 1 and b"cannot connect to 127.0.0.1:1" in refused.stderr
    bad = await _mux_call("--target", "nonsense", "/echo")
    assert bad.returncode == 1 and b"HOST:PORT" in bad.stderr


async def test_mux_call_rejected_request_exits_1_without_traceback(target: str) -> None:
    """A method, path or header name the protocol rejects is one line and exit 1."""
    for args in (["-X", "G T", "/echo"], ["echo"], ["-H", "a b: c", "/echo"]):
        done = await _mux_call("--target", target, *args)
        assert done.returncode == 1, (args, done.stderr)
        assert b"Traceback" not in done.stderr and b"mux call: error:" in done.stderr
    nan = await _mux_call("--target", target, "/echo", "--timeout", "nan")
    assert nan.returncode == 1 and b"--timeout must be > 0" in nan.stderr


def test_mux_call_unwraps_nursery_groups(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An expected error wrapped in (nested) exception groups is reported plainly."""

    async def failing(*_: object) -> None:
        inner = ExceptionGroup("conn", [mux_client.ConnectError("h:1", "refused")])
        raise ExceptionGroup("client", [inner, OSError("gone")])

    monkeypatch.setattr(cli, "_call", failing)
    assert cli.main(["--target", "h:1", "/x"]) == 1
    assert "mux call: error: cannot connect to h:1: refused" in capsys.readouterr().err

    async def buggy(*_: object) -> None:
        raise ExceptionGroup("client", [OSError("gone"), KeyError("bug")])

    monkeypatch.setattr(cli, "_call", buggy)
    with pytest.raises(ExceptionGroup):  # a bug keeps its traceback
        cli.main(["--target", "h:1", "/x"])
