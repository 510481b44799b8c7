"""Why a forwarded request failed: the one exception every gateway piece raises.

Theory of operation
-------------------
The gateway's parts (route table, cluster, balancer, pools, forwarding loop)
report a failure they cannot recover from as a :class:`GatewayError` carrying a
:class:`FailureKind`. The kind is all the edge needs: one table (in
:mod:`mux.gateway.errormap`) turns it into the HTTP status, the gRPC status or
the mux/HTTP/2 reset code the downstream client sees. This module sits below
every user of it (no import circles) and imports nothing but the standard
library and :mod:`mux.errors`.

``processed`` says whether the upstream may have acted on the request
(``False`` only when it provably did not: connect failure, REFUSED_STREAM,
a stream above a GOAWAY's last id), which is what decides a retry.
"""

from __future__ import annotations

import enum

from mux.errors import MuxError


class FailureKind(enum.Enum):
    """What went wrong, from the downstream client's point of view."""

    #: No route matched the request.
    NO_ROUTE = "no_route"
    #: The cluster has no endpoint that is healthy and not ejected.
    NO_HEALTHY_UPSTREAM = "no_healthy_upstream"
    #: A circuit breaker (connections, pending or active requests) is open.
    OVERLOADED = "overloaded"
    #: Connecting to the upstream failed (refused, unreachable, TLS, timeout).
    CONNECT_FAILED = "connect_failed"
    #: The upstream did not answer within the per-try or overall timeout.
    TIMEOUT = "timeout"
    #: The upstream reset the stream or its connection died mid-stream.
    RESET = "reset"
    #: The upstream sent something we cannot forward (bad status, bad headers).
    PROTOCOL = "protocol"
    #: The downstream request itself cannot be forwarded (bad headers, too big).
    BAD_REQUEST = "bad_request"


class GatewayError(MuxError):
    """A forwarded request failed; ``kind`` decides what the client is told."""

    def __init__(
        self,
        kind: FailureKind,
        message: str,
        *,
        processed: bool = True,
        endpoint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.processed = processed
        self.endpoint = endpoint

    def __str__(self) -> str:
        where = f" ({self.endpoint})" if self.endpoint else ""
        return f"{self.kind.value}: {self.args[0]}{where}"
