"""Which failures are safe to retry, and how to describe them (pure).

Theory of operation
-------------------
A call moves through three phases: ``QUEUED`` (not on the wire yet: waiting for
a connection or for a stream slot), ``SENT`` (request headers written, no
response yet) and ``ANSWERED`` (response headers received). When the call fails,
the phase and what the server told us decide :class:`~mux_client.errors.Processed`:

* RST_STREAM(REFUSED_STREAM), a stream id above a GOAWAY's ``last_stream_id``,
  and a call still ``QUEUED`` were provably not processed;
* any failure after ``ANSWERED`` was processed;
* everything else may have been processed.

Only ``NOT_PROCESSED`` failures are retried, and only while the request can be
replayed (the SDK still holds the whole body) and attempts remain. Idempotency is
never assumed; a failed connection *attempt* is not retried here either: the
backoff (``mux_client.backoff``) decides when to try connecting again.
"""

from __future__ import annotations

import enum
import math
from typing import Final

from mux.errors import ErrorCode
from mux_client.errors import Processed

#: Attempts per call (first try included) for transparent retries.
DEFAULT_MAX_ATTEMPTS: Final = 3

#: Name of the request header carrying the deadline (integer milliseconds).
TIMEOUT_HEADER: Final = b"mux-timeout"

#: The largest ``mux-timeout`` the spec allows (10 decimal digits of ms, about 115 days).
MAX_TIMEOUT_MS: Final = 9_999_999_999


class Phase(enum.Enum):
    """How far a call got before it failed."""

    QUEUED = "queued"
    SENT = "sent"
    ANSWERED = "answered"


def classify_reset(code: ErrorCode | int, phase: Phase) -> Processed:
    """Classify a stream reset by the server."""
    if code == ErrorCode.REFUSED_STREAM or phase is Phase.QUEUED:
        return Processed.NOT_PROCESSED
    if phase is Phase.ANSWERED:
        return Processed.PROCESSED
    return Processed.MAYBE_PROCESSED


def classify_connection_loss(
    phase: Phase, stream_id: int | None, last_stream_id: int | None
) -> Processed:
    """Classify a call whose connection ended under it.

    Args:
        phase: how far the call got.
        stream_id: its stream id, None if never allocated.
        last_stream_id: the GOAWAY's ``last_stream_id`` if one arrived, else None.
    """
    if phase is Phase.QUEUED or stream_id is None:
        return Processed.NOT_PROCESSED
    if last_stream_id is not None and stream_id > last_stream_id:
        return Processed.NOT_PROCESSED
    if phase is Phase.ANSWERED:
        return Processed.PROCESSED
    return Processed.MAYBE_PROCESSED


def can_retry(processed: Processed, *, attempt: int, max_attempts: int, replayable: bool) -> bool:
    """True when a failed attempt (1-based ``attempt``) should be retried transparently."""
    return processed is Processed.NOT_PROCESSED and replayable and attempt < max_attempts


def timeout_header_value(remaining: float) -> bytes:
    """The ``mux-timeout`` value for ``remaining`` seconds: whole ms, rounded up, >= 1.

    Longer deadlines are sent as the spec's maximum (10 digits).
    """
    if remaining * 1000 >= MAX_TIMEOUT_MS:  # also keeps huge floats from overflowing
        return b"%d" % MAX_TIMEOUT_MS
    return str(max(1, math.ceil(remaining * 1000))).encode("ascii")
