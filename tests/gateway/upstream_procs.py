"""Real upstream processes for the cluster tests: ``mux serve`` and hypercorn on loopback.

Each :class:`Upstream` is one ``python -m mux serve --listen 127.0.0.1:PORT``
process (demo app: ``/echo``, ``/delay/MS``, ...). Port 0 picks a free port the
first time; :meth:`Upstream.restart` starts it again on the same port (failover
and return). :func:`hypercorn` runs hypercorn (trio worker) with
:func:`peer_app`, which names the client port of every request's connection, so
tests count the connections the *server* saw. Every process is stopped by the
test that started it (the context managers kill what is left on exit).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio

from tests.asgi_echo import lifespan, read_body
from tests.subprocs import start_mux_serve

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
        flags = ["--log-level", "WARNING", "--no-tune-allocator", *self.extra]
        self.proc, self.port = await start_mux_serve(*flags, port=self.port)

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


HYPERCORN = Path(sys.executable).parent / "hypercorn"

Message = dict[str, Any]


async def peer_app(
    scope: dict[str, Any],
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    """ASGI: echo the body; ``x-client-port`` names the connection it came on."""
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    body = await read_body(receive)
    status = 200 if scope["path"] in ("/echo", "/healthz") else 404
    port = str(scope["client"][1]).encode() if scope.get("client") else b"0"
    headers = [(b"x-client-port", port), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@asynccontextmanager
async def hypercorn(*extra: str) -> AsyncIterator[int]:
    """hypercorn serving :func:`peer_app` on a loopback port (yielded); stopped on exit."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = int(sock.getsockname()[1])
    argv = [str(HYPERCORN), "--worker-class", "trio", "--bind", f"fd://{sock.fileno()}"]
    proc = subprocess.Popen(  # noqa: ASYNC220 (returns at once)
        [*argv, *extra, "tests.gateway.upstream_procs:peer_app"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        pass_fds=[sock.fileno()],
        start_new_session=True,
    )
    sock.close()  # the child holds the listening socket; connections queue meanwhile
    try:
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


async def eventually(predicate: Callable[[], bool]) -> None:
    """Wait until ``predicate()`` holds (state kept by background tasks), at most 10 s."""
    with trio.fail_after(10):
        while not predicate():  # noqa: ASYNC110 (no event to wait on: polled state)
            await trio.sleep(0.02)


class CountingListener(trio.abc.Listener[trio.abc.Stream]):
    """Counts the connections a server accepts."""

    def __init__(self, inner: trio.SocketListener) -> None:
        self.inner = inner
        self.accepted = 0

    async def accept(self) -> trio.abc.Stream:
        stream = await self.inner.accept()
        self.accepted += 1
        return stream

    async def aclose(self) -> None:
        await self.inner.aclose()
