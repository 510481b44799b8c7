"""A GOAWAY that arrived just before the peer's reset still classifies the streams.

A server that closes with unread bytes in its receive buffer makes its kernel
answer with RST. Linux keeps what arrived before the RST readable, so the
peer's final GOAWAY is still there when our next send fails with ECONNRESET.
The driver feeds it to the engine before it fails the streams: those above
the GOAWAY's ``last_stream_id`` are "not processed, safe to retry", not "may
have been processed". Over real loopback sockets, with a real client driver
and a server scripted on the sans-IO engine.
"""

from __future__ import annotations

import os
import socket
import struct

import pytest
import trio
from conftest import tcp_pair

import mux.driver.writer as writer
from mux.core import events as ev
from mux.core.connection import MuxConnection
from mux.driver import ConnectionDriver
from mux.driver.stream import INLINE_SEND
from mux.errors import ConnectionClosed, ErrorCode

REQUEST = [(b":method", b"POST"), (b":path", b"/up")]


async def _serve_until_requests(
    sock: trio.SocketStream, engine: MuxConnection, count: int
) -> list[int]:
    """Read until ``count`` requests arrived; their stream ids."""
    ids: list[int] = []
    with trio.fail_after(5):
        while len(ids) < count:
            for event in engine.receive_data(await sock.receive_some(65536)):
                if isinstance(event, ev.RequestReceived):
                    ids.append(event.stream_id)
            if out := engine.data_to_send():
                await sock.send_all(out)
    return ids


def _goaway_then_reset(sock: trio.SocketStream, engine: MuxConnection, last: int) -> None:
    """Send GOAWAY(last) and close at once with RST (no await: the client sleeps)."""
    engine.close_connection(ErrorCode.NO_ERROR, last_stream_id=last)
    raw = sock.socket
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    data = engine.data_to_send()
    assert os.write(raw.fileno(), data) == len(data)
    raw.close()


@pytest.mark.parametrize("drain", [True, False], ids=["drained", "fix-off"])
async def test_streams_above_goaway_last_id_are_not_processed(
    nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch, drain: bool
) -> None:
    if not drain:
        monkeypatch.setattr(writer, "DRAIN_BYTES", 0)
    client_sock, server_sock = await tcp_pair()
    driver = ConnectionDriver(client_sock, MuxConnection(client_side=True))
    nursery.start_soon(driver.run)
    server = MuxConnection(client_side=False)
    server.initiate_connection()
    await server_sock.send_all(server.data_to_send())
    streams = [await driver.open_stream(REQUEST) for _ in range(3)]
    ids = await _serve_until_requests(server_sock, server, 3)
    assert ids == [s.stream_id for s in streams] == [1, 3, 5]

    _goaway_then_reset(server_sock, server, last=1)
    # The send fails in this task (a bulk write is flushed inline) before the
    # reader ever woke up for the GOAWAY.
    await streams[1].send_data(b"x" * INLINE_SEND)
    assert driver.is_closed

    errors = []
    for stream in streams:
        with pytest.raises(ConnectionClosed) as info:
            await stream.receive_data()
        errors.append(info.value)
    if not drain:  # without the fix the GOAWAY is never read: all "may have been"
        assert all("may have been processed" in str(e) for e in errors)
        assert all(e.last_stream_id is None for e in errors)
        return
    assert "may have been processed" in str(errors[0])
    for error in errors[1:]:
        assert "was not processed by the peer (safe to retry)" in str(error), error
        assert error.last_stream_id == 1
    assert "Error(" not in str(errors[0])  # no Python repr in the reason
