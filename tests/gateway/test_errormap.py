"""The one error table: each failure kind has an HTTP status, a gRPC status and a reset code."""

from __future__ import annotations

from mux.errors import ErrorCode
from mux.gateway import errormap
from mux.gateway.errors import FailureKind
from mux.server.grpcwire import StatusCode


def test_every_kind_has_a_row() -> None:
    assert set(errormap.TABLE) == set(FailureKind)


def test_the_agreed_statuses() -> None:
    expect = {
        FailureKind.NO_ROUTE: (404, StatusCode.UNIMPLEMENTED),
        FailureKind.NO_HEALTHY_UPSTREAM: (503, StatusCode.UNAVAILABLE),
        FailureKind.OVERLOADED: (503, StatusCode.UNAVAILABLE),
        FailureKind.CONNECT_FAILED: (503, StatusCode.UNAVAILABLE),
        FailureKind.TIMEOUT: (504, StatusCode.DEADLINE_EXCEEDED),
        FailureKind.RESET: (502, StatusCode.UNAVAILABLE),
        FailureKind.PROTOCOL: (502, StatusCode.INTERNAL),
        FailureKind.BAD_REQUEST: (400, StatusCode.INVALID_ARGUMENT),
    }
    for kind, (http, grpc) in expect.items():
        row = errormap.mapping(kind)
        assert (row.http_status, row.grpc_status) == (http, grpc), kind


def test_upstream_reset_codes() -> None:
    assert errormap.grpc_status_for_reset(ErrorCode.REFUSED_STREAM) is StatusCode.UNAVAILABLE
    assert errormap.grpc_status_for_reset(ErrorCode.INTERNAL_ERROR) is StatusCode.INTERNAL
    assert errormap.grpc_status_for_reset(ErrorCode.CANCEL) is StatusCode.CANCELLED
    assert errormap.grpc_status_for_reset(None) is StatusCode.UNAVAILABLE
    assert errormap.grpc_status_for_reset(0xABC) is StatusCode.INTERNAL
    assert errormap.reset_code_for(FailureKind.RESET, ErrorCode.CANCEL) is ErrorCode.CANCEL
    assert (
        errormap.reset_code_for(FailureKind.RESET, ErrorCode.NO_ERROR) is ErrorCode.INTERNAL_ERROR
    )
    assert errormap.reset_code_for(FailureKind.RESET, 0xABC) is ErrorCode.INTERNAL_ERROR
    assert errormap.reset_code_for(FailureKind.TIMEOUT) is ErrorCode.CANCEL


def test_markdown_has_one_line_per_kind() -> None:
    text = errormap.render_markdown()
    assert text.count("\n") == 2 + len(FailureKind)
    assert "| `timeout` | 504 | DEADLINE_EXCEEDED (4) | CANCEL |" in text
