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
  is decoded from the *complete* payload, every ``max_*_len`` is bounded
  explicitly, a declared count is checked against the bytes remaining before
  msgpack sees it (:func:`decode_headers` says why), ext types and nested
  containers are rejected on their header, and every msgpack exception
  becomes a protocol error.

Frame header (10 bytes, big-endian): ``u32 length | u8 type | u8 flags | u32
stream id`` (the stream id's high bit is reserved: sent as 0, ignored).
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterable, Mapping
from itertools import islice
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
_U16: Final = struct.Struct(">H")
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


def _array_header(payload: bytes) -> tuple[int, int]:
    """``(declared element count, header size)`` of the msgpack array starting ``payload``.

    Raises:
        RemoteProtocolError: PROTOCOL_ERROR when ``payload`` does not start
            with a complete array header.
    """
    first = payload[0] if payload else -1
    if 0x90 <= first <= 0x9F:
        return first & 0x0F, 1
    if first == 0xDC and len(payload) >= 3:
        return _U16.unpack_from(payload, 1)[0], 3
    if first == 0xDD and len(payload) >= 5:
        return _U32.unpack_from(payload, 1)[0], 5
    raise _malformed("HEADERS", "not a msgpack array")


def decode_headers(payload: bytes) -> list[tuple[bytes, bytes]]:
    """Decode a HEADERS payload into ``[(name, value), ...]`` (octets, unvalidated).

    Only the *shape* is checked here (a flat array of even length whose elements
    are bin or str, no trailing bytes). Semantic rules (pseudo-headers, case)
    live in :mod:`mux.core.headers` because they are stream errors.

    Cost is linear in the payload (spec Section 11.3), which msgpack's own
    ``unpackb`` cannot promise here: msgpack-python preallocates a list of the
    *claimed* size as soon as it reads an array header, and its ``max_*_len``
    limits are one number for every depth. With ``max_array_len`` at the
    payload length, a 64 KiB frame of nested ``array32(65535)`` claims made it
    allocate ~80 MiB and spend ~100 ms before failing. So the top-level array
    header is read here and its claim checked against the bytes remaining
    (every element takes at least one byte), and the elements are then
    unpacked as a plain sequence of objects with ``max_array_len=0`` and
    ``max_map_len=0``: a nested container is refused on its header, before
    anything is allocated for it. A str/bin claim is only materialised once
    its bytes are all there, so it needs no scan of its own.

    Raises:
        RemoteProtocolError: PROTOCOL_ERROR for anything malformed.
    """
    count, start = _array_header(payload)
    n = len(payload)
    if count > n - start:
        raise _malformed(
            "HEADERS", f"array declares {count} elements in {n - start} remaining bytes"
        )
    if count % 2:
        raise _malformed("HEADERS", f"odd number of elements ({count})")
    if count == 0:
        if n != start:
            raise _malformed("HEADERS", f"{n - start} bytes after the array")
        return []
    unpacker = msgpack.Unpacker(
        None,
        raw=True,
        max_buffer_size=n,
        max_array_len=0,
        max_map_len=0,
        max_bin_len=n,
        max_str_len=n,
        max_ext_len=0,
    )
    unpacker.feed(memoryview(payload)[start:])
    try:
        items = list(islice(unpacker, count))
    except _MSGPACK_ERRORS as exc:
        raise _malformed("HEADERS", f"{type(exc).__name__}: {exc}") from None
    if len(items) != count:
        raise _malformed("HEADERS", f"truncated: {len(items)} of {count} elements")
    if unpacker.tell() != n - start:
        raise _malformed("HEADERS", f"{n - start - unpacker.tell()} bytes after the array")
    for item in items:
        if type(item) is not bytes:
            raise _malformed("HEADERS", f"element of type {type(item).__name__}, need bin/str")
    it = iter(items)
    return list(zip(it, it, strict=True))


# ---------------------------------------------------------------- SETTINGS


def encode_settings(settings: Mapping[int, int]) -> bytes:
    """Encode a SETTINGS payload: a msgpack map ``{uint id: uint value}``.

    Entries go out in ascending id order, the canonical encoding (spec Sections 1.2, 6).
    """
    packed: bytes = msgpack.packb(dict(sorted(settings.items())), use_bin_type=True)
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
