"""Helpers of the stream-table tests: an admin listener with the stream routes, a
plain HTTP/1.1 GET, a raw HTTP/2 client whose windows the test controls.

(A module, not a conftest.py, like tests/gateway/gwkit.py.)
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.settings
import trio

from mux.admin.registry import Upstreams
from mux.admin.streams import add_routes
from mux.config import ServerConfig
from mux.server.app import Request, Response, Router
from mux.server.server import Server

BIG = 300_000


def app() -> Router:
    """``/big`` (a 300 kB answer), ``/never`` (never answers nor reads), ``/read`` (echo)."""
    router = Router()

    @router.route("/big")
    async def big(request: Request) -> Response:
        return Response(200, [], b"x" * BIG)

    @router.route("/never")
    async def never(request: Request) -> Response:
        await trio.sleep_forever()
        raise AssertionError

    @router.route("/read")
    async def read(request: Request) -> Response:
        return Response(200, [], await request.body())

    return router


async def stuck_streams(harness: Any) -> int:
    """A server holding streams in six waits and one parked connection; its admin port.

    ``harness``: the ``tests/conftest.py`` Harness of the test.
    """
    nursery: trio.Nursery = harness.nursery
    server = await harness.server(app(), ServerConfig(host="127.0.0.1", port=0, park_delay=0.05))
    admin = await start_admin(nursery, lambda: [server])
    zero = await RawH2Client.open(nursery, server.port, initial_window=0)
    await zero.get("/big")
    wide = await RawH2Client.open(nursery, server.port, initial_window=1 << 20)
    await wide.get("/big")
    client = await harness.client(server.port)
    await client.open_stream([(b":method", b"GET"), (b":path", b"/never")], True)
    await client.open_stream([(b":method", b"POST"), (b":path", b"/read")])
    unread = await client.open_stream([(b":method", b"POST"), (b":path", b"/never")])
    nursery.start_soon(functools.partial(unread.send_data, b"y" * 4_000_000, end_stream=True))
    await harness.client(server.port)  # idle: parks
    for reason in REASONS:
        await wait_for_rows(admin.port, reason)
    with trio.fail_after(10):
        while True:
            if (await get_json(admin.port, "/streams"))["parked"] >= 1:
                break
            await trio.sleep(0.05)
    return admin.port


#: The stream reasons :func:`stuck_streams` produces.
REASONS = [
    "peer stream window",
    "connection window",
    "handler",
    "peer",
    "downstream reader",
]


async def start_admin(
    nursery: trio.Nursery,
    servers: Callable[[], Sequence[Server]],
    upstreams: Upstreams | None = None,
) -> Server:
    """An admin listener (its own Server on a free loopback port) with the stream routes."""
    router = Router()
    add_routes(router, servers, upstreams)
    config = ServerConfig(host="127.0.0.1", port=0, drain_timeout=1.0)
    admin: Server = await nursery.start(Server(router, config).serve)
    return admin


async def http_get(port: int, path: str) -> tuple[int, bytes]:
    """``GET path`` over HTTP/1.1 (``connection: close``): (status, body)."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        request = f"GET {path} HTTP/1.1\r\nhost: admin\r\nconnection: close\r\n\r\n"
        await stream.send_all(request.encode())
        data = b""
        while chunk := await stream.receive_some(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in head.lower():
        body = _dechunk(body)
    return status, body


def _dechunk(body: bytes) -> bytes:
    out = b""
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return out


async def get_json(port: int, path: str) -> Any:
    status, body = await http_get(port, path)
    assert status == 200, body
    return json.loads(body)


async def wait_for_rows(
    port: int, reason: str, count: int = 1, *, path: str = "/streams"
) -> list[dict[str, Any]]:
    """Poll ``/streams`` until ``count`` rows wait for ``reason`` (10 s at most)."""
    with trio.fail_after(10):
        while True:
            body = await get_json(port, path)
            rows = [r for r in body["streams"] if r["reason"] == reason]
            if len(rows) >= count:
                return rows
            await trio.sleep(0.05)


class RawH2Client:
    """An HTTP/2 client on h2 that reads everything and returns no credit."""

    def __init__(self, stream: trio.SocketStream, conn: h2.connection.H2Connection) -> None:
        self.stream = stream
        self.conn = conn
        self.received = 0
        self.headers_seen = trio.Event()

    @classmethod
    async def open(cls, nursery: trio.Nursery, port: int, *, initial_window: int) -> RawH2Client:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: initial_window})
        await stream.send_all(conn.data_to_send())
        client = cls(stream, conn)
        nursery.start_soon(client._read)
        return client

    async def get(self, path: str) -> int:
        stream_id: int = self.conn.get_next_available_stream_id()
        headers = [(":method", "GET"), (":path", path), (":scheme", "http"), (":authority", "t")]
        self.conn.send_headers(stream_id, headers, end_stream=True)
        await self.stream.send_all(self.conn.data_to_send())
        return stream_id

    async def _read(self) -> None:
        while data := await self.stream.receive_some(65536):
            for event in self.conn.receive_data(data):
                if isinstance(event, h2.events.DataReceived):
                    self.received += len(event.data)  # no acknowledge: no credit back
                elif isinstance(event, h2.events.ResponseReceived):
                    self.headers_seen.set()
            pending = self.conn.data_to_send()
            if pending:
                await self.stream.send_all(pending)
