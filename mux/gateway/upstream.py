"""What a cluster hands around: the request, the call, an endpoint's live state.

Theory of operation
-------------------
Plain data shared by :mod:`mux.gateway.cluster` (which re-exports
:class:`UpstreamRequest` and :class:`UpstreamCall`, the forwarder's interface)
and its helpers, plus the two translations the cluster needs: a cluster's
configuration into the SDK pool options of one endpoint
(:func:`channel_options`), and an SDK call failure into a
:class:`~mux.gateway.errors.GatewayError` (:func:`gateway_error`), keeping the
SDK's verdict on whether the upstream may have processed the request.
"""

from __future__ import annotations

import math
import ssl

import attrs

from mux.config import ConnectionTimeouts
from mux.core.events import Headers
from mux.gateway.errors import FailureKind, GatewayError
from mux.gateway.health import HealthState
from mux.gateway.model import ClusterConfig, Endpoint
from mux.gateway.outlier import OutlierState
from mux_client.backoff import BackoffPolicy
from mux_client.calls import Call
from mux_client.channel import Channel, ChannelOptions
from mux_client.errors import (
    CallError,
    ClientClosedError,
    ConnectError,
    DeadlineExceeded,
    Processed,
)
from mux_client.transport import Protocol, tls_context

#: Reconnection backoff of an endpoint's pool: short, since other endpoints
#: take the traffic meanwhile and outlier detection ejects a dead one.
GATEWAY_BACKOFF = BackoffPolicy(initial=0.05, multiplier=2.0, maximum=2.0, jitter=0.2)


@attrs.frozen
class UpstreamRequest:
    """A request to forward, as the forwarder hands it to the cluster."""

    method: str
    path: str
    authority: str | None
    #: Regular (non-pseudo) headers, already rewritten by the forwarder.
    headers: Headers
    #: True: the request has no body.
    end_stream: bool
    #: A fully known body (<= 64 KiB) the cluster may replay on retry.
    body: bytes | None = None
    #: ``trio.current_time()`` clock; inf = none.
    deadline: float = math.inf
    #: The value hashed by ring-hash balancing.
    hash_key: bytes | None = None
    #: The route allows retrying failures that may have been processed.
    idempotent: bool = False
    scheme: str = "http"

    @property
    def complete(self) -> bool:
        """The whole request is known (no body, or ``body``): the cluster sends it all."""
        return self.end_stream or self.body is not None

    @property
    def what(self) -> str:
        return f"{self.method} {self.path}"


@attrs.define
class UpstreamCall:
    """A call the forwarder drives (send/end/response/receive/abort)."""

    call: Call
    #: ``host:port`` of the endpoint serving it.
    endpoint: str
    #: 1 + retries used.
    attempts: int


@attrs.define(eq=False)
class EndpointState:
    """One endpoint of a cluster at run time."""

    #: The configured endpoint (its host may be a DNS name).
    endpoint: Endpoint
    #: ``host:port`` connected to (a resolved address for DNS endpoints).
    key: str
    channel: Channel
    weight: int = 1
    active: int = 0
    #: Active health checking's verdict (healthy when there are no checks).
    health: HealthState = attrs.field(factory=HealthState)
    outlier: OutlierState = attrs.field(factory=OutlierState)
    #: Requests that used it (statistics).
    requests: int = 0
    failures: int = 0

    @property
    def healthy(self) -> bool:
        return self.health.healthy

    def usable(self, now: float) -> bool:
        """Healthy and not ejected: the balancer may pick it."""
        return self.health.healthy and not self.outlier.is_ejected(now)


def channel_options(config: ClusterConfig) -> ChannelOptions:
    """The SDK pool options of one endpoint of ``config``."""
    protocol: Protocol = config.protocol.value
    context: ssl.SSLContext | None = None
    server_name: str | None = None
    if config.tls is not None:
        context = ssl.create_default_context(cafile=config.tls.ca_file)
        if not config.tls.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        context = tls_context(context, protocol)
        server_name = config.tls.server_name
    pool = config.pool
    return ChannelOptions(
        max_connections=pool.max_connections,
        connect_timeout=config.timeouts.connect,
        backoff=GATEWAY_BACKOFF,
        timeouts=ConnectionTimeouts(handshake=None, idle=pool.idle_timeout),
        protocol=protocol,
        tls=context,
        server_hostname=server_name,
        max_requests=pool.max_requests,
        max_age=pool.max_age,
    )


def gateway_error(exc: CallError, endpoint: str, request: UpstreamRequest) -> GatewayError:
    """The GatewayError for an SDK failure of one attempt (``processed`` kept)."""
    processed = exc.processed is not Processed.NOT_PROCESSED
    if isinstance(exc, ConnectError):
        kind = FailureKind.CONNECT_FAILED
    elif isinstance(exc, DeadlineExceeded):
        kind = FailureKind.TIMEOUT
    elif isinstance(exc, ClientClosedError):
        kind = FailureKind.NO_HEALTHY_UPSTREAM
    else:
        kind = FailureKind.RESET
    error = GatewayError(kind, f"{request.what}: {exc}", processed=processed, endpoint=endpoint)
    error.__cause__ = exc
    return error


__all__ = [
    "GATEWAY_BACKOFF",
    "EndpointState",
    "UpstreamCall",
    "UpstreamRequest",
    "channel_options",
    "gateway_error",
]
