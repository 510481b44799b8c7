"""Tests for retry classification (pure)."""

from __future__ import annotations

import pytest

from mux.errors import ErrorCode, MuxError, StreamReset
from mux_client.errors import (
    CallReset,
    ConnectError,
    ConnectionLost,
    DeadlineExceeded,
    Processed,
    StatusError,
)
from mux_client.retry import (
    Phase,
    can_retry,
    classify_connection_loss,
    classify_reset,
    timeout_header_value,
)

NOT, MAYBE, DONE = Processed.NOT_PROCESSED, Processed.MAYBE_PROCESSED, Processed.PROCESSED


@pytest.mark.parametrize(
    ("code", "phase", "expected"),
    [
        (ErrorCode.REFUSED_STREAM, Phase.SENT, NOT),
        (ErrorCode.CANCEL, Phase.QUEUED, NOT),
        (ErrorCode.INTERNAL_ERROR, Phase.SENT, MAYBE),
        (ErrorCode.CANCEL, Phase.ANSWERED, DONE),
        (0x1234, Phase.SENT, MAYBE),
    ],
)
def test_classify_reset(code: ErrorCode | int, phase: Phase, expected: Processed) -> None:
    """Only REFUSED_STREAM (or never sent) is NOT_PROCESSED; answered means PROCESSED."""
    assert classify_reset(code, phase) is expected


@pytest.mark.parametrize(
    ("phase", "stream_id", "last", "expected"),
    [
        (Phase.QUEUED, None, None, NOT),
        (Phase.SENT, 5, 3, NOT),
        (Phase.SENT, 5, 5, MAYBE),
        (Phase.SENT, 5, None, MAYBE),
        (Phase.ANSWERED, 5, None, DONE),
        (Phase.ANSWERED, 7, 5, NOT),
    ],
)
def test_classify_connection_loss(
    phase: Phase, stream_id: int | None, last: int | None, expected: Processed
) -> None:
    """Above GOAWAY's last_stream_id or never sent is NOT_PROCESSED, else it depends on phase."""
    assert classify_connection_loss(phase, stream_id, last) is expected


def test_can_retry_only_unprocessed_replayable_and_bounded() -> None:
    """Retries need NOT_PROCESSED, a replayable request, and attempts left."""
    assert can_retry(NOT, attempt=1, max_attempts=3, replayable=True)
    assert not can_retry(NOT, attempt=3, max_attempts=3, replayable=True)
    assert not can_retry(NOT, attempt=1, max_attempts=3, replayable=False)
    assert not can_retry(MAYBE, attempt=1, max_attempts=3, replayable=True)
    assert not can_retry(DONE, attempt=1, max_attempts=3, replayable=True)


def test_timeout_header_value_rounds_up_to_ms() -> None:
    """The deadline header is whole milliseconds, rounded up, never 0."""
    assert timeout_header_value(1.5) == b"1500"
    assert timeout_header_value(0.0001) == b"1"
    assert timeout_header_value(0.0) == b"1"
    assert timeout_header_value(2.0004) == b"2001"


def test_timeout_header_value_is_capped_at_ten_digits() -> None:
    """A deadline beyond the spec's 10 digits of ms is sent as the maximum, even 1e308 s."""
    assert timeout_header_value(9_999_999.999) == b"9999999999"
    assert timeout_header_value(1e7) == b"9999999999"
    assert timeout_header_value(1e308) == b"9999999999"
    assert timeout_header_value(float("inf")) == b"9999999999"


def test_errors_fit_the_shared_hierarchy() -> None:
    """SDK errors are MuxErrors; deadlines are TimeoutErrors; resets are StreamResets."""
    deadline = DeadlineExceeded("POST /echo", 1.5, processed=MAYBE)
    assert isinstance(deadline, MuxError)
    assert isinstance(deadline, TimeoutError)
    assert "1.5s" in str(deadline) and "MAY have been" not in str(deadline)
    assert "MAY have processed" in str(deadline)
    reset = CallReset(3, ErrorCode.REFUSED_STREAM, remote=True, processed=NOT)
    assert isinstance(reset, StreamReset)
    assert (reset.stream_id, reset.code, reset.remote) == (3, ErrorCode.REFUSED_STREAM, True)
    assert "REFUSED_STREAM" in str(reset) and "safe to retry" in str(reset)
    lost = ConnectionLost("connection lost", processed=DONE, code=ErrorCode.NO_ERROR)
    assert lost.processed is DONE and lost.code == ErrorCode.NO_ERROR
    connect = ConnectError("127.0.0.1:1", "refused", retry_in=0.25)
    assert connect.processed is NOT and "0.25s" in str(connect)
    status = StatusError("GET /x", 404, b"no route")
    assert status.status == 404 and "404" in str(status) and "no route" in str(status)
