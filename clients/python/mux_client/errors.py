"""Errors raised by the mux client SDK.

Theory of operation
-------------------
Every failure of a call answers one question the caller needs before retrying:
*did the server process the request?* :class:`Processed` is that answer and
every :class:`CallError` carries it in ``processed``:

* ``NOT_PROCESSED``: the server provably never acted on the request (we never
  put it on the wire, the stream was refused with REFUSED_STREAM, or it was above
  a GOAWAY's ``last_stream_id``). Retrying is always safe; the SDK already retried
  transparently where it could.
* ``MAYBE_PROCESSED``: the request reached the wire but no response arrived
  before the failure. Retry only if the operation is idempotent.
* ``PROCESSED``: the server answered (at least response headers) before the
  failure.

The classes slot into :mod:`mux.errors`: every error is a
:class:`mux.errors.MuxError`, a deadline is also a built-in :class:`TimeoutError`,
and a reset is also a :class:`mux.errors.StreamReset`.
"""

from __future__ import annotations

import enum

from mux.errors import ErrorCode, MuxError, StreamReset, code_name


class Processed(enum.Enum):
    """Whether the server may have acted on a failed request."""

    #: The server never acted on the request: safe to retry.
    NOT_PROCESSED = "not processed"
    #: The request was sent but not answered: retry only if idempotent.
    MAYBE_PROCESSED = "maybe processed"
    #: The server answered before the failure.
    PROCESSED = "processed"


_ADVICE = {
    Processed.NOT_PROCESSED: "the server did not process it (safe to retry)",
    Processed.MAYBE_PROCESSED: "the server MAY have processed it (retry only if idempotent)",
    Processed.PROCESSED: "the server processed it",
}


def _describe(what: str, processed: Processed) -> str:
    return f"{what}; {_ADVICE[processed]}"


class CallError(MuxError):
    """A call failed.

    Attributes:
        processed: whether the server may have acted on the request.
    """

    def __init__(self, message: str, *, processed: Processed) -> None:
        # Not cooperative on purpose: CallReset also inherits StreamError, whose
        # __init__ has another signature.
        Exception.__init__(self, _describe(message, processed))
        self.processed = processed


class ClientClosedError(CallError):
    """The client was closed (or never opened) when the call was made."""

    def __init__(self, message: str = "the client is closed") -> None:
        super().__init__(message, processed=Processed.NOT_PROCESSED)


class ConnectError(CallError):
    """No connection to the target could be established.

    Attributes:
        target: ``host:port`` we tried to reach.
        retry_in: seconds until the next connection attempt (backoff), if known.
    """

    def __init__(self, target: str, reason: str, *, retry_in: float | None = None) -> None:
        text = f"cannot connect to {target}: {reason}"
        if retry_in is not None:
            text += f" (next attempt in {retry_in:.2f}s)"
        super().__init__(text, processed=Processed.NOT_PROCESSED)
        self.target = target
        self.retry_in = retry_in


class ConnectionLost(CallError):
    """The connection failed while the call was in flight.

    Attributes:
        code: the GOAWAY code, or None when the transport simply went away.
        last_stream_id: the GOAWAY's ``last_stream_id``, or None if unknown.
    """

    def __init__(
        self,
        message: str,
        *,
        processed: Processed,
        code: ErrorCode | int | None = None,
        last_stream_id: int | None = None,
    ) -> None:
        super().__init__(message, processed=processed)
        self.code = code
        self.last_stream_id = last_stream_id


class CallReset(CallError, StreamReset):
    """The stream carrying the call was reset.

    ``code`` REFUSED_STREAM means ``NOT_PROCESSED`` (retried transparently by the
    SDK while attempts remain); other codes mean the request may have been processed.
    """

    def __init__(
        self, stream_id: int, code: ErrorCode | int, *, remote: bool, processed: Processed
    ) -> None:
        who = "the server" if remote else "the client"
        text = f"stream {stream_id} was reset by {who} with {code_name(code)}"
        CallError.__init__(self, text, processed=processed)
        self.stream_id = stream_id
        self.code = code
        self.remote = remote


class DeadlineExceeded(CallError, TimeoutError):
    """The call's deadline expired; its stream was reset with CANCEL.

    Attributes:
        timeout: the deadline the caller gave, in seconds.
    """

    def __init__(self, what: str, timeout: float, *, processed: Processed) -> None:
        super().__init__(f"{what}: deadline of {timeout:g}s exceeded", processed=processed)
        self.timeout = timeout


class StatusError(CallError):
    """Raised by :meth:`mux_client.Response.raise_for_status` for a non-2xx status.

    Attributes:
        status: the HTTP-style status code.
    """

    def __init__(self, what: str, status: int, body: bytes) -> None:
        snippet = body[:200].decode("utf-8", "replace")
        text = f"{what}: status {status}" + (f": {snippet}" if snippet else "")
        super().__init__(text, processed=Processed.PROCESSED)
        self.status = status
        self.body = body


class MessageError(CallError):
    """A msgpack message in a response body was malformed, truncated or too large.

    The server answered (``PROCESSED``); the call's stream is reset on the way out.
    """

    def __init__(self, what: str, problem: str) -> None:
        super().__init__(f"{what}: bad msgpack message: {problem}", processed=Processed.PROCESSED)
