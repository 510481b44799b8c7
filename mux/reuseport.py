"""Listening sockets that several processes share through ``SO_REUSEPORT``.

Theory of operation
-------------------
On Linux, TCP sockets that all set ``SO_REUSEPORT`` before ``bind`` (and
belong to the same user) may listen on one address and port; the kernel
hashes each incoming connection's address pair to one listener of that group.
That is how the workers of :mod:`mux.workers` share a port:
:func:`open_reuseport_listeners` opens each worker's listeners (called by
:class:`mux.server.server.Server` when ``ServerConfig.reuse_port`` is set),
and :func:`reserve_port` lets the supervisor check the port is free, choose it
when it is 0, and hold it for the workers with a socket that never listens
(only listening sockets receive connections). Elsewhere ``SO_REUSEPORT``
either does not exist or does not balance (:func:`reuseport_balances`).
"""

from __future__ import annotations

import socket
import sys

import trio

#: listen() backlog of the shared sockets (the kernel caps it at net.core.somaxconn).
LISTEN_BACKLOG = 0xFFFF


def reuseport_balances() -> bool:
    """True where SO_REUSEPORT spreads connections over the sockets sharing a port (Linux)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


async def open_reuseport_listeners(host: str, port: int) -> list[trio.SocketListener]:
    """Listening sockets on every address of ``host``, with SO_REUSEPORT set before bind.

    Like :func:`trio.open_tcp_listeners` (SO_REUSEADDR, IPv6 sockets IPv6-only),
    plus SO_REUSEPORT so that several processes can listen on the same port.
    """
    infos = await trio.socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    listeners: list[trio.SocketListener] = []
    try:
        for family, kind, proto, _, address in infos:
            sock = trio.socket.socket(family, kind, proto)
            try:
                _share(sock, family)
                await sock.bind(address)
                sock.listen(LISTEN_BACKLOG)
            except BaseException:
                sock.close()
                raise
            listeners.append(trio.SocketListener(sock))
    except BaseException:
        for listener in listeners:
            await trio.aclose_forcefully(listener)
        raise
    return listeners


def _share(sock: socket.socket | trio.socket.SocketType, family: int) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)


def reserve_port(host: str, port: int) -> tuple[socket.socket, int]:
    """Check that ``host:port`` is free and hold it for the workers.

    A plain bind first (SO_REUSEADDR only) fails with EADDRINUSE when anything
    listens there, a group of SO_REUSEPORT listeners included, and chooses the
    port when ``port`` is 0. The socket returned is bound to that port with
    SO_REUSEPORT and never listens: it keeps the port for the supervisor's
    lifetime without taking connections.

    Raises:
        OSError: the address cannot be resolved or bound.
    """
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        probe.bind(address)
        chosen: int = probe.getsockname()[1]
    hold = socket.socket(family, kind, proto)
    try:
        _share(hold, family)
        hold.bind((address[0], chosen, *address[2:]))
    except BaseException:
        hold.close()
        raise
    return hold, chosen
