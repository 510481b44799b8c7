"""Configuration objects for the trio layer: connection timeouts and the server.

Theory of operation
-------------------
Everything here is a frozen attrs class with validated fields, built once at
start-up and shared read-only by every connection. :class:`ConnectionTimeouts`
holds the per-connection timers the :class:`mux.driver.ConnectionDriver` runs
(handshake, SETTINGS ack, slowloris frame timeout, keepalive, idle);
:class:`ServerConfig` adds the listen address, the drain timeout of a graceful
shutdown and the wire :class:`~mux.core.limits.ProtocolLimits`.
All durations are in seconds; ``None`` disables a timer.

A :class:`ServerConfig` is checked whole when it is built: the HTTP/2 limits
are derived from the mux ones there, so a value one engine would refuse on
every connection is a :class:`ValueError` at startup instead.
:data:`LIMIT_RANGES` states those rules for the command line, and
:meth:`ServerConfig.ssl_context` names the file and the problem when the
certificate or key cannot be used (:class:`TLSFileError`).
"""

from __future__ import annotations

import functools
import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs

if TYPE_CHECKING:
    from mux.core.h2guard import H2Limits
    from mux.core.limits import ProtocolLimits

#: Default listen address of ``mux serve``.
DEFAULT_HOST = "127.0.0.1"
#: Default listen port of ``mux serve``.
DEFAULT_PORT = 8080

#: SETTINGS_MAX_FRAME_SIZE HTTP/2 connections advertise unless configured:
#: the RFC 9113 initial value, which every HTTP/2 peer expects.
H2_DEFAULT_FRAME_SIZE: Final = 16_384
#: Largest HTTP/2 MAX_FRAME_SIZE the server accepts to advertise: h2 buffers
#: each frame whole (mux/msgpack DATA is read in parts, so it may go higher).
H2_MAX_FRAME_SIZE: Final = 65_536

#: The accepted range of each limit ``mux serve`` takes as a flag, inclusive:
#: the intersection of what the mux/msgpack and HTTP/2 engines run with.
#: ``max_concurrent_streams`` and the windows must be >= 1 (h2 refuses 0, and
#: mux with 0 would refuse every stream); an HTTP/2 connection window starts
#: at 65,535 and can only grow, so a smaller one could not be advertised.
LIMIT_RANGES: Final[dict[str, tuple[int, int]]] = {
    "max_concurrent_streams": (1, 2**31 - 1),
    "initial_stream_window": (1, 2**31 - 1),
    "connection_window": (65_535, 2**31 - 1),
    "max_frame_size": (1024, 2**24 - 1),
    "h2_max_frame_size": (H2_DEFAULT_FRAME_SIZE, H2_MAX_FRAME_SIZE),
    "max_streams_per_connection": (1, 2**30),
}


class TLSFileError(ValueError):
    """A TLS certificate or key file cannot be used; the message names it and why."""


def _positive_or_none(instance: Any, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"{attribute.name} must be > 0 seconds or None, got {value!r}")


