"""Shared fixtures: a ``harness`` that starts mux servers and minimal driver clients.

The client here is written directly on :class:`mux.driver.ConnectionDriver`
(client mode) so driver and server tests do not depend on the client SDK.
Everything runs in the test's ``nursery`` and is cancelled when the test ends.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

import pytest
import trio

from mux.config import ConnectionTimeouts, ServerConfig
from mux.core.connection import MuxConnection
from mux.core.events import Headers
from mux.core.limits import ProtocolLimits
from mux.driver import ConnectionDriver, Stream
from mux.server.app import Request, Response
from mux.server.server import Server

Handler = Callable[[Request], Awaitable[Response | None]]


class Harness:
    """Start servers and clients inside one nursery."""

    def __init__(self, nursery: trio.Nursery) -> None:
        self.nursery = nursery

    async def server(self, handler: Handler, config: ServerConfig | None = None) -> Server:
        """A server on 127.0.0.1 with a free port."""
        config = config if config is not None else ServerConfig(host="127.0.0.1", port=0)
        server: Server = await self.nursery.start(Server(handler, config).serve)
        return server

    async def client(
        self,
        port: int,
        *,
        timeouts: ConnectionTimeouts | None = None,
        limits: ProtocolLimits | None = None,
    ) -> ConnectionDriver:
        """A client ConnectionDriver over a real loopback TCP connection."""
        transport = await trio.open_tcp_stream("127.0.0.1", port)
        return await self.drive(transport, client_side=True, timeouts=timeouts, limits=limits)

    async def drive(
        self,
        transport: trio.abc.Stream,
        *,
        client_side: bool,
        timeouts: ConnectionTimeouts | None = None,
        limits: ProtocolLimits | None = None,
        on_stream: Callable[[Stream], Awaitable[None]] | None = None,
    ) -> ConnectionDriver:
        """Run a driver over ``transport`` in the harness nursery."""
        engine = MuxConnection(client_side=client_side, limits=limits)
        driver = ConnectionDriver(transport, engine, timeouts=timeouts, on_stream=on_stream)
        await self.nursery.start(driver.run)
        return driver

    @staticmethod
    async def request(
        driver: ConnectionDriver,
        path: str,
        body: bytes = b"",
        *,
        method: str = "POST",
        headers: Headers | None = None,
    ) -> tuple[int, Headers, bytes]:
        """One unary exchange: returns (status, headers without :status, body).

        The body is sent while the response is read, as a client must: an
        echo larger than the two stream windows together would otherwise
        deadlock on flow control, the handler blocked writing to a client
        that is still writing.
        """
        request_headers = [(b":method", method.encode()), (b":path", path.encode())]
        request_headers += headers or []
        stream = await driver.open_stream(request_headers, end_stream=not body)
        try:
            async with trio.open_nursery() as nursery:
                if body:
                    nursery.start_soon(partial(stream.send_data, body, end_stream=True))
                response = await stream.receive_headers()
                data = b"".join([chunk async for chunk in stream])
        except BaseExceptionGroup as group:  # the one error, as a sequential client sees it
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from None
            raise
        status = int(dict(response)[b":status"])
        return status, [(n, v) for n, v in response if not n.startswith(b":")], data


async def tcp_pair() -> tuple[trio.SocketStream, trio.SocketStream]:
    """A connected pair of real loopback TCP socket streams: (client, server)."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    client = await trio.open_tcp_stream("127.0.0.1", port)
    server = await listeners[0].accept()
    await listeners[0].aclose()
    assert isinstance(server, trio.SocketStream)
    return client, server


@pytest.fixture
def harness(nursery: trio.Nursery) -> Harness:
    return Harness(nursery)
