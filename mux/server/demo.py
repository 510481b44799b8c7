"""Demo services in the style of httpbin, written on the protocol-agnostic handler API.

Theory of operation
-------------------
``app`` is a :class:`~mux.server.app.Router` with:

* ``/echo``: streams the request body back as it arrives; the request's
  end-to-end headers come back as response headers;
* ``/bytes/{n}``: ``n`` bytes (0..1 GiB) streamed in 1 MiB writes, so large
  responses exercise flow control;
* ``/stream/{n}``: ``n`` (0..100000) separate chunks, one JSON line each;
* ``/delay/{ms}``: answers after ``ms`` (0..60000) milliseconds;
* ``/sink``: reads the whole body (streaming, no buffering) and returns its
  byte count and SHA-256 as JSON;
* ``/``: this list, as plain text; ``/healthz``: 200 ``ok`` (for probes);
* anything else: 404. Bad parameters: 400 with a message naming the problem.

Nothing here knows the framing: the same handlers answer over mux/msgpack,
HTTP/2 or HTTP/1.1.
"""

from __future__ import annotations

import hashlib
import json
from typing import Final

import trio

from mux.server.app import HTTPError, Request, Response, Router

#: Largest /bytes/{n} response (bytes).
MAX_BYTES: Final = 1 << 30
#: Largest /stream/{n} chunk count.
MAX_STREAM_CHUNKS: Final = 100_000
#: Largest /delay/{ms} (milliseconds).
MAX_DELAY_MS: Final = 60_000
#: Write size of /bytes/{n} (bytes): large writes amortise the per-write
#: scheduling cost; the driver splits them into frames and waits for window.
CHUNK_SIZE: Final = 1 << 20
_BLOCK: Final = bytes(range(256)) * (CHUNK_SIZE // 256)
#: Request headers never echoed back (hop-by-hop or framing-specific).
_NOT_ECHOED: Final = frozenset(
    {
        b"content-length",
        b"transfer-encoding",
        b"connection",
        b"keep-alive",
        b"te",
        b"upgrade",
        b"host",
        b"mux-timeout",
        b"http2-settings",
        b"proxy-connection",
    }
)

app = Router()

#: What ``/`` lists: path and what it does, in route order.
SERVICES: Final = (
    ("/echo", "the request body back, streamed; request headers come back as headers"),
    ("/bytes/{n}", f"n bytes (0..{MAX_BYTES}) of a repeating 0..255 pattern"),
    ("/stream/{n}", f'n (0..{MAX_STREAM_CHUNKS}) chunks, one JSON line {{"id": i}} each'),
    ("/delay/{ms}", f"answers after ms (0..{MAX_DELAY_MS}) milliseconds"),
    ("/sink", "reads the body; answers its byte count and sha256 as JSON"),
    ("/healthz", "200 ok"),
)
_INDEX: Final = (
    "mux demo services (the same over mux/msgpack, HTTP/2 and HTTP/1.1):\n"
    + "".join(f"  {path:<13} {text}\n" for path, text in SERVICES)
).encode()


@app.route("/")
async def index(request: Request) -> Response:
    """The list of services, as plain text."""
    return Response(200, [(b"content-type", b"text/plain; charset=utf-8")], _INDEX)


@app.route("/healthz")
async def healthz(request: Request) -> Response:
    """200 ``ok``: the server is up and serving."""
    return Response(200, [(b"content-type", b"text/plain; charset=utf-8")], b"ok\n")


def _int_param(request: Request, name: str, maximum: int) -> int:
    raw = request.path_params[name]
    # ASCII only ("\u00b2".isdigit() is true), and not more digits than int() converts.
    digits = raw.lstrip("0") or "0"
    valid = raw.isascii() and raw.isdigit() and len(digits) <= len(str(maximum))
    if not valid or int(digits) > maximum:
        raise HTTPError(400, f"{name} must be an integer in 0..{maximum}, got {raw[:20]!r}")
    return int(digits)


def _json(body: object, status: int = 200) -> Response:
    return Response(
        status, [(b"content-type", b"application/json")], json.dumps(body).encode() + b"\n"
    )


@app.route("/echo")
async def echo(request: Request) -> None:
    """Stream the body back; end-to-end request headers become response headers."""
    headers = [(n, v) for n, v in request.headers if n not in _NOT_ECHOED]
    response = await request.respond(200, headers)
    async for chunk in request:
        await response.write(chunk)
    trailers = request.trailers
    if trailers:
        await response.send_trailers(trailers)
    else:
        await response.end()


@app.route("/bytes/{n}")
async def bytes_(request: Request) -> None:
    """``n`` bytes of a repeating 0..255 pattern, in 1 MiB writes."""
    n = _int_param(request, "n", MAX_BYTES)
    headers = [
        (b"content-type", b"application/octet-stream"),
        (b"content-length", str(n).encode()),
    ]
    response = await request.respond(200, headers)
    remaining = n
    while remaining:
        size = min(remaining, CHUNK_SIZE)
        await response.write(_BLOCK if size == CHUNK_SIZE else _BLOCK[:size])
        remaining -= size
    await response.end()


@app.route("/stream/{n}")
async def stream(request: Request) -> None:
    """``n`` chunks, each one JSON line ``{"id": i}``."""
    n = _int_param(request, "n", MAX_STREAM_CHUNKS)
    response = await request.respond(200, [(b"content-type", b"application/x-ndjson")])
    for i in range(n):
        await response.write(b'{"id": %d}\n' % i)
    await response.end()


@app.route("/delay/{ms}")
async def delay(request: Request) -> Response:
    """Answer after ``ms`` milliseconds."""
    ms = _int_param(request, "ms", MAX_DELAY_MS)
    await trio.sleep(ms / 1000)
    return _json({"delay_ms": ms})


@app.route("/sink")
async def sink(request: Request) -> Response:
    """Consume the body; return its size and SHA-256."""
    digest = hashlib.sha256()
    size = 0
    async for chunk in request:
        digest.update(chunk)
        size += len(chunk)
    return _json({"bytes": size, "sha256": digest.hexdigest()})
