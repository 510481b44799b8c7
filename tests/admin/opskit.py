"""Helpers of the admin/ops tests: ``mux serve`` / ``mux gateway`` subprocesses.

(A module, not a conftest.py: like tests/gateway/gwkit.py.)
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import attrs
import trio

ROOT = Path(__file__).resolve().parents[2]
_COUNT = itertools.count()


@attrs.define
class Running:
    """A running ``mux`` subprocess and the addresses it printed."""

    process: trio.Process
    listen: str
    admin: str | None
    stdout: list[str]
    log: Path


@asynccontextmanager
async def run_mux(
    args: Sequence[str], tmp_path: Path, *, ready: str = "admin on"
) -> AsyncIterator[Running]:
    """``python -m mux ARGS`` until it printed a line containing ``ready``; the
    process is terminated (then killed) when the block ends."""
    log_path = tmp_path / f"mux-{next(_COUNT)}.log"
    log = open(log_path, "wb")  # noqa: ASYNC230, SIM115 (the process keeps it)
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "mux", *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=log
    )
    assert process.stdout is not None
    out = b""
    try:
        with trio.fail_after(20):
            while ready.encode() not in out or not out.endswith(b"\n"):
                data = await process.stdout.receive_some(4096)
                assert data, log_path.read_text()
                out += data
        lines = out.decode().splitlines()
        public = next(li for li in lines if "serving on" in li or "listening on" in li)
        listen = public.split(" on ")[1].split(",")[0].strip()
        admin_lines = [li for li in lines if "admin on" in li]
        admin = admin_lines[0].split("admin on ")[1].strip() if admin_lines else None
        yield Running(process, listen, admin, lines, log_path)
    finally:
        if process.returncode is None:
            process.terminate()
            with trio.move_on_after(10):
                await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()
        log.close()


async def eventually(predicate: Callable[[], bool], seconds: float = 5.0) -> None:
    """Wait until ``predicate()`` holds (polled: it reads state no event announces)."""
    with trio.fail_after(seconds):
        while not predicate():  # noqa: ASYNC110
            await trio.sleep(0.01)
