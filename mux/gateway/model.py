"""The gateway's configuration as plain, frozen, validated-elsewhere data.

Theory of operation
-------------------
Everything the gateway does is decided by one :class:`GatewayConfig` value:
listeners, routes and clusters. These classes hold data only (attrs, frozen,
slotted): the TOML loader (:mod:`mux.gateway.config`) builds them from a file,
the one-line mode builds them from ``--to`` URLs and the embedded default from
code, and every other part reads them. No I/O and no behaviour live here; the
loader checks every rule and names the key path of every mistake, so a value of
these classes is always valid.

Durations are seconds (float); ``None`` disables a timer or a limit.
"""

from __future__ import annotations

import enum

import attrs

#: Upstream protocols and the URL schemes that select them (``--to`` and config).
SCHEMES: dict[str, tuple[str, bool]] = {
    # scheme: (protocol, tls)
    "http": ("http1", False),
    "https": ("http1", True),
    "h2c": ("h2", False),
    "h2": ("h2", True),
    "grpc": ("h2", False),
    "grpcs": ("h2", True),
    "mux": ("mux", False),
    "muxs": ("mux", True),
}


class UpstreamProtocol(enum.Enum):
    """The framing the gateway speaks to a cluster's endpoints."""

    HTTP1 = "http1"
    H2 = "h2"
    MUX = "mux"


class LbPolicy(enum.Enum):
    """How a cluster picks an endpoint for each request."""

    ROUND_ROBIN = "round_robin"
    #: Least outstanding requests among two random choices (P2C).
    LEAST_REQUEST = "least_request"
    #: Consistent hash ring on a request header (``hash_header``).
    RING_HASH = "ring_hash"


class HealthCheckKind(enum.Enum):
    """What an active health check does."""

    TCP = "tcp"
    HTTP = "http"
    GRPC = "grpc"


@attrs.frozen
class Endpoint:
    """One upstream address: an IP literal or a DNS name re-resolved periodically."""

    host: str
    port: int
    weight: int = 1

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@attrs.frozen
class TlsUpstream:
    """TLS towards a cluster's endpoints."""

    #: CA bundle file to verify the upstream (None: the system trust store).
    ca_file: str | None = None
    #: Server name sent in SNI and checked in the certificate (None: the endpoint's host).
    server_name: str | None = None
    #: False disables verification (tests only; logged as a warning).
    verify: bool = True


@attrs.frozen
class PoolConfig:
    """Upstream connection pool limits of a cluster."""

    #: Most connections per endpoint (HTTP/1.1: also the most requests in flight).
    max_connections: int = 64
    #: Idle connections close after this long (keep it below the backend's keep-alive).
    idle_timeout: float | None = 30.0
    #: A connection is retired after this many requests (None: unlimited).
    max_requests: int | None = None
    #: A connection is retired after this age (None: unlimited).
    max_age: float | None = None


@attrs.frozen
class Timeouts:
    """Upstream timers of a cluster."""

    connect: float = 5.0
    #: One attempt, from sending the request to the end of the response headers.
    per_try: float | None = None
    #: The whole request, retries included (None: only the client's deadline).
    overall: float | None = None


@attrs.frozen
class RetryPolicy:
    """When a failed attempt is tried again (only what provably was not processed,
    unless the route is marked idempotent)."""

    max_attempts: int = 3
    #: Retries allowed as a fraction of active requests (Envoy/Finagle style budget).
    budget_ratio: float = 0.2
    #: Retries always allowed in flight, whatever the ratio.
    budget_min_concurrency: int = 3


@attrs.frozen
class HealthCheck:
    """Active health checking of every endpoint of a cluster."""

    kind: HealthCheckKind = HealthCheckKind.TCP
    interval: float = 5.0
    #: Each wait is ``interval`` times a factor in ``[1 - jitter, 1 + jitter]``.
    jitter: float = 0.1
    timeout: float = 2.0
    #: Consecutive failures that mark an endpoint unhealthy.
    unhealthy_threshold: int = 3
    #: Consecutive successes that mark it healthy again.
    healthy_threshold: int = 2
    #: HTTP: the path requested; gRPC: the service name checked ("" = the server).
    path: str = "/healthz"
    service: str = ""


@attrs.frozen
class OutlierDetection:
    """Passive health: eject an endpoint after consecutive failures."""

    consecutive_failures: int = 5
    #: First ejection lasts this long; the n-th lasts n times as long.
    base_ejection_time: float = 30.0
    max_ejection_time: float = 300.0
    #: Never eject more than this percentage of a cluster's endpoints.
    max_ejection_percent: int = 50


@attrs.frozen
class CircuitBreakers:
    """Per-cluster limits that fail fast instead of queueing without bound."""

    max_connections: int = 1024
    max_pending_requests: int = 1024
    max_requests: int = 1024


@attrs.frozen
class ClusterConfig:
    """A named group of interchangeable upstream endpoints."""

    name: str
    endpoints: tuple[Endpoint, ...]
    protocol: UpstreamProtocol = UpstreamProtocol.H2
    tls: TlsUpstream | None = None
    lb: LbPolicy = LbPolicy.ROUND_ROBIN
    #: RING_HASH: the request header whose value is hashed.
    hash_header: str | None = None
    pool: PoolConfig = PoolConfig()
    timeouts: Timeouts = Timeouts()
    retry: RetryPolicy = RetryPolicy()
    health_check: HealthCheck | None = None
    outlier: OutlierDetection = OutlierDetection()
    breakers: CircuitBreakers = CircuitBreakers()
    #: Seconds between DNS re-resolutions of endpoints given by name.
    dns_refresh: float = 30.0


@attrs.frozen
class HeaderMatch:
    """A route condition on one request header."""

    name: str
    #: None: the header must be present; otherwise its value must equal this.
    value: str | None = None


@attrs.frozen
class RouteConfig:
    """Sends matching requests to a cluster. All given conditions must hold."""

    cluster: str
    #: The path starts with this ("/" matches everything).
    path_prefix: str | None = None
    #: gRPC: exact ``package.Service`` and optional method (path ``/svc/method``).
    grpc_service: str | None = None
    grpc_method: str | None = None
    headers: tuple[HeaderMatch, ...] = ()
    #: The request's ``:authority`` (or Host) equals this (case-insensitive).
    authority: str | None = None
    #: Rewrite ``:authority``/``host`` towards the upstream (None: pass through).
    host_rewrite: str | None = None
    #: Retry even processed failures (the route's requests are idempotent).
    idempotent: bool = False
    #: A name for logs and metrics (defaults to the route's index).
    name: str | None = None


@attrs.frozen
class TlsListener:
    """TLS on a listener."""

    cert_file: str
    key_file: str


@attrs.frozen
class ListenerConfig:
    """An address the gateway accepts downstream connections on."""

    host: str
    port: int
    #: Any of "mux", "h2", "http1" (a cleartext port sniffs; TLS uses ALPN).
    protocols: tuple[str, ...] = ("mux", "h2", "http1")
    tls: TlsListener | None = None
    #: Expect a PROXY protocol (v1 or v2) header on every connection.
    proxy_protocol: bool = False


@attrs.frozen
class GatewayConfig:
    """The whole gateway."""

    listeners: tuple[ListenerConfig, ...]
    routes: tuple[RouteConfig, ...]
    clusters: dict[str, ClusterConfig] = attrs.field(hash=False)
    #: ``host:port`` of the admin listener (None: no admin listener).
    admin: str | None = None
    #: Where the file came from (for messages), None when built in code.
    source: str | None = None
