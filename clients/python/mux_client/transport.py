"""Opening one connection: TCP, optional TLS with ALPN, and the engine it speaks.

Theory of operation
-------------------
The client speaks three framings over the same code path: mux/msgpack
(:class:`mux.core.connection.MuxConnection`), HTTP/2
(:class:`mux.core.h2engine.H2Engine`) and HTTP/1.1 keep-alive
(:class:`mux.core.h11client.H11ClientEngine`, one exchange at a time, so the
pool treats each connection as one stream slot). Everything above the engine
(driver, pool, calls, deadlines, retries) is shared; this module only decides
which engine a new connection gets:

* without TLS, the configured protocol (default ``"mux"``; ``"h2"`` is h2c with
  prior knowledge; ``"http1"`` is HTTP/1.1);
* with TLS, the client offers ALPN ids (``"mux/1"`` and ``"h2"``, or just the
  configured one: ``http/1.1`` for ``"http1"``) and the protocol the server
  selects wins. A server that negotiates no ALPN gets the configured protocol
  (default mux); one that picks something not offered is a
  :class:`~mux_client.errors.ConnectError`.
"""

from __future__ import annotations

import ssl
from typing import Final, Literal

import trio

from mux.core.engine import Engine
from mux.core.sniff import ALPN_H2, ALPN_MUX

#: The framings the client speaks.
Protocol = Literal["mux", "h2", "http1"]

PROTOCOLS: Final[tuple[Protocol, ...]] = ("mux", "h2", "http1")
#: ALPN id of HTTP/1.1 (RFC 7301).
ALPN_HTTP1: Final = "http/1.1"
_ALPN: Final[dict[Protocol, str]] = {"mux": ALPN_MUX, "h2": ALPN_H2, "http1": ALPN_HTTP1}
_FROM_ALPN: Final[dict[str, Protocol]] = {ALPN_MUX: "mux", ALPN_H2: "h2", ALPN_HTTP1: "http1"}


def make_engine(protocol: Protocol, keepalive_interval: float | None = None) -> Engine:
    """A client-side engine for ``protocol`` with default limits.

    ``keepalive_interval`` (seconds; None: no keepalive PINGs) is the interval
    the driver pings at: a mux/msgpack engine advertises it as
    KEEPALIVE_INTERVAL (spec 9.3), so the server does not count those PINGs
    toward its flood budget.
    """
    if protocol == "h2":
        from mux.core.h2engine import H2Engine

        return H2Engine(client_side=True)
    if protocol == "http1":
        from mux.core.h11client import H11ClientEngine

        return H11ClientEngine()
    from mux.core.connection import MuxConnection
    from mux.core.limits import endpoint_limits

    ms = 0 if keepalive_interval is None else max(1, round(keepalive_interval * 1000))
    return MuxConnection(
        client_side=True, limits=endpoint_limits(keepalive_interval_ms=min(ms, 2**32 - 1))
    )


def tls_context(
    tls: ssl.SSLContext | bool | None, protocol: Protocol | None
) -> ssl.SSLContext | None:
    """The TLS context to use (None: plain TCP), with our ALPN ids set on it.

    ``True`` means a default verifying context (system trust store).
    """
    if tls is None or tls is False:
        return None
    context = ssl.create_default_context() if tls is True else tls
    offered = [_ALPN[protocol]] if protocol is not None else [ALPN_MUX, ALPN_H2]
    context.set_alpn_protocols(offered)
    return context


def negotiated(selected: str | None, protocol: Protocol | None) -> Protocol:
    """The protocol to speak after TLS selected ``selected`` (None: no ALPN).

    Raises:
        ValueError: the server selected a protocol the client does not speak.
    """
    if selected is None:
        return protocol or "mux"
    found = _FROM_ALPN.get(selected)
    offered = found in ("mux", "h2") if protocol is None else found == protocol
    if found is None or not offered:
        raise ValueError(f"server selected ALPN {selected!r}, which this client does not speak")
    return found


async def open_transport(
    host: str,
    port: int,
    *,
    context: ssl.SSLContext | None,
    server_hostname: str | None,
    protocol: Protocol | None,
) -> tuple[trio.abc.Stream, Protocol]:
    """Connect (and handshake TLS); return the stream and the protocol to speak.

    The caller bounds the time taken (``connect_timeout``).
    """
    tcp = await trio.open_tcp_stream(host, port)
    if context is None:
        return tcp, protocol or "mux"
    stream = trio.SSLStream(tcp, context, server_hostname=server_hostname or host)
    try:
        await stream.do_handshake()
        chosen = negotiated(stream.selected_alpn_protocol(), protocol)
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise
    return stream, chosen


__all__ = [
    "ALPN_HTTP1",
    "PROTOCOLS",
    "Protocol",
    "make_engine",
    "negotiated",
    "open_transport",
    "tls_context",
]
