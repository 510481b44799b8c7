"""The SDK retries calls above a GOAWAY's last id even when the reset that
followed it made a send fail first (real loopback sockets).

A server (scripted on the sans-IO engine) takes uploads at full speed, then
sends GOAWAY(last_stream_id=0) and closes with the uploads' bytes unread, so
its kernel answers with RST while the client is still writing. The client's
send fails; what arrived before the RST (the GOAWAY) is still readable and
says no call was processed: every call is retried on a new connection and
succeeds. Before the fix, whenever the failed send came before the reader,
the calls failed as "may have been processed". Eight rounds make that race
likely to show (3 runs in 4 failed without the fix).
"""

from __future__ import annotations

import os
import socket
import struct
from functools import partial

import trio

import mux_client
from mux.core import events as ev
from mux.core.connection import MuxConnection
from mux.errors import ErrorCode

BODY = bytes(4 * 1024 * 1024)
#: Upload bytes a resetting connection takes before its GOAWAY and RST.
TAKE = 512 * 1024
ROUNDS = 8


class Server:
    """Connections 0..ROUNDS-1 reset mid-upload after GOAWAY(0); later ones answer."""

    def __init__(self) -> None:
        self.connections = 0
        self.answered = 0

    async def handle(self, sock: trio.SocketStream) -> None:
        index = self.connections
        self.connections += 1
        engine = MuxConnection(client_side=False)
        engine.initiate_connection()
        received = 0
        async with sock:
            try:
                await sock.send_all(engine.data_to_send())
                while data := await sock.receive_some(65536):
                    for event in engine.receive_data(data):
                        if isinstance(event, ev.DataReceived):
                            received += len(event.data)
                            engine.acknowledge_received_data(
                                event.flow_controlled_length, event.stream_id
                            )
                        elif isinstance(event, ev.StreamEnded):
                            engine.send_headers(event.stream_id, [(b":status", b"200")])
                            engine.send_data(event.stream_id, b"done", end_stream=True)
                            self.answered += 1
                    if index < ROUNDS and received >= TAKE:
                        _goaway_then_reset(sock, engine)
                        return
                    if out := engine.data_to_send():
                        await sock.send_all(out)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return


def _goaway_then_reset(sock: trio.SocketStream, engine: MuxConnection) -> None:
    engine.close_connection(ErrorCode.NO_ERROR, last_stream_id=0)
    raw = sock.socket
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    data = engine.data_to_send()
    os.write(raw.fileno(), data)
    raw.close()


async def test_uploads_cut_by_goaway_and_reset_are_retried(nursery: trio.Nursery) -> None:
    server = Server()
    listeners = await nursery.start(partial(trio.serve_tcp, server.handle, 0, host="127.0.0.1"))
    port = listeners[0].socket.getsockname()[1]
    results: list[bytes] = []
    async with mux_client.connect(f"127.0.0.1:{port}", max_attempts=ROUNDS + 1) as client:

        async def upload() -> None:
            resp = await client.request("POST", "/up", body=BODY, timeout=20)
            results.append(resp.body)

        with trio.fail_after(30):
            async with trio.open_nursery() as calls:
                for _ in range(2):
                    calls.start_soon(upload)
    assert results == [b"done", b"done"]
    assert server.connections == ROUNDS + 1 and server.answered == 2
    nursery.cancel_scope.cancel()
