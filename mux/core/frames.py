"""Wire constants, the raw :class:`Frame` and the payload codecs of mux/msgpack v1.

Theory of operation
-------------------
This module is the *stateless* half of the framing (spec/mux-protocol.md
"Preface", "Frame header", "Frame types", "Headers payload", "SETTINGS",
"GOAWAY"). It knows byte layouts and nothing about connection state:

* :func:`encode_frame` builds any frame, legal or not, with no validation, so
  the conformance tester and the tests can send illegal input.
* The ``encode_*`` / ``decode_*`` helpers translate one payload. Decoders raise
  :class:`mux.errors.RemoteProtocolError` (``PROTOCOL_ERROR``) on anything
  malformed and never allocate more than the payload length justifies: msgpack
  is decoded from the *complete* payload with :func:`msgpack.unpackb`, every
  ``max_*_len`` is bounded explicitly, ext types and nested containers are
  rejected, and every msgpack exception (including ``StackError`` from a
  nesting bomb) becomes a protocol error.

Frame header (10 bytes, big-endian): ``u32 length | u8 type | u8 flags | u32
stream id`` (the stream id's high bit is reserved: sent as 0, ignored).
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterable, Mapping
from typing import Final

import attrs
import msgpack

from mux.errors import ErrorCode, RemoteProtocolError

#: First 7 bytes each side sends: 0x89 is not an HTTP token byte, so a listener
#: tells mux from HTTP/1.1 and HTTP/2 ("PRI ...") by the first byte.
PREFACE_MAGIC: Final = b"\x89MUX\r\n\x1a"
#: The protocol version this implementation speaks (the 8th preface byte).
VERSION: Final = 1
#: The whole 8-byte preface we send.
PREFACE: Final = PREFACE_MAGIC + bytes([VERSION])
#: Length of the preface in bytes.
PREFACE_SIZE: Final = 8
#: Bytes in a frame header: u32 length, u8 type, u8 flags, u32 stream id.
FRAME_HEADER_SIZE: Final = 10
#: Largest stream id (31 bits; the high bit of the field is reserved).
MAX_STREAM_ID: Final = 2**31 - 1
#: Largest flow-control window (31 bits), as in HTTP/2.
MAX_WINDOW: Final = 2**31 - 1
#: Most entries accepted in one SETTINGS frame (nghttp2 CVE-2020-11080 workaround).
MAX_SETTINGS_ENTRIES: Final = 32
#: Mask that clears the reserved high bit of stream ids and increments.
STREAM_ID_MASK: Final = 0x7FFFFFFF

#: The frame header layout; ``unpack_from`` reads it in place from the buffer.
HEADER_STRUCT: Final = struct.Struct(">IBBI")
_U32: Final = struct.Struct(">I")
_U32_PAIR: Final = struct.Struct(">II")


class FrameType(enum.IntEnum):
    """Frame types of v1. Any other value is an unknown type (ignored)."""

    DATA = 0x0
    HEADERS = 0x1
    RST_STREAM = 0x2
    SETTINGS = 0x3
    PING = 0x4
    GOAWAY = 0x5
    WINDOW_UPDATE = 0x6


class Flag(enum.IntFlag):
    """Frame flags. END_STREAM (DATA, HEADERS) and ACK (SETTINGS, PING) share 0x1."""

    END_STREAM = 0x1
    ACK = 0x1  # deliberate alias: same bit, different frame types


#: Plain-int copies for the hot path (IntFlag arithmetic is slow).
END_STREAM: Final = 0x1
ACK: Final = 0x1


@attrs.frozen
class Frame:
    """One raw frame of any type, as it came off (or goes onto) the wire."""

    #: Frame type; may be a value outside :class:`FrameType` (unknown type).
    type: int
    #: Flag bits (unknown bits are kept; receivers ignore them).
    flags: int
    #: Stream id with the reserved high bit cleared.
    stream_id: int
    #: The payload bytes (``length`` is ``len(payload)``).
    payload: bytes = b""

    def encode(self) -> bytes:
        """Return the frame's wire bytes (header + payload)."""
        return encode_frame(self.type, self.flags, self.stream_id, self.payload)


