"""Bench-only upstream: ``mux serve``'s demo app that also counts accepted connections.

``bench/gateway.py`` needs "upstream connections opened" for every gateway in
the same way, whatever the gateway reports about itself, so the upstream
counts what it accepts: its listener is wrapped and every ``accept`` bumps a
counter, read with ``GET /_accepts`` (that request's own connection is counted
too: a reader subtracts one per query). Everything else is the demo app
(``/echo``...), over mux, HTTP/2 and HTTP/1.1 on one port, as ``mux serve``.

Usage: ``python bench/peers/counting_upstream.py PORT [--no-park]`` (cwd = repo
root); it prints ``serving on 127.0.0.1:PORT`` once listening and stops on
SIGTERM. ``--no-park`` keeps idle connections in their tasks (``park_delay=None``).
"""

from __future__ import annotations

import signal
import sys

import attrs
import trio

from mux.allocator import tune_allocator
from mux.config import ServerConfig
from mux.server.app import Request, Response
from mux.server.demo import app as demo_app
from mux.server.server import Server


class CountingListener(trio.abc.Listener[trio.abc.Stream]):
    """A socket listener that counts the connections it accepted."""

    def __init__(self, inner: trio.SocketListener) -> None:
        self.inner = inner
        self.accepted = 0

    async def accept(self) -> trio.abc.Stream:
        stream = await self.inner.accept()
        self.accepted += 1
        return stream

    async def aclose(self) -> None:
        await self.inner.aclose()


async def main(port: int, park: bool) -> None:
    listeners = await trio.open_tcp_listeners(port, host="127.0.0.1")
    counting = [CountingListener(listener) for listener in listeners]  # type: ignore[arg-type]

    async def app(request: Request) -> Response | None:
        if request.path == "/_accepts":
            return Response.text(200, str(sum(c.accepted for c in counting)))
        return await demo_app(request)

    config = ServerConfig(host="127.0.0.1", port=port, drain_timeout=1.0)
    if not park:
        config = attrs.evolve(config, park_delay=None)
    server = Server(app, config)
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve, counting)
        print(f"serving on 127.0.0.1:{port}", flush=True)
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for _ in signals:
                server.shutdown()
                break


if __name__ == "__main__":
    tune_allocator()
    trio.run(main, int(sys.argv[1]), "--no-park" not in sys.argv[2:])
