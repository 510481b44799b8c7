"""Error codes and the exception hierarchy shared by every layer of mux.

Theory of operation
-------------------
* :class:`ErrorCode` is the one enum of wire error codes. Values shared with
  HTTP/2 (RFC 9113 §7) keep their HTTP/2 numbers, so the gateway translates
  between the two framings one to one; codes that only mux/msgpack needs start
  at ``0x100``.
* Exceptions form a small tree (see ``ProtocolError``). A connection-scoped
  problem caused by the peer is a :class:`RemoteProtocolError`: by the time it
  is raised the core has already queued a GOAWAY carrying ``code``, so a driver
  only has to flush and close. A stream-scoped problem never raises: the core
  queues RST_STREAM and reports a ``StreamReset`` event.
* This module imports nothing from trio, socket or ssl: the sans-IO core uses it.
"""

from __future__ import annotations

import enum
from typing import Final

from mux.wording import plain_text


class ErrorCode(enum.IntEnum):
    """Wire error codes carried by RST_STREAM and GOAWAY."""

    #: Graceful: no error.
    NO_ERROR = 0x0
    #: The peer violated the protocol (generic).
    PROTOCOL_ERROR = 0x1
    #: An internal error of the sender.
    INTERNAL_ERROR = 0x2
    #: The peer violated flow control.
    FLOW_CONTROL_ERROR = 0x3
    #: SETTINGS were not acknowledged in time.
    SETTINGS_TIMEOUT = 0x4
    #: A frame arrived for a stream that was already half-closed or closed.
    STREAM_CLOSED = 0x5
    #: A frame had an invalid size (too large, or wrong for its type).
    FRAME_SIZE_ERROR = 0x6
    #: The stream was refused before any processing: always safe to retry.
    REFUSED_STREAM = 0x7
    #: The stream is no longer needed.
    CANCEL = 0x8
    #: HPACK decoding failed (HTTP/2 only).
    COMPRESSION_ERROR = 0x9
    #: CONNECT failed (HTTP/2 only).
    CONNECT_ERROR = 0xA
    #: The peer is generating excessive load.
    ENHANCE_YOUR_CALM = 0xB
    #: Transport security is inadequate (HTTP/2 only).
    INADEQUATE_SECURITY = 0xC
    #: Use HTTP/1.1 instead (HTTP/2 only).
    HTTP_1_1_REQUIRED = 0xD
    #: mux/msgpack: the peer's preface names a protocol version we do not speak.
    UNSUPPORTED_VERSION = 0x100
    #: mux/msgpack: a HEADERS block exceeded the receiver's MAX_HEADER_LIST_SIZE.
    HEADER_LIST_TOO_LARGE = 0x101


#: Codes that say the peer did not process the stream, so a retry is safe.
RETRYABLE_CODES: Final = frozenset({ErrorCode.REFUSED_STREAM})


def code_from_int(code: int) -> ErrorCode | int:
    """Return the :class:`ErrorCode` for ``code``, or the int itself if unknown.

    Unknown codes from a peer must survive untouched (RFC 9113 §7), never crash.
    """
    try:
        return ErrorCode(code)
    except ValueError:
        return code


def code_name(code: ErrorCode | int) -> str:
    """A readable name for a code: ``PROTOCOL_ERROR`` or ``0x1234``."""
    return code.name if isinstance(code, ErrorCode) else f"0x{code:x}"


class MuxError(Exception):
    """Base class of every error raised by mux."""


class ProtocolError(MuxError):
    """A protocol violation. Abstract: raise a Local or Remote subclass.

    Attributes:
        code: the wire error code that describes the violation.
    """

    code: ErrorCode = ErrorCode.PROTOCOL_ERROR

    def __init__(self, message: str, code: ErrorCode | None = None) -> None:
        if type(self) is ProtocolError:
            raise TypeError("raise LocalProtocolError or RemoteProtocolError, not ProtocolError")
        # Plain words only: the message reaches GOAWAY debug data and logs.
        super().__init__(plain_text(message))
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{code_name(self.code)}: {self.args[0]}"


class LocalProtocolError(ProtocolError):
    """The local side (our caller) asked for something the protocol forbids."""


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol: a connection error.

    The core has already queued GOAWAY(code); the driver flushes and closes.
    """


class FrameSizeError(RemoteProtocolError):
    """A frame's length exceeds the limit or is wrong for its type."""

    code = ErrorCode.FRAME_SIZE_ERROR


class FlowControlError(RemoteProtocolError):
    """The peer sent beyond a window, or overflowed one."""

    code = ErrorCode.FLOW_CONTROL_ERROR


class CalmDownError(RemoteProtocolError):
    """The peer exceeded a flood budget (ENHANCE_YOUR_CALM)."""

    code = ErrorCode.ENHANCE_YOUR_CALM


class UnsupportedVersionError(RemoteProtocolError):
    """The peer's preface names a version we do not speak."""

    code = ErrorCode.UNSUPPORTED_VERSION


class LocalFlowControlError(LocalProtocolError):
    """The caller tried to send more than the peer's window allows."""

    code = ErrorCode.FLOW_CONTROL_ERROR


class StreamError(MuxError):
    """A stream ended abnormally.

    Attributes:
        stream_id: the stream.
        code: the RST_STREAM code (an unknown peer code survives as an int).
        remote: True when the peer reset the stream, False when we did.
    """

    def __init__(
        self, stream_id: int, code: ErrorCode | int, *, remote: bool, message: str = ""
    ) -> None:
        who = "peer" if remote else "local side"
        text = message or f"stream {stream_id} reset by {who} with {code_name(code)}"
        super().__init__(text)
        self.stream_id = stream_id
        self.code = code
        self.remote = remote


class StreamReset(StreamError):
    """The stream was reset (by the peer or by us)."""


class StreamRefused(StreamReset):
    """The peer refused the stream before processing it: safe to retry."""


class ConnectionClosed(MuxError):
    """The connection ended (GOAWAY, EOF, or a transport error).

    Attributes:
        code: the GOAWAY code, or None when the transport simply went away.
        last_stream_id: streams above this id were not processed (retryable);
            None when unknown (for example a bare EOF).
    """

    def __init__(
        self,
        message: str,
        *,
        code: ErrorCode | int | None = None,
        last_stream_id: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.last_stream_id = last_stream_id
