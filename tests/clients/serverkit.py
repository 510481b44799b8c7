"""A real mux server on a loopback port, with instrumented handlers (test helpers)."""

from __future__ import annotations

import attrs
import trio

from mux.config import ServerConfig
from mux.core.limits import ProtocolLimits
from mux.server import Request, Response, Router, Server, serve


@attrs.define
class Observed:
    """What the server saw (for assertions)."""

    active: int = 0
    max_active: int = 0
    started: int = 0
    completed: int = 0
    #: Paths whose handler was cancelled (stream reset by the client).
    cancelled: list[str] = attrs.field(factory=list)
    timeout_headers: list[bytes] = attrs.field(factory=list)
    finished: trio.Event = attrs.field(factory=trio.Event)


def build_app(seen: Observed) -> Router:
    """Routes used by the client tests (echo, stream, delay, sink)."""
    app = Router()

    @app.route("/echo")
    async def echo(request: Request) -> Response:
        return Response(200, [(b"x-echo", b"1")], await request.body(), trailers=[(b"x-t", b"ok")])

    @app.route("/bidi")
    async def bidi(request: Request) -> None:
        writer = await request.respond(200)
        async for chunk in request:
            await writer.write(chunk.upper())
        await writer.send_trailers([(b"x-done", b"yes")])

    @app.route("/stream/{n}")
    async def stream(request: Request) -> None:
        writer = await request.respond(200)
        for i in range(int(request.path_params["n"])):
            await writer.write(b"chunk-%d;" % i)
        await writer.end()

    @app.route("/delay/{ms}")
    async def delay(request: Request) -> Response:
        seen.active += 1
        seen.started += 1
        seen.max_active = max(seen.max_active, seen.active)
        seen.timeout_headers.append((request.header("mux-timeout") or "").encode())
        try:
            await trio.sleep(int(request.path_params["ms"]) / 1000)
            seen.completed += 1
        except trio.Cancelled:
            seen.cancelled.append(request.path)
            seen.finished.set()
            raise
        finally:
            seen.active -= 1
        return Response(200, [], b"slept")

    @app.route("/sink")
    async def sink(request: Request) -> Response:
        total = 0
        async for chunk in request:
            total += len(chunk)
        return Response(200, [], str(total).encode())

    @app.route("/status/{code}")
    async def status(request: Request) -> Response:
        return Response.text(int(request.path_params["code"]), "as requested")

    return app


async def start_server(
    nursery: trio.Nursery, seen: Observed, *, port: int = 0, max_streams: int = 100
) -> Server:
    """Start the real server on 127.0.0.1:``port`` and return it."""
    config = ServerConfig(
        host="127.0.0.1",
        port=port,
        drain_timeout=2.0,
        limits=ProtocolLimits(max_concurrent_streams=max_streams),
    )
    server: Server = await nursery.start(serve, build_app(seen), config)
    return server
