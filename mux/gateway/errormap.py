"""One table from a gateway failure to what the downstream client is told.

Theory of operation
-------------------
Every forwarded request that fails ends as a :class:`~mux.gateway.errors.FailureKind`
(raised by the route table, the cluster or the forwarding loop, or derived
here from an SDK :class:`mux_client.CallError`). :data:`TABLE` maps each kind to
the three answers the gateway can give, depending on how far the response got:

* before response headers went out, an HTTP client (mux, HTTP/2, HTTP/1.1)
  gets ``http_status`` with a plain-text body naming the problem and an
  ``x-mux-failure`` header holding the kind; a gRPC client
  (``content-type: application/grpc``) gets a trailers-only response
  (``:status`` 200, ``grpc-status``, ``grpc-message``) instead;
* after the response headers went out, the downstream stream is reset with
  ``reset_code`` (a gRPC client gets status trailers instead, so it still
  sees a status).

An upstream that resets a stream tells us more than "reset": its code picks
the gRPC status (:func:`grpc_status_for_reset`, the mapping of gRPC's
PROTOCOL-HTTP2 document: REFUSED_STREAM is UNAVAILABLE, CANCEL is CANCELLED,
ENHANCE_YOUR_CALM is RESOURCE_EXHAUSTED, the rest INTERNAL) and is passed
through as the downstream reset code (:func:`reset_code_for`).

Pure data and functions: no I/O. :func:`render_markdown` prints the table for
the README.
"""

from __future__ import annotations

import attrs

from mux.errors import ErrorCode, code_from_int
from mux.gateway.errors import FailureKind
from mux.server.grpcwire import StatusCode


@attrs.frozen
class ErrorMapping:
    """How one failure kind is reported downstream."""

    kind: FailureKind
    http_status: int
    grpc_status: StatusCode
    #: The reset code once response headers are out (mux and HTTP/2 share codes).
    reset_code: ErrorCode
    #: One line for the README table.
    meaning: str


def _row(
    kind: FailureKind, http: int, grpc: StatusCode, reset: ErrorCode, meaning: str
) -> tuple[FailureKind, ErrorMapping]:
    return kind, ErrorMapping(kind, http, grpc, reset, meaning)


#: The one table (README renders it with :func:`render_markdown`).
TABLE: dict[FailureKind, ErrorMapping] = dict(
    [
        _row(
            FailureKind.NO_ROUTE,
            404,
            StatusCode.UNIMPLEMENTED,
            ErrorCode.REFUSED_STREAM,
            "no route matches the request",
        ),
        _row(
            FailureKind.BAD_REQUEST,
            400,
            StatusCode.INVALID_ARGUMENT,
            ErrorCode.PROTOCOL_ERROR,
            "the request cannot be forwarded (bad headers, bad timeout)",
        ),
        _row(
            FailureKind.NO_HEALTHY_UPSTREAM,
            503,
            StatusCode.UNAVAILABLE,
            ErrorCode.REFUSED_STREAM,
            "every endpoint of the cluster is unhealthy or ejected",
        ),
        _row(
            FailureKind.OVERLOADED,
            503,
            StatusCode.UNAVAILABLE,
            ErrorCode.REFUSED_STREAM,
            "a circuit breaker of the cluster is open (fails fast)",
        ),
        _row(
            FailureKind.CONNECT_FAILED,
            503,
            StatusCode.UNAVAILABLE,
            ErrorCode.REFUSED_STREAM,
            "no connection to an endpoint could be made (after retries)",
        ),
        _row(
            FailureKind.TIMEOUT,
            504,
            StatusCode.DEADLINE_EXCEEDED,
            ErrorCode.CANCEL,
            "the client's deadline or a cluster timeout expired",
        ),
        _row(
            FailureKind.RESET,
            502,
            StatusCode.UNAVAILABLE,
            ErrorCode.INTERNAL_ERROR,
            "the upstream reset the stream (gRPC: status by its code) or its connection died",
        ),
        _row(
            FailureKind.PROTOCOL,
            502,
            StatusCode.INTERNAL,
            ErrorCode.INTERNAL_ERROR,
            "the upstream answered something that cannot be forwarded",
        ),
    ]
)

#: gRPC status for an upstream RST_STREAM code (gRPC PROTOCOL-HTTP2, "Errors").
_GRPC_FOR_RESET: dict[ErrorCode | int, StatusCode] = {
    ErrorCode.REFUSED_STREAM: StatusCode.UNAVAILABLE,
    ErrorCode.CANCEL: StatusCode.CANCELLED,
    ErrorCode.ENHANCE_YOUR_CALM: StatusCode.RESOURCE_EXHAUSTED,
}


def mapping(kind: FailureKind) -> ErrorMapping:
    """The row of ``kind``."""
    return TABLE[kind]


def grpc_status_for_reset(code: ErrorCode | int | None) -> StatusCode:
    """The gRPC status for an upstream reset with ``code`` (None: the connection died)."""
    if code is None:
        return StatusCode.UNAVAILABLE
    return _GRPC_FOR_RESET.get(code_from_int(int(code)), StatusCode.INTERNAL)


def reset_code_for(kind: FailureKind, upstream_code: ErrorCode | int | None = None) -> ErrorCode:
    """The code a started downstream stream is reset with.

    An upstream reset passes its own (known) code through, except NO_ERROR,
    which would tell the client all is well: that becomes INTERNAL_ERROR.
    """
    if kind is FailureKind.RESET and upstream_code is not None:
        code = code_from_int(int(upstream_code))
        if isinstance(code, ErrorCode) and code is not ErrorCode.NO_ERROR:
            return code
    return TABLE[kind].reset_code


def render_markdown() -> str:
    """The table as GitHub markdown (for the README)."""
    lines = [
        "| Failure | HTTP status | gRPC status | reset code (response already started) | Meaning |",
        "|---|---|---|---|---|",
    ]
    for row in TABLE.values():
        lines.append(
            f"| `{row.kind.value}` | {row.http_status} | {row.grpc_status.name} "
            f"({int(row.grpc_status)}) | {row.reset_code.name} | {row.meaning} |"
        )
    return "\n".join(lines) + "\n"
