"""Fixtures: a hypercorn (trio worker) server for the HTTP/2 suite."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[2]
_HYPERCORN = Path(sys.executable).with_name("hypercorn")


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_listening(port: int, process: subprocess.Popen[bytes], limit: float = 15.0) -> None:
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


def _serve(command: list[str]) -> Iterator[int]:
    port = free_port()
    command = [part.replace("{port}", str(port)) for part in command]
    process = subprocess.Popen(
        command, cwd=_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_listening(port, process)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture(scope="session")
def hypercorn_port() -> Iterator[int]:
    """Run hypercorn with the trio worker serving tests/asgi_echo.py (bulk_app)."""
    if not _HYPERCORN.exists():
        pytest.skip("hypercorn is not installed in this environment")
    command = [
        str(_HYPERCORN),
        "--worker-class", "trio",
        "--bind", "127.0.0.1:{port}",
        "tests.asgi_echo:bulk_app",
    ]  # fmt: skip
    yield from _serve(command)


@pytest.fixture(scope="session")
def mux_port() -> Iterator[int]:
    """Run ``mux serve`` (demo app) on a free loopback port."""
    yield from _serve([sys.executable, "-m", "mux", "serve", "--listen", "127.0.0.1:{port}"])
