"""The accept loop takes every connection already queued in the backlog at once
(mux.server.server._accept_ready), over real loopback sockets."""

from __future__ import annotations

import select
import socket

import trio

from mux.server.server import _accept_ready, _listening_twin


async def _queued_clients(port: int, count: int) -> list[socket.socket]:
    """``count`` connected clients waiting in the listener's backlog (not accepted)."""
    clients = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port))
        clients.append(sock)
    await trio.sleep(0.05)  # the kernel completes the handshakes into the backlog
    return clients


async def test_accept_ready_takes_the_whole_backlog_without_blocking() -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    listener = listeners[0]
    twin = _listening_twin(listener)
    assert twin is not None
    port = listener.socket.getsockname()[1]
    clients = await _queued_clients(port, 5)
    try:
        first = _accept_ready(twin, 3)
        rest = _accept_ready(twin, 10)
        assert (len(first), len(rest)) == (3, 2)
        assert _accept_ready(twin, 10) == []  # empty backlog: returns at once
        accepted = first + rest
        # Each accepted stream is a working trio stream to one of the clients.
        for i, client in enumerate(clients):
            client.sendall(b"%d" % i)
        got = sorted([await stream.receive_some(16) for stream in accepted])
        assert got == [b"%d" % i for i in range(5)]
        await accepted[0].send_all(b"hi")
        readable, _, _ = select.select(clients, [], [], 5.0)
        assert [sock.recv(2) for sock in readable] == [b"hi"]
        for stream in accepted:
            await stream.aclose()
    finally:
        for client in clients:
            client.close()
        twin.close()
        await listener.aclose()
