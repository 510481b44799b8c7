"""The tiny ASGI apps the tests run under hypercorn's trio worker (one module for all tests).

``app`` (tests/clients, HTTP/2 interop): ``/echo`` (body back, ``x-echo: 1``),
``/stream`` (three chunks), ``/slow`` (answers after 10 s: for deadlines),
anything else 404. ``bulk_app`` (tests/conformance): reads the request body and
answers every request with 200 and :data:`BODY`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import trio

#: ``bulk_app``'s response body: large enough that flow-control cases see several DATA frames.
BODY = b"x" * 4096

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


async def lifespan(receive: Receive, send: Send) -> None:
    """Acknowledge lifespan startup and shutdown; returns after shutdown."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def read_body(receive: Receive) -> bytes:
    """The whole request body."""
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return body


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Echo, stream and slow routes (see the module docstring)."""
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
    body = await read_body(receive)
    path = scope["path"]
    status = 200 if path in ("/echo", "/stream", "/slow") else 404
    headers = [(b"x-echo", b"1"), (b"x-scheme", scope["scheme"].encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    if path == "/stream":
        for i in range(3):
            await send({"type": "http.response.body", "body": b"part%d;" % i, "more_body": True})
    elif path == "/slow":
        await trio.sleep(10)
    await send({"type": "http.response.body", "body": body if path == "/echo" else b""})


async def bulk_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer every HTTP request with 200 and :data:`BODY` once its body is read."""
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
    if scope["type"] != "http":
        return
    await read_body(receive)
    headers = [(b"content-type", b"text/plain")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": BODY})
