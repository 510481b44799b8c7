"""Wire encoding: constants, frame builders and a readable summary of bytes."""

from __future__ import annotations

import struct
from typing import Any

import msgpack

# ----------------------------------------------------------------- wire constants

PREFACE = b"\x89MUX\r\n\x1a\x01"
TYPES = {
    "DATA": 0x0,
    "HEADERS": 0x1,
    "RST_STREAM": 0x2,
    "SETTINGS": 0x3,
    "PING": 0x4,
    "GOAWAY": 0x5,
    "WINDOW_UPDATE": 0x6,
}
TYPE_NAMES = {v: k for k, v in TYPES.items()}
CODES = {
    "NO_ERROR": 0x0,
    "PROTOCOL_ERROR": 0x1,
    "INTERNAL_ERROR": 0x2,
    "FLOW_CONTROL_ERROR": 0x3,
    "SETTINGS_TIMEOUT": 0x4,
    "STREAM_CLOSED": 0x5,
    "FRAME_SIZE_ERROR": 0x6,
    "REFUSED_STREAM": 0x7,
    "CANCEL": 0x8,
    "COMPRESSION_ERROR": 0x9,
    "CONNECT_ERROR": 0xA,
    "ENHANCE_YOUR_CALM": 0xB,
    "INADEQUATE_SECURITY": 0xC,
    "HTTP_1_1_REQUIRED": 0xD,
    "UNSUPPORTED_VERSION": 0x100,
    "HEADER_LIST_TOO_LARGE": 0x101,
}
CODE_NAMES = {v: k for k, v in CODES.items()}
SETTINGS = {
    "MAX_CONCURRENT_STREAMS": 0x1,
    "INITIAL_STREAM_WINDOW": 0x2,
    "CONNECTION_WINDOW": 0x3,
    "MAX_FRAME_SIZE": 0x4,
    "MAX_HEADER_LIST_SIZE": 0x5,
    "KEEPALIVE_INTERVAL": 0x6,
}
SETTING_NAMES = {v: k for k, v in SETTINGS.items()}
END_STREAM = ACK = 0x1
U31 = 2**31 - 1
DEFAULT_SETTINGS = {  # the value of every setting before any SETTINGS (section 6.1)
    "MAX_CONCURRENT_STREAMS": 100,
    "INITIAL_STREAM_WINDOW": 262144,
    "CONNECTION_WINDOW": 1048576,
    "MAX_FRAME_SIZE": 65536,
    "MAX_HEADER_LIST_SIZE": 65536,
    "KEEPALIVE_INTERVAL": 0,
}
MAX_SETTINGS = {  # the upper bound of every setting's range
    "MAX_CONCURRENT_STREAMS": U31,
    "INITIAL_STREAM_WINDOW": U31,
    "CONNECTION_WINDOW": U31,
    "MAX_FRAME_SIZE": 16777215,
    "MAX_HEADER_LIST_SIZE": 2**32 - 1,
    "KEEPALIVE_INTERVAL": 2**32 - 1,
}

# ----------------------------------------------------------------- frame builders


def frame(
    ftype: int, flags: int, sid: int, payload: bytes = b"", length: int | None = None
) -> bytes:
    """One frame; ``length`` overrides the header's length field (header-only frames)."""
    n = len(payload) if length is None else length
    return struct.pack(">IBBI", n, ftype, flags, sid) + payload


def hlist(pairs: list[tuple[str, str]], as_str: bool = False) -> bytes:
    """A header-list payload: flat msgpack array of bin (or str when ``as_str``)."""
    flat: list[Any] = []
    for name, value in pairs:
        flat += [name, value] if as_str else [name.encode(), value.encode()]
    packed: bytes = msgpack.packb(flat, use_bin_type=True)
    return packed


def settings_payload(values: dict[str, int] | dict[int, int], ordered: bool = True) -> bytes:
    """A SETTINGS map; ``ordered``: entries in ascending id order (the canonical encoding,
    spec 1.2/6), else in the order of ``values``."""
    ids = {SETTINGS.get(k, k) if isinstance(k, str) else k: v for k, v in values.items()}
    packed: bytes = msgpack.packb(dict(sorted(ids.items())) if ordered else ids)
    return packed


def data(sid: int, body: bytes, es: bool = False, flags: int = 0) -> bytes:
    return frame(0x0, flags | (END_STREAM if es else 0), sid, body)


def headers(sid: int, pairs: list[tuple[str, str]], es: bool = False, flags: int = 0) -> bytes:
    return frame(0x1, flags | (END_STREAM if es else 0), sid, hlist(pairs))


def raw_headers(sid: int, payload: bytes, es: bool = False) -> bytes:
    return frame(0x1, END_STREAM if es else 0, sid, payload)


def rst(sid: int, code: int | str) -> bytes:
    return frame(
        0x2, 0, sid, struct.pack(">I", CODES.get(code, code) if isinstance(code, str) else code)
    )


def settings(values: dict[Any, int] | None = None, flags: int = 0, ordered: bool = True) -> bytes:
    return frame(0x3, flags, 0, settings_payload(values or {}, ordered))


SETTINGS_ACK = frame(0x3, ACK, 0)


def ping(body: bytes, ack: bool = False) -> bytes:
    return frame(0x4, ACK if ack else 0, 0, body)


def goaway(last: int, code: str | int, debug: bytes = b"") -> bytes:
    c = CODES[code] if isinstance(code, str) else code
    return frame(0x5, 0, 0, struct.pack(">II", last, c) + debug)


def window_update(sid: int, inc: int) -> bytes:
    return frame(0x6, 0, sid, struct.pack(">I", inc))


#: Requests go to ``/sink``: a server under test routes it to a handler that reads the
#: whole request body and answers only after END_STREAM (spec/README.md, "What the
#: application does"), so no early response or reset mixes into the expected frames.
REQ = [(":method", "GET"), (":path", "/sink")]
POST = [(":method", "POST"), (":path", "/sink")]
RESP = [(":status", "200")]
CLIENT_START = PREFACE + settings()
SERVER_START = PREFACE + settings()
ALIVE = b"alive!!!"

# ----------------------------------------------------------------- description of bytes


def describe(buf: bytes) -> str:
    """Human-readable summary of a byte string (preface + frames) for ``note`` fields."""
    parts: list[str] = []
    i = 0
    if buf.startswith(b"\x89MUX\r\n\x1a") and len(buf) >= 8:
        parts.append(f"PREFACE v{buf[7]}")
        i = 8
    elif i == 0 and len(buf) >= 8 and not buf.startswith(b"\x00"):
        parts.append(f"raw {buf[:8]!r}")
        i = 8
    while i + 10 <= len(buf):
        n, t, f, s = struct.unpack_from(">IBBI", buf, i)
        payload = buf[i + 10 : i + 10 + n]
        name = TYPE_NAMES.get(t, f"type 0x{t:02x}")
        bits = [name, f"s{s & U31}"]
        if f:
            bits.append(f"flags=0x{f:02x}")
        bits.append(
            f"len={n}" + ("" if len(payload) == n else f" (only {len(payload)} bytes follow)")
        )
        parts.append(" ".join(bits))
        i += 10 + len(payload)
    return "; ".join(parts)
