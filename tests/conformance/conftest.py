"""Fixtures: a hypercorn (trio worker) server for the HTTP/2 suite."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.subprocs import ROOT, free_port, running

_HYPERCORN = Path(sys.executable).with_name("hypercorn")


def _serve(command: list[str]) -> Iterator[int]:
    port = free_port()
    command = [part.replace("{port}", str(port)) for part in command]
    with running(command, port, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
        yield port


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
