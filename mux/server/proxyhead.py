"""Reading a PROXY protocol header off a new connection (the listener side).

Theory of operation
-------------------
The parsing is :func:`mux.core.proxyproto.parse`; this module only feeds it
bytes from the transport. Two ways:

* **greedy** (cleartext): read chunks until the header is complete; whatever
  came after it is returned and becomes the start of protocol sniffing, so the
  header costs no extra read.
* **exact** (TLS follows, and the transport is a socket): the TLS layer must
  see the first byte after the header, and bytes cannot be pushed back into a
  :class:`trio.SSLStream`. So the socket is read with ``MSG_PEEK``, the header
  parsed from what is buffered, and only the bytes the header used are then
  consumed. An incomplete header is consumed as far as it goes (those bytes are
  header bytes whatever comes next) and the next peek waits for more.

Both are bounded: the header's own limits (107 bytes for v1, the v2 length
bound) and the caller's timeout. :func:`peer_address` gives the socket peer,
the client address when no header (or a LOCAL/UNKNOWN one) names another.
"""

from __future__ import annotations

import socket

import trio

from mux.core.proxyproto import (
    V2_HEADER_LENGTH,
    V2_MAX_LENGTH,
    ProxyHeader,
    ProxyProtocolError,
    parse,
)

#: Most bytes a header can take (the v2 fixed part + its length bound).
MAX_HEADER_BYTES = V2_HEADER_LENGTH + V2_MAX_LENGTH
#: Chunk size of a greedy read.
_READ_SIZE = 65536


class ProxyHeaderMissing(Exception):
    """No valid PROXY header arrived (the message says why: EOF, error, bad bytes)."""


def peer_address(transport: trio.abc.Stream) -> tuple[str, int] | None:
    """The remote ``(host, port)`` of a TCP transport (through TLS), else ``None``."""
    while isinstance(transport, trio.SSLStream):
        transport = transport.transport_stream
    if not isinstance(transport, trio.SocketStream):
        return None
    try:
        name = transport.socket.getpeername()
    except OSError:
        return None
    if isinstance(name, tuple) and len(name) >= 2:
        return str(name[0]), int(name[1])
    return None


async def read_proxy_header(
    transport: trio.abc.Stream, *, exact: bool
) -> tuple[ProxyHeader, bytes]:
    """Read the PROXY header at the start of ``transport``.

    Args:
        transport: the accepted connection (before TLS).
        exact: read no byte past the header (TLS follows). Needs a socket
            transport; others are read greedily and any byte past the header
            is then an error.

    Returns:
        The header and the bytes received after it (always empty when exact).

    Raises:
        ProxyHeaderMissing: EOF, a transport error or an invalid header.
    """
    if exact and isinstance(transport, trio.SocketStream):
        return await _read_exact(transport.socket), b""
    header, rest = await _read_greedy(transport)
    if exact and rest:
        raise ProxyHeaderMissing("data after the PROXY header on a TLS listener")
    return header, rest


async def _read_greedy(transport: trio.abc.Stream) -> tuple[ProxyHeader, bytes]:
    data = b""
    while True:
        try:
            chunk = await transport.receive_some(_READ_SIZE)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise ProxyHeaderMissing(f"transport error before the PROXY header: {exc}") from None
        if not chunk:
            raise ProxyHeaderMissing(_eof_message(data))
        data += chunk
        result = _parse(data)
        if result is not None:
            header, used = result
            return header, data[used:]


async def _read_exact(sock: trio.socket.SocketType) -> ProxyHeader:
    taken = b""
    try:
        while True:
            peeked = await sock.recv(MAX_HEADER_BYTES - len(taken), socket.MSG_PEEK)
            if not peeked:
                raise ProxyHeaderMissing(_eof_message(taken))
            result = _parse(taken + peeked)
            if result is not None:
                header, used = result
                await _consume(sock, used - len(taken))
                return header
            await _consume(sock, len(peeked))
            taken += peeked
    except OSError as exc:
        raise ProxyHeaderMissing(f"socket error before the PROXY header: {exc}") from None


async def _consume(sock: trio.socket.SocketType, count: int) -> None:
    """Drop ``count`` bytes already peeked (they are in the socket buffer)."""
    while count > 0:
        got = await sock.recv(count)
        if not got:
            raise ProxyHeaderMissing("connection closed inside the PROXY header")
        count -= len(got)


def _parse(data: bytes) -> tuple[ProxyHeader, int] | None:
    try:
        return parse(data, max_length=V2_MAX_LENGTH)
    except ProxyProtocolError as exc:
        raise ProxyHeaderMissing(str(exc)) from None


def _eof_message(data: bytes) -> str:
    if not data:
        return "connection closed before a PROXY header"
    return f"connection closed inside the PROXY header after {len(data)} bytes"
