"""A tiny ASGI app for hypercorn: reads the request body, answers 200 with 4 KiB."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

#: Response body: large enough that flow-control cases see several DATA frames.
BODY = b"x" * 4096

Scope = dict[str, Any]
Message = dict[str, Any]


async def app(
    scope: Scope,
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    """Answer every HTTP request with 200 and :data:`BODY` once its body is read."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            break
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": BODY})