def encode_frame(frame_type: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    """Build one frame's bytes with no validation at all (illegal frames allowed).

    Raises:
        struct.error: only if a field does not fit its width (e.g. type > 255).
    """
    return HEADER_STRUCT.pack(len(payload), frame_type, flags, stream_id) + payload


#: Everything msgpack may raise on hostile input: ``ValueError`` (length claims
#: over a ``max_*_len``, ``ExtraData``, ``FormatError``, ``StackError`` from a
#: nesting bomb, incomplete input) and ``UnpackException`` (``OutOfData``);
#: ``RecursionError`` only with the pure-Python fallback unpacker.
_MSGPACK_ERRORS: Final = (ValueError, msgpack.UnpackException, RecursionError)


def _malformed(what: str, detail: object) -> RemoteProtocolError:
    return RemoteProtocolError(f"malformed {what} payload: {detail}", ErrorCode.PROTOCOL_ERROR)


# ---------------------------------------------------------------- u32 payloads


def encode_u32(value: int) -> bytes:
    """Encode an RST_STREAM error code or a WINDOW_UPDATE increment."""
    return _U32.pack(value)


def decode_u32(payload: bytes) -> int:
    """Decode a 4-byte big-endian payload (the caller checked the length).

    Raises:
        RemoteProtocolError: FRAME_SIZE_ERROR when the payload is not 4 bytes.
    """
    if len(payload) != 4:
        raise RemoteProtocolError(
            f"u32 payload must be 4 bytes, got {len(payload)}", ErrorCode.FRAME_SIZE_ERROR
        )
    value: int = _U32.unpack(payload)[0]
    return value


# ---------------------------------------------------------------- GOAWAY


def encode_goaway(last_stream_id: int, code: int, debug: bytes = b"") -> bytes:
    """Encode a GOAWAY payload: u32 last stream id, u32 code, debug bytes."""
    return _U32_PAIR.pack(last_stream_id, code) + debug


def decode_goaway(payload: bytes) -> tuple[int, int, bytes]:
    """Decode a GOAWAY payload into ``(last_stream_id, code, debug)``.

    The reserved high bit of ``last_stream_id`` is ignored.

    Raises:
        RemoteProtocolError: FRAME_SIZE_ERROR when shorter than 8 bytes.
    """
    if len(payload) < 8:
        raise RemoteProtocolError(
            f"GOAWAY payload must be at least 8 bytes, got {len(payload)}",
            ErrorCode.FRAME_SIZE_ERROR,
        )
    last, code = _U32_PAIR.unpack_from(payload)
    return last & STREAM_ID_MASK, code, bytes(payload[8:])


# ---------------------------------------------------------------- HEADERS


def encode_headers(headers: Iterable[tuple[bytes | str, bytes | str]]) -> bytes:
    """Encode headers as a flat msgpack array ``[n0, v0, n1, v1, ...]`` of bin.

    ``str`` names/values are UTF-8 encoded, so they too go out as ``bin``.
    """
    flat: list[bytes] = []
    append = flat.append
    for name, value in headers:
        append(name if isinstance(name, bytes) else name.encode())
        append(value if isinstance(value, bytes) else value.encode())
    packed: bytes = msgpack.packb(flat, use_bin_type=True)
    return packed


def _is_array_marker(first: int) -> bool:
    return 0x90 <= first <= 0x9F or first in (0xDC, 0xDD)


def decode_headers(payload: bytes) -> list[tuple[bytes, bytes]]:
    """Decode a HEADERS payload into ``[(name, value), ...]`` (octets, unvalidated).

    Only the *shape* is checked here (a flat array of even length whose elements
    are bin or str, no trailing bytes). Semantic rules (pseudo-headers, case)
    live in :mod:`mux.core.headers` because they are stream errors.

    Raises:
        RemoteProtocolError: PROTOCOL_ERROR for anything malformed.
    """
    if not payload or not _is_array_marker(payload[0]):
        raise _malformed("HEADERS", "not a msgpack array")
    n = len(payload)
    try:
        items = msgpack.unpackb(
            payload,
            raw=True,
            use_list=True,
            max_array_len=n,
            max_bin_len=n,
            max_str_len=n,
            max_map_len=0,
            max_ext_len=0,
        )
    except _MSGPACK_ERRORS as exc:
        raise _malformed("HEADERS", f"{type(exc).__name__}: {exc}") from None
    if len(items) % 2:
        raise _malformed("HEADERS", f"odd number of elements ({len(items)})")
    for item in items:
        if type(item) is not bytes:
            raise _malformed("HEADERS", f"element of type {type(item).__name__}, need bin/str")
    it = iter(items)
    return list(zip(it, it, strict=True))


# ---------------------------------------------------------------- SETTINGS


def encode_settings(settings: Mapping[int, int]) -> bytes:
    """Encode a SETTINGS payload: a msgpack map ``{uint id: uint value}``."""
    packed: bytes = msgpack.packb(dict(settings), use_bin_type=True)
    return packed


def decode_settings(payload: bytes) -> dict[int, int]:
    """Decode a (non-ACK) SETTINGS payload into ``{id: value}``.

    Rejected with PROTOCOL_ERROR: not a map (an empty payload included), more
    than :data:`MAX_SETTINGS_ENTRIES` entries, keys or values that are not
    non-negative integers (booleans included), duplicate keys, trailing bytes.
    Value *ranges* are checked by :mod:`mux.core.settings`.

    Raises:
        RemoteProtocolError: PROTOCOL_ERROR for anything malformed.
    """
    if not payload or not (0x80 <= payload[0] <= 0x8F or payload[0] in (0xDE, 0xDF)):
        raise _malformed("SETTINGS", "not a msgpack map")
    try:
        pairs = msgpack.unpackb(
            payload,
            raw=True,
            strict_map_key=False,
            object_pairs_hook=list,
            max_map_len=MAX_SETTINGS_ENTRIES,
            max_array_len=0,
            max_bin_len=0,
            max_str_len=0,
            max_ext_len=0,
        )
    except ValueError as exc:
        if "max_map_len" in str(exc):
            raise _malformed("SETTINGS", f"more than {MAX_SETTINGS_ENTRIES} entries") from None
        raise _malformed("SETTINGS", f"{type(exc).__name__}: {exc}") from None
    except _MSGPACK_ERRORS as exc:
        raise _malformed("SETTINGS", f"{type(exc).__name__}: {exc}") from None
    result: dict[int, int] = {}
    for key, value in pairs:
        if type(key) is not int or type(value) is not int or key < 0 or value < 0:
            raise _malformed("SETTINGS", f"entry {key!r}: {value!r} is not uint: uint")
        if key in result:
            raise _malformed("SETTINGS", f"duplicate setting id {key}")
        result[key] = value
    return result
