"""gRPC over HTTP/2 wire details shared by the handler layer and the gRPC helper.

Theory of operation
-------------------
gRPC (PROTOCOL-HTTP2.md of grpc/grpc) is plain HTTP/2 with conventions this
module encodes, pure functions and no I/O:

* a request is gRPC when its ``content-type`` is ``application/grpc`` or
  ``application/grpc+<subtype>`` (:func:`is_grpc`);
* ``grpc-timeout`` is 1..8 ASCII digits and one unit letter ``H M S m u n``
  (:func:`parse_grpc_timeout`); the server turns it into a stream deadline
  exactly like ``mux-timeout``;
* the status travels in trailers (``grpc-status``, percent-encoded
  ``grpc-message``); an error before any message is a *trailers-only* response:
  one HEADERS frame with ``:status 200``, the content type and the status
  (:func:`trailers_only`);
* messages are length-prefixed: 1 byte compressed flag, 4 bytes big-endian
  length, payload (:func:`encode_message`, :class:`MessageDecoder`).
"""

from __future__ import annotations

import enum
import re
from typing import Final

from mux.core.events import Headers
from mux.wording import quote_bytes

#: Largest message accepted by default (bytes), as grpcio's default.
DEFAULT_MAX_MESSAGE = 4 * 1024 * 1024
CONTENT_TYPE: Final = b"application/grpc"

_TIMEOUT_RE: Final = re.compile(rb"([0-9]{1,8})([HMSmun])")
_UNIT_SECONDS: Final = {
    b"H": 3600.0,
    b"M": 60.0,
    b"S": 1.0,
    b"m": 1e-3,
    b"u": 1e-6,
    b"n": 1e-9,
}
_UNRESERVED: Final = frozenset(range(0x20, 0x7F)) - {ord("%")}


class StatusCode(enum.IntEnum):
    """gRPC status codes (grpc/doc/statuscodes.md)."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    RESOURCE_EXHAUSTED = 8
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14


#: HTTP status of a handler failure → gRPC status (trailers-only answer).
_FROM_HTTP: Final = {
    400: StatusCode.INVALID_ARGUMENT,
    404: StatusCode.UNIMPLEMENTED,
    405: StatusCode.UNIMPLEMENTED,
    413: StatusCode.RESOURCE_EXHAUSTED,
    415: StatusCode.INTERNAL,
    500: StatusCode.INTERNAL,
    503: StatusCode.UNAVAILABLE,
    504: StatusCode.DEADLINE_EXCEEDED,
}


class GrpcWireError(ValueError):
    """Malformed gRPC framing or metadata from the peer."""

    def __init__(self, code: StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def is_grpc(headers: Headers | None) -> bool:
    """True when ``content-type`` says gRPC."""
    for name, value in headers or ():
        if name == b"content-type":
            return value == CONTENT_TYPE or value.startswith(CONTENT_TYPE + b"+")
    return False


def parse_grpc_timeout(value: bytes) -> float:
    """Seconds of a ``grpc-timeout`` value such as ``100m`` or ``5S``.

    Raises:
        ValueError: not 1..8 digits followed by one of ``H M S m u n``.
    """
    match = _TIMEOUT_RE.fullmatch(value)
    if match is None:
        shown = quote_bytes(value)
        raise ValueError(f"invalid grpc-timeout {shown}: 1-8 digits and a unit H/M/S/m/u/n")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def status_for_http(status: int) -> StatusCode:
    """The gRPC status reported for an HTTP error status."""
    return _FROM_HTTP.get(status, StatusCode.UNKNOWN)


def encode_grpc_message(message: str) -> bytes:
    """Percent-encode ``grpc-message`` (UTF-8; printable ASCII but ``%`` kept)."""
    return b"".join(
        bytes([b]) if b in _UNRESERVED else b"%%%02X" % b for b in message.encode("utf-8")
    )


def status_trailers(code: StatusCode | int, message: str = "") -> Headers:
    """``grpc-status`` (and ``grpc-message`` when non-empty) trailers."""
    trailers: Headers = [(b"grpc-status", str(int(code)).encode())]
    if message:
        trailers.append((b"grpc-message", encode_grpc_message(message)))
    return trailers


def trailers_only(code: StatusCode | int, message: str = "") -> Headers:
    """The single HEADERS block of a trailers-only response (with ``:status``)."""
    return [(b":status", b"200"), (b"content-type", CONTENT_TYPE), *status_trailers(code, message)]


def encode_message(payload: bytes) -> bytes:
    """One length-prefixed, uncompressed message."""
    return b"\x00" + len(payload).to_bytes(4, "big") + payload


class MessageDecoder:
    """Split a body into length-prefixed messages as bytes arrive.

    Args:
        max_message: larger messages raise RESOURCE_EXHAUSTED (checked on the
            5-byte prefix, before the payload is buffered).
    """

    __slots__ = ("_buffer", "_max")

    def __init__(self, max_message: int = DEFAULT_MAX_MESSAGE) -> None:
        self._buffer = bytearray()
        self._max = max_message

    def feed(self, data: bytes) -> list[bytes]:
        """Add body bytes; return the messages now complete.

        Raises:
            GrpcWireError: a compressed message (no grpc-encoding is
                negotiated) or one larger than the limit.
        """
        buffer = self._buffer
        buffer += data
        out: list[bytes] = []
        while len(buffer) >= 5:
            if buffer[0] not in (0, 1):
                raise GrpcWireError(StatusCode.INTERNAL, f"bad compressed flag {buffer[0]}")
            if buffer[0] == 1:
                raise GrpcWireError(StatusCode.UNIMPLEMENTED, "compressed messages not supported")
            size = int.from_bytes(buffer[1:5], "big")
            if size > self._max:
                raise GrpcWireError(
                    StatusCode.RESOURCE_EXHAUSTED, f"message of {size} bytes > {self._max}"
                )
            if len(buffer) < 5 + size:
                break
            out.append(bytes(buffer[5 : 5 + size]))
            del buffer[: 5 + size]
        return out

    @property
    def pending(self) -> int:
        """Bytes of an incomplete message (non-zero at end of body = truncated)."""
        return len(self._buffer)
