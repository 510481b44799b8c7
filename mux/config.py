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
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from mux.core.limits import ProtocolLimits

#: Default listen address of ``mux serve``.
DEFAULT_HOST = "127.0.0.1"
#: Default listen port of ``mux serve``.
DEFAULT_PORT = 8080


def _positive_or_none(instance: Any, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"{attribute.name} must be > 0 seconds or None, got {value!r}")


def _positive(instance: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0:
        raise ValueError(f"{attribute.name} must be > 0 seconds, got {value!r}")


def _default_limits() -> ProtocolLimits:
    from mux.core.limits import ProtocolLimits

    return ProtocolLimits()


@attrs.frozen
class ConnectionTimeouts:
    """Timers of one connection (seconds; ``None`` disables).

    Attributes:
        handshake: the peer's preface and first SETTINGS must arrive within this.
        settings_ack: the peer must acknowledge our SETTINGS within this
            (else GOAWAY SETTINGS_TIMEOUT).
        frame: a frame the peer started sending must complete within this
            (slowloris defence).
        keepalive_interval: send a PING after this long without receiving anything.
        keepalive_timeout: close when a keepalive PING is not answered within this.
        idle: close gracefully after this long with no stream in flight.
        shutdown_ping: first step of a graceful shutdown: how long to wait for the
            PING ack before sending the final GOAWAY.
        close_flush: how long the final bytes (GOAWAY) may take to flush on close.
    """

    handshake: float | None = attrs.field(default=10.0, validator=_positive_or_none)
    settings_ack: float | None = attrs.field(default=10.0, validator=_positive_or_none)
    frame: float | None = attrs.field(default=30.0, validator=_positive_or_none)
    keepalive_interval: float | None = attrs.field(default=None, validator=_positive_or_none)
    keepalive_timeout: float = attrs.field(default=20.0, validator=_positive)
    idle: float | None = attrs.field(default=None, validator=_positive_or_none)
    shutdown_ping: float = attrs.field(default=5.0, validator=_positive)
    close_flush: float = attrs.field(default=1.0, validator=_positive)


@attrs.frozen
class ServerConfig:
    """Settings of a mux server.

    Attributes:
        host: listen address.
        port: listen port (0 picks a free one).
        handshake_timeout: see :class:`ConnectionTimeouts` ``handshake``.
        settings_timeout: see ``settings_ack``.
        frame_timeout: see ``frame``.
        keepalive_interval: see ``keepalive_interval`` (server pings idle clients).
        keepalive_timeout: see ``keepalive_timeout``.
        idle_timeout: see ``idle``.
        drain_timeout: graceful shutdown: how long in-flight streams may take to finish.
        limits: the wire limits every connection advertises and enforces.
    """

    host: str = DEFAULT_HOST
    port: int = attrs.field(default=DEFAULT_PORT)
    handshake_timeout: float | None = attrs.field(default=10.0, validator=_positive_or_none)
    settings_timeout: float | None = attrs.field(default=10.0, validator=_positive_or_none)
    frame_timeout: float | None = attrs.field(default=30.0, validator=_positive_or_none)
    keepalive_interval: float | None = attrs.field(default=60.0, validator=_positive_or_none)
    keepalive_timeout: float = attrs.field(default=20.0, validator=_positive)
    idle_timeout: float | None = attrs.field(default=300.0, validator=_positive_or_none)
    drain_timeout: float = attrs.field(default=30.0, validator=_positive)
    limits: ProtocolLimits = attrs.field(factory=_default_limits)

    @port.validator
    def _check_port(self, attribute: attrs.Attribute[int], value: int) -> None:
        if not 0 <= value <= 65535:
            raise ValueError(f"port must be in 0..65535, got {value}")

    def connection_timeouts(self) -> ConnectionTimeouts:
        """The per-connection timers this configuration asks for."""
        return ConnectionTimeouts(
            handshake=self.handshake_timeout,
            settings_ack=self.settings_timeout,
            frame=self.frame_timeout,
            keepalive_interval=self.keepalive_interval,
            keepalive_timeout=self.keepalive_timeout,
            idle=self.idle_timeout,
        )
