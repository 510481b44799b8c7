"""Real upstream processes for the cluster tests: ``mux serve`` subprocesses on loopback.

Each :class:`Upstream` is one ``python -m mux serve --listen 127.0.0.1:PORT``
process (demo app: ``/echo``, ``/delay/MS``, ``/status/N``, ...). Port 0 picks a
free port the first time; :meth:`Upstream.restart` starts it again on the same
port (failover and return). Every process is stopped by the test that started it
(:func:`upstreams` kills what is left on exit).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parents[2]


class Upstream:
    """One ``mux serve`` subprocess."""

    def __init__(self, extra: list[str]) -> None:
        self.extra = extra
        self.port = 0
        self.proc: subprocess.Popen[str] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        env = dict(os.environ, PYTHONPATH=f"{ROOT}:{ROOT / 'clients' / 'python'}")
        argv = [sys.executable, "-m", "mux", "serve", "--listen", f"127.0.0.1:{self.port}"]
        argv += ["--log-level", "WARNING", "--no-tune-allocator", *self.extra]
        self.proc = subprocess.Popen(  # noqa: ASYNC220 (returns at once)
            argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=ROOT
        )
        stdout = self.proc.stdout
        assert stdout is not None
        with trio.fail_after(30):
            line = await trio.to_thread.run_sync(stdout.readline)
        assert line.startswith("mux: serving on 127.0.0.1:"), line
        self.port = int(line.rsplit(":", 1)[1])

    def kill(self) -> None:
        """SIGKILL: connections die without GOAWAY."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self._close_pipes()
            self.proc = None

    async def terminate(self) -> int:
        """SIGTERM: the server drains (GOAWAY) and exits; returns its exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        proc = self.proc
        with trio.fail_after(20):
            code = await trio.to_thread.run_sync(proc.wait)
        self._close_pipes()
        self.proc = None
        return code

    async def restart(self) -> None:
        self.kill()
        await self.start()

    def _close_pipes(self) -> None:
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()


@asynccontextmanager
async def upstreams(count: int, *extra: str) -> AsyncIterator[list[Upstream]]:
    """Start ``count`` upstreams in parallel; kill them all on exit."""
    procs = [Upstream(list(extra)) for _ in range(count)]
    try:
        async with trio.open_nursery() as nursery:
            for proc in procs:
                nursery.start_soon(proc.start)
        yield procs
    finally:
        for proc in procs:
            proc.kill()
