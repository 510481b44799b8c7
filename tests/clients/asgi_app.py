"""A tiny ASGI app for the HTTP/2 interop tests (run by hypercorn's trio worker).

Routes: ``/echo`` (body back, ``x-echo: 1``), ``/stream`` (three chunks),
``/slow`` (answers after 10 s: for deadlines), anything else 404.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import trio

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


async def _body(receive: Receive) -> bytes:
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return body


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = await _body(receive)
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