def _positive(instance: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0:
        raise ValueError(f"{attribute.name} must be > 0 seconds, got {value!r}")


def _default_limits() -> ProtocolLimits:
    from mux.core.limits import endpoint_limits

    return endpoint_limits()


@functools.lru_cache(maxsize=16)
def _with_keepalive(limits: ProtocolLimits, ms: int) -> ProtocolLimits:
    return attrs.evolve(limits, keepalive_interval_ms=ms)


@attrs.frozen
class ConnectionTimeouts:
    """Timers of one connection (seconds; ``None`` disables).

    Attributes:
        handshake: the peer's preface and first SETTINGS must arrive within this.
        settings_ack: the peer must acknowledge our SETTINGS within this
            (else GOAWAY SETTINGS_TIMEOUT).
        frame: a frame the peer started sending must complete within this
            (slowloris defence).
        header: a header block the peer started must complete within this: an
            HTTP/2 HEADERS without END_HEADERS and its CONTINUATIONs, an
            HTTP/1.1 request head (mux HEADERS are one frame: ``frame``
            bounds them).
        keepalive_interval: send a PING after this long without receiving anything.
        keepalive_timeout: close when a keepalive PING is not answered within this.
        idle: close gracefully after this long with no stream in flight.
        shutdown_ping: first step of a graceful shutdown: how long to wait for the
            PING ack before sending the final GOAWAY.
        close_flush: how long the final bytes (GOAWAY) may take to flush on close.
        send_stall: a stream whose send window (or the connection's unsent
            backlog) allows no progress for this long is reset with CANCEL; a
            transport write that makes no progress for this long closes the
            connection (zero-window hold / slow-read defence).
    """

    handshake: float | None = attrs.field(default=10.0, validator=_positive_or_none)
    settings_ack: float | None = attrs.field(default=10.0, validator=_positive_or_none)
    frame: float | None = attrs.field(default=30.0, validator=_positive_or_none)
    header: float | None = attrs.field(default=10.0, validator=_positive_or_none)
    keepalive_interval: float | None = attrs.field(default=None, validator=_positive_or_none)
    keepalive_timeout: float = attrs.field(default=20.0, validator=_positive)
    idle: float | None = attrs.field(default=None, validator=_positive_or_none)
    shutdown_ping: float = attrs.field(default=5.0, validator=_positive)
    close_flush: float = attrs.field(default=1.0, validator=_positive)
    send_stall: float | None = attrs.field(default=None, validator=_positive_or_none)


@attrs.frozen
class ServerConfig:
    """Settings of a mux server.

    Attributes:
        host: listen address.
        port: listen port (0 picks a free one).
        handshake_timeout: see :class:`ConnectionTimeouts` ``handshake``.
        settings_timeout: see ``settings_ack``.
        frame_timeout: see ``frame``.
        header_timeout: see ``header``.
        keepalive_interval: see ``keepalive_interval`` (server pings idle clients).
        keepalive_timeout: see ``keepalive_timeout``.
        idle_timeout: see ``idle``.
        drain_timeout: graceful shutdown: how long in-flight streams may take to finish.
        send_stall_timeout: see :class:`ConnectionTimeouts` ``send_stall``.
        limits: the wire limits every connection advertises and enforces
            (windows, max concurrent streams, frame and header sizes; HTTP/2
            connections get the same values through :meth:`h2_limits`).
        h2_overrides: HTTP/2 limits to use instead of the ones derived from
            ``limits`` (flood budgets, closed-stream memory).
        h2_max_frame_size: SETTINGS_MAX_FRAME_SIZE of HTTP/2 connections
            (``limits.max_frame_size`` is mux/msgpack's): the RFC default
            16,384 unless configured, at most 65,536.
        tls_cert: PEM certificate chain file; with ``tls_key`` the listener
            speaks TLS and ALPN picks the protocol (see :meth:`ssl_context`).
        tls_key: PEM private key file.
        http1: serve HTTP/1.1 (and ``Upgrade: h2c``) on the shared port.
        park_delay: an idle connection (no stream, nothing buffered) is parked
            after this long: it then holds no task, only its objects (see
            :mod:`mux.driver.parker`). ``None`` disables parking.
        proxy_protocol: every connection must start with a PROXY protocol
            header (v1 or v2, :mod:`mux.core.proxyproto`), read within
            ``handshake_timeout`` before TLS and sniffing; its source becomes
            the client address. Off: a PROXY header closes the connection.
        reuse_port: set ``SO_REUSEPORT`` on the listening sockets, so that
            several processes listen on one port (``--workers``, see
            :mod:`mux.workers`).
    """

    host: str = DEFAULT_HOST
    port: int = attrs.field(default=DEFAULT_PORT)
    handshake_timeout: float | None = attrs.field(default=10.0, validator=_positive_or_none)
    settings_timeout: float | None = attrs.field(default=10.0, validator=_positive_or_none)
    frame_timeout: float | None = attrs.field(default=30.0, validator=_positive_or_none)
    header_timeout: float | None = attrs.field(default=10.0, validator=_positive_or_none)
    keepalive_interval: float | None = attrs.field(default=60.0, validator=_positive_or_none)
    keepalive_timeout: float = attrs.field(default=20.0, validator=_positive)
    idle_timeout: float | None = attrs.field(default=300.0, validator=_positive_or_none)
    drain_timeout: float = attrs.field(default=30.0, validator=_positive)
    send_stall_timeout: float | None = attrs.field(default=30.0, validator=_positive_or_none)
    limits: ProtocolLimits = attrs.field(factory=_default_limits)
    h2_overrides: H2Limits | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    http1: bool = True
    park_delay: float | None = attrs.field(default=0.25, validator=_positive_or_none)
    proxy_protocol: bool = False
    h2_max_frame_size: int = attrs.field(default=H2_DEFAULT_FRAME_SIZE)
    reuse_port: bool = False

    @h2_max_frame_size.validator
    def _check_h2_frame_size(self, attribute: attrs.Attribute[int], value: int) -> None:
        low, high = LIMIT_RANGES["h2_max_frame_size"]
        if not low <= value <= high:
            raise ValueError(f"h2_max_frame_size must be in {low}..{high}, got {value}")

    def __attrs_post_init__(self) -> None:
        self.h2_limits()  # a limit the HTTP/2 engine refuses fails here, not per connection

    @port.validator
    def _check_port(self, attribute: attrs.Attribute[int], value: int) -> None:
        if not 0 <= value <= 65535:
            raise ValueError(f"port must be in 0..65535, got {value}")

    def mux_limits(self) -> ProtocolLimits:
        """``limits`` advertising the KEEPALIVE_INTERVAL this server really uses (spec 9.3).

        The driver pings after ``keepalive_interval`` seconds without input, so
        that is what the peer is told (0 when disabled); one object per value.
        """
        ms = 0 if self.keepalive_interval is None else round(self.keepalive_interval * 1000)
        return _with_keepalive(self.limits, min(ms, 2**32 - 1))

    def connection_timeouts(self) -> ConnectionTimeouts:
        """The per-connection timers this configuration asks for."""
        return ConnectionTimeouts(
            handshake=self.handshake_timeout,
            settings_ack=self.settings_timeout,
            frame=self.frame_timeout,
            header=self.header_timeout,
            keepalive_interval=self.keepalive_interval,
            keepalive_timeout=self.keepalive_timeout,
            idle=self.idle_timeout,
            send_stall=self.send_stall_timeout,
        )

    @property
    def tls(self) -> bool:
        """True when a certificate and key are configured."""
        return self.tls_cert is not None and self.tls_key is not None

    def h2_limits(self) -> H2Limits:
        """The HTTP/2 engine limits: ``h2_overrides`` or derived from ``limits``."""
        from mux.core.h2guard import H2Limits

        if self.h2_overrides is not None:
            return self.h2_overrides
        derived = H2Limits.from_protocol_limits(self.limits)
        return attrs.evolve(derived, max_frame_size=self.h2_max_frame_size)

    def ssl_context(self) -> ssl.SSLContext:
        """A server TLS context offering ALPN ``mux/1``, ``h2``, ``http/1.1``.

        Raises:
            ValueError: no certificate/key configured.
            TLSFileError: a file is missing, unreadable, not PEM, or the key
                does not match the certificate (the message says which).
        """
        from mux.core.sniff import ALPN_PROTOCOLS

        if self.tls_cert is None or self.tls_key is None:
            raise ValueError("TLS needs both tls_cert and tls_key")
        _check_pem(self.tls_cert, "certificate", b"CERTIFICATE-----")
        _check_pem(self.tls_key, "private key", b"PRIVATE KEY-----")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(self.tls_cert, self.tls_key, password=self._no_passphrase)
        except ssl.SSLError as exc:
            reason = str(exc.reason or exc).lower().replace("_", " ")
            if "mismatch" in reason:
                raise TLSFileError(
                    f"private key {self.tls_key} does not match certificate {self.tls_cert}"
                ) from None
            raise TLSFileError(
                f"cannot load certificate {self.tls_cert} with key {self.tls_key}: {reason}"
            ) from None
        context.set_alpn_protocols(list(ALPN_PROTOCOLS))
        return context

    def _no_passphrase(self) -> str:
        """OpenSSL asks for an encrypted key's passphrase: refuse instead of prompting."""
        raise TLSFileError(f"private key {self.tls_key} is encrypted (give an unencrypted key)")


def _check_pem(path: str, what: str, marker: bytes) -> None:
    """Raise :class:`TLSFileError` unless ``path`` reads as a PEM ``what``."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise TLSFileError(f"{what} file {path}: {exc.strerror or exc}") from None
    if b"-----BEGIN " not in data:
        raise TLSFileError(f"{what} file {path} is not PEM (no '-----BEGIN' line)")
    if marker not in data:
        found = data.split(b"-----BEGIN ", 1)[1].split(b"-----", 1)[0].decode("ascii", "replace")
        raise TLSFileError(f"{what} file {path} holds a PEM {found}, not a {what}")
