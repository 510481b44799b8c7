"""The SDK against a real ``mux serve`` whose stream cap is low: no call fails.

Every connection ends after ``--max-streams-per-connection`` streams with a
graceful GOAWAY while up to 32 calls are in flight. The calls above its last
stream id were not processed and are retried on a new connection; the others
are answered before the server closes. No call may surface an error: the
server lingers after its final GOAWAY (closing on the client's unread streams
would reset its last responses), and a client whose send fails on the reset
still reads the GOAWAY that came before it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import trio

import mux_client
from mux import cli

ROOT = Path(__file__).resolve().parents[2]

CAP = 50
CONCURRENCY = 32
REQUESTS = 2000


async def _start_serve(*flags: str) -> tuple[subprocess.Popen[str], str]:
    """``mux serve`` on a free loopback port: the process and its ``host:port``."""
    env = dict(os.environ, PYTHONPATH=f"{ROOT}:{ROOT / 'clients' / 'python'}")
    argv = [sys.executable, "-m", "mux", "serve", "--listen", "127.0.0.1:0"]
    argv += ["--log-level", "WARNING", "--no-tune-allocator", *flags]
    proc = subprocess.Popen(  # noqa: ASYNC220 (returns at once)
        argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=ROOT
    )
    assert proc.stdout is not None
    with trio.fail_after(30):
        line = await trio.to_thread.run_sync(proc.stdout.readline)
    assert line.startswith("mux: serving on 127.0.0.1:"), line
    return proc, line.split("serving on ", 1)[1].strip()


async def test_sdk_through_many_stream_cap_goaways_sees_no_error() -> None:
    proc, address = await _start_serve("--max-streams-per-connection", str(CAP))
    errors: list[BaseException] = []
    done = 0
    try:
        async with mux_client.connect(address, timeout=10) as client:

            async def worker(count: int) -> None:
                nonlocal done
                for _ in range(count):
                    try:
                        resp = await client.request("POST", "/echo", body=b"ping")
                        assert resp.status == 200 and resp.body == b"ping"
                        done += 1
                    except mux_client.CallError as exc:
                        errors.append(exc)

            with trio.fail_after(120):
                async with trio.open_nursery() as nursery:
                    for _ in range(CONCURRENCY):
                        nursery.start_soon(worker, REQUESTS // CONCURRENCY)
    finally:
        proc.kill()
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
    assert [str(e) for e in errors[:3]] == [] and done == REQUESTS // CONCURRENCY * CONCURRENCY


def test_the_flag_sets_the_cap_and_its_help_names_the_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = cli.build_parser().parse_args(["serve", "--max-streams-per-connection", "50"])
    assert cli.config_from_args(args).limits.max_streams_per_connection == 50
    default = cli.config_from_args(cli.build_parser().parse_args(["serve"]))
    assert default.limits.max_streams_per_connection == 10_000
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["serve", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--max-streams-per-connection N streams a client may open" in help_text
    assert "1..1073741824 (default: 10000)" in help_text
