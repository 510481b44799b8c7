"""Bench-only mux app: the upload target does what the raw baseline does.

``/discard`` reads the request body chunk by chunk, counts the bytes and answers
the count (no hashing, unlike the demo's ``/sink``), so bench/bulk.py compares
like with like. ``/bytes/{n}`` is the demo's handler, unchanged.

Served by ``mux serve --app bench.peers.mux_discard:app`` (cwd = repo root).
"""

from __future__ import annotations

from mux.server import demo
from mux.server.app import Request, Response, Router

app = Router()
app.add("/bytes/{n}", demo.bytes_)


@app.route("/discard")
async def discard(request: Request) -> Response:
    """Read and drop the body; answer its byte count."""
    size = 0
    async for chunk in request:
        size += len(chunk)
    return Response(200, [(b"content-type", b"text/plain")], str(size).encode())


#: The raw baseline's write: the same 256 KiB of zeros, written over and over.
ZEROS = b"\0" * (256 * 1024)


@app.route("/zeros/{n}")
async def zeros(request: Request) -> None:
    """``n`` zero bytes in 256 KiB writes of one buffer, as bench/raw_server.py sends."""
    n = int(request.path_params["n"])
    response = await request.respond(200, [(b"content-length", str(n).encode())])
    while n > 0:
        size = min(n, len(ZEROS))
        await response.write(ZEROS if size == len(ZEROS) else ZEROS[:size])
        n -= size
    await response.end()
