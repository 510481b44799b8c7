"""Server subprocesses for the tests: start one, know when it listens, stop it.

Two ways to know a server is up: :func:`running` (and :func:`wait_listening`)
polls a port chosen beforehand with :func:`free_port`, for any program (mux,
hypercorn, nghttpd); :func:`start_mux_serve` reads the line ``mux: serving on
HOST:PORT`` that ``python -m mux serve`` prints, so port 0 needs no guess.
The process is always stopped by whoever started it: :func:`running` on exit
(SIGTERM, then SIGKILL), the caller for :func:`start_mux_serve`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import trio

ROOT = Path(__file__).resolve().parents[1]


def mux_env() -> dict[str, str]:
    """The environment for a child ``python -m mux``: this checkout's code first."""
    return dict(os.environ, PYTHONPATH=f"{ROOT}:{ROOT / 'clients' / 'python'}")


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_listening(port: int, process: subprocess.Popen[Any], limit: float = 15.0) -> None:
    """Return once ``127.0.0.1:port`` accepts; RuntimeError if ``process`` exits first
    or ``limit`` seconds pass."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server did not listen on {port} within {limit} s")


@contextmanager
def running(
    command: list[str], port: int, *, stop_timeout: float = 5.0, **popen: Any
) -> Iterator[subprocess.Popen[Any]]:
    """Run ``command`` (``popen``: extra :class:`subprocess.Popen` arguments) until it
    listens on ``port``; on exit SIGTERM, and SIGKILL after ``stop_timeout`` s."""
    process: subprocess.Popen[Any] = subprocess.Popen(command, **popen)
    try:
        wait_listening(port, process)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=stop_timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


async def start_mux_serve(
    *flags: str, port: int = 0, stderr: int = subprocess.DEVNULL, limit: float = 30.0
) -> tuple[subprocess.Popen[str], int]:
    """Start ``python -m mux serve --listen 127.0.0.1:PORT *flags`` from :data:`ROOT`
    (stdout a text pipe) and return it with the port it serves on, read from its
    first line. The caller stops the process and closes its pipes (killed here if it
    does not say it serves)."""
    argv = [sys.executable, "-m", "mux", "serve", "--listen", f"127.0.0.1:{port}", *flags]
    proc = subprocess.Popen(  # noqa: ASYNC220 (returns at once)
        argv, stdout=subprocess.PIPE, stderr=stderr, text=True, env=mux_env(), cwd=ROOT
    )
    stdout = proc.stdout
    assert stdout is not None
    try:
        with trio.fail_after(limit):
            line = await trio.to_thread.run_sync(stdout.readline)
        assert line.startswith("mux: serving on 127.0.0.1:"), line
    except BaseException:
        proc.kill()
        proc.wait()
        stdout.close()
        raise
    return proc, int(line.rsplit(":", 1)[1])
