"""A small mux service: ``.venv/bin/mux serve --app examples.hello:app``.

The same handlers answer over mux/msgpack, HTTP/2 and HTTP/1.1 on one port.
"""

from __future__ import annotations

from mux.server import Request, Response, Router

app = Router()


@app.route("/hello/{name}")
async def hello(request: Request) -> Response:
    """Unary: one response object."""
    return Response.text(200, f"hello, {request.path_params['name']}\n")


@app.route("/upper", methods=["POST"])
async def upper(request: Request) -> None:
    """Streaming: read the body chunk by chunk and answer as it arrives."""
    response = await request.respond(200, {"content-type": "application/octet-stream"})
    async for chunk in request:
        await response.write(chunk.upper())
    await response.send_trailers({"x-done": "yes"})
