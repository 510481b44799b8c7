"""Generate the mux/msgpack v1 test vectors (spec/vectors/{frames,sessions}/*.json).

Theory of operation
-------------------
This script is an *independent* statement of the wire format: it builds every
byte with :mod:`struct` and :mod:`msgpack` only and never imports mux, so a bug
in mux's own codec cannot leak into the vectors. Output is deterministic
(sorted keys, fixed indentation), so ``python spec/vectors/generate.py`` followed
by ``git diff`` shows nothing unless a vector changed.

Two kinds of vector (format: spec/README.md, schema: spec/vectors/schema.json):

* frame vectors: one valid frame (or the preface), its hex and its decoded meaning;
* session vectors: a scripted exchange against an implementation in a role, and
  the frames (or the error) it must produce.

Run: ``python spec/vectors/generate.py`` (from anywhere).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import msgpack

OUT = Path(__file__).resolve().parent

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


def settings_payload(values: dict[str, int] | dict[int, int]) -> bytes:
    packed: bytes = msgpack.packb(
        {SETTINGS.get(k, k) if isinstance(k, str) else k: v for k, v in values.items()}
    )
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


def settings(values: dict[Any, int] | None = None, flags: int = 0) -> bytes:
    return frame(0x3, flags, 0, settings_payload(values or {}))


SETTINGS_ACK = frame(0x3, ACK, 0)


def ping(body: bytes, ack: bool = False) -> bytes:
    return frame(0x4, ACK if ack else 0, 0, body)


def goaway(last: int, code: str | int, debug: bytes = b"") -> bytes:
    c = CODES[code] if isinstance(code, str) else code
    return frame(0x5, 0, 0, struct.pack(">II", last, c) + debug)


def window_update(sid: int, inc: int) -> bytes:
    return frame(0x6, 0, sid, struct.pack(">I", inc))


REQ = [(":method", "GET"), (":path", "/")]
POST = [(":method", "POST"), (":path", "/upload")]
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


# ----------------------------------------------------------------- vector registries

FRAME_FILES: dict[str, list[dict[str, Any]]] = {}
SESSION_FILES: dict[str, list[dict[str, Any]]] = {}


def code_meaning(code: int) -> dict[str, Any]:
    return {"error_code": CODE_NAMES.get(code, f"0x{code:x}"), "error_code_value": code}


def typed_payload(ftype: int, flags: int, payload: bytes) -> dict[str, Any]:
    """Decoded meaning of a valid frame payload (independent of mux's code)."""
    if ftype in (0x0, 0x4) or ftype not in TYPE_NAMES:
        return {"data": payload.hex()}
    if ftype == 0x1:
        items = msgpack.unpackb(payload, raw=True)
        it = iter(items)
        return {"headers": [[n.decode(), v.decode()] for n, v in zip(it, it, strict=True)]}
    if ftype == 0x2:
        return code_meaning(struct.unpack(">I", payload)[0])
    if ftype == 0x3:
        if flags & ACK:
            return {"settings": {}}
        m = msgpack.unpackb(payload, strict_map_key=False)
        return {"settings": {SETTING_NAMES.get(k, f"0x{k:x}"): v for k, v in m.items()}}
    if ftype == 0x5:
        last, code = struct.unpack_from(">II", payload)
        return {"last_stream_id": last & U31, **code_meaning(code), "debug_data": payload[8:].hex()}
    return {"increment": struct.unpack(">I", payload)[0] & U31}


def add_frame(
    file: str,
    vid: str,
    section: str,
    desc: str,
    raw: bytes,
    direction: str = "both",
    canonical: bool = True,
) -> None:
    n, t, f, s = struct.unpack_from(">IBBI", raw)
    payload = raw[10:]
    assert n == len(payload), vid
    names = []
    if t in (0x0, 0x1) and f & END_STREAM:
        names.append("END_STREAM")
    if t in (0x3, 0x4) and f & ACK:
        names.append("ACK")
    meaning = {
        "type": TYPE_NAMES.get(t, "UNKNOWN"),
        "type_code": t,
        "flags": f,
        "flag_names": names,
        "stream_id": s & U31,
        "length": n,
        "payload": typed_payload(t, f, payload),
    }
    FRAME_FILES.setdefault(file, []).append(
        {
            "id": vid,
            "section": section,
            "description": desc,
            "direction": direction,
            "hex": raw.hex(),
            "canonical": canonical,
            "frame": meaning,
        }
    )


def recv(*chunks: bytes) -> dict[str, Any]:
    buf = b"".join(chunks)
    return {"recv": buf.hex(), "note": describe(buf)}


def add_session(
    file: str,
    vid: str,
    section: str,
    desc: str,
    role: str,
    steps: list[dict[str, Any]],
    expect: dict[str, Any],
    local_settings: dict[str, int] | None = None,
    heavy: bool = False,
) -> None:
    first = bytes.fromhex(next(s["recv"] for s in steps if "recv" in s))
    assert (first.startswith(PREFACE) and first[12] == 0x3) or file == "preface", vid
    vec: dict[str, Any] = {
        "id": vid,
        "section": section,
        "description": desc,
        "role": role,
        "steps": steps,
        "expect": expect,
    }
    if local_settings:
        vec["local_settings"] = local_settings
    if heavy:
        vec["heavy"] = True
    SESSION_FILES.setdefault(file, []).append(vec)


def conn_error(code: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"scope": "connection", "code": code, **extra}}


def stream_error(sid: int, code: str) -> dict[str, Any]:
    """A stream error; the trailing PING proves the connection still works."""
    return {
        "error": {"scope": "stream", "stream_id": sid, "code": code},
        "frames": [
            {"type": "RST_STREAM", "stream_id": sid, "error_code": code},
            {"type": "PING", "ack": True, "data": ALIVE.hex()},
        ],
        "absent": [{"type": "GOAWAY"}],
    }


def alive(*frames_: dict[str, Any], absent: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Frames expected, then the PONG of the trailing PING; no GOAWAY, plus ``absent``."""
    return {
        "frames": [*frames_, {"type": "PING", "ack": True, "data": ALIVE.hex()}],
        "absent": [{"type": "GOAWAY"}, *(absent or [])],
    }


def s_recv(*chunks: bytes) -> dict[str, Any]:
    """A server-role recv step starting with the client preface + SETTINGS."""
    return recv(CLIENT_START, *chunks)


def c_recv(*chunks: bytes) -> dict[str, Any]:
    return recv(SERVER_START, *chunks)


def respond(sid: int, es: bool = True) -> dict[str, Any]:
    return {
        "send_headers": {"stream_id": sid, "headers": [list(p) for p in RESP], "end_stream": es}
    }


def open_stream(
    pairs: list[tuple[str, str]] = REQ, es: bool = False, **extra: Any
) -> dict[str, Any]:
    return {"open_stream": {"headers": [list(p) for p in pairs], "end_stream": es}, **extra}


P = ping(ALIVE)  # the liveness probe appended to stream-error vectors

# ----------------------------------------------------------------- frame vectors


def frame_vectors() -> None:
    FRAME_FILES["preface"] = [
        {
            "id": "preface-v1",
            "section": "2.2",
            "direction": "both",
            "hex": PREFACE.hex(),
            "canonical": True,
            "description": "The 8-byte preface: magic 89 4D 55 58 0D 0A 1A, version 01.",
            "frame": {"type": "PREFACE", "magic": PREFACE[:7].hex(), "version": 1},
        }
    ]
    f = "data"
    add_frame(f, "data-basic", "4.1", "DATA on stream 1, no flags.", data(1, b"hello"))
    add_frame(f, "data-end-stream", "4.1", "DATA with END_STREAM.", data(3, b"bye", es=True))
    add_frame(
        f,
        "data-empty-end-stream",
        "4.1",
        "Empty DATA that only ends the stream.",
        data(5, b"", es=True),
    )
    add_frame(f, "data-binary", "4.1", "DATA payload is opaque bytes.", data(1, bytes(range(256))))
    add_frame(f, "data-high-stream-id", "3.1", "Largest stream id 2^31-1.", data(U31, b"x"))
    add_frame(
        f,
        "data-reserved-bit-set",
        "3.1",
        "Reserved bit 31 of the stream id is ignored: stream 1.",
        frame(0x0, 0, 0x80000001, b"x"),
        canonical=False,
    )
    add_frame(
        f,
        "data-unknown-flags",
        "3.4",
        "Undefined flag bits (0xFE) are ignored.",
        frame(0x0, 0xFE, 1, b"x"),
        canonical=False,
    )
    f = "headers"
    add_frame(
        f,
        "headers-request",
        "5.3",
        "A GET request that ends the stream (bin elements).",
        headers(
            1,
            [
                (":method", "GET"),
                (":path", "/hi"),
                (":scheme", "https"),
                (":authority", "a.example"),
            ],
            es=True,
        ),
        "client-to-server",
    )
    add_frame(
        f,
        "headers-request-with-body",
        "5.3",
        "A POST request with a regular field; body follows.",
        headers(3, [*POST, ("content-type", "application/json"), ("mux-timeout", "1500")]),
        "client-to-server",
    )
    add_frame(
        f,
        "headers-response",
        "5.4",
        "A response header list.",
        headers(1, [(":status", "200"), ("content-type", "text/plain")]),
        "server-to-client",
    )
    add_frame(
        f,
        "headers-trailers",
        "5.5",
        "Trailers: END_STREAM, no pseudo-headers.",
        headers(1, [("grpc-status", "0"), ("grpc-message", "")], es=True),
        "both",
    )
    add_frame(
        f,
        "headers-str-elements",
        "5.1",
        "Elements encoded as msgpack str are accepted as octets.",
        frame(0x1, END_STREAM, 1, hlist(REQ, as_str=True)),
        "client-to-server",
        canonical=False,
    )
    add_frame(
        f,
        "headers-bin16-value",
        "5.1",
        "A 300-byte value uses bin 16.",
        headers(1, [*RESP, ("x-big", "v" * 300)]),
        "server-to-client",
    )
    add_frame(
        f,
        "headers-empty-list",
        "5.1",
        "The empty array 90 is a well-formed header list.",
        frame(0x1, END_STREAM, 1, b"\x90"),
        "both",
    )
    f = "rst_stream"
    for name, code in CODES.items():
        add_frame(
            f,
            f"rst-stream-{name.lower().replace('_', '-')}",
            "10.3",
            f"RST_STREAM with {name} (0x{code:x}).",
            rst(1, code),
        )
    add_frame(
        f,
        "rst-stream-unknown-code",
        "4.3",
        "Unknown code 0x1234 is kept as an integer.",
        rst(3, 0x1234),
    )
    f = "settings"
    add_frame(f, "settings-empty", "6", "SETTINGS with an empty map: all defaults.", settings())
    add_frame(
        f,
        "settings-all",
        "6.1",
        "Every defined setting, ids in ascending order.",
        settings(
            {
                "MAX_CONCURRENT_STREAMS": 100,
                "INITIAL_STREAM_WINDOW": 262144,
                "CONNECTION_WINDOW": 1048576,
                "MAX_FRAME_SIZE": 65536,
                "MAX_HEADER_LIST_SIZE": 65536,
                "KEEPALIVE_INTERVAL": 0,
            }
        ),
    )
    add_frame(
        f,
        "settings-max-values",
        "6.1",
        "Upper bounds of every range.",
        settings(
            {
                "MAX_CONCURRENT_STREAMS": U31,
                "INITIAL_STREAM_WINDOW": U31,
                "CONNECTION_WINDOW": U31,
                "MAX_FRAME_SIZE": 16777215,
                "MAX_HEADER_LIST_SIZE": 2**32 - 1,
                "KEEPALIVE_INTERVAL": 2**32 - 1,
            }
        ),
    )
    add_frame(
        f,
        "settings-unknown-id",
        "6",
        "An unknown id (0x99) is carried and ignored.",
        settings({0x99: 7, "MAX_CONCURRENT_STREAMS": 10}),
    )
    add_frame(f, "settings-ack", "4.4", "SETTINGS ACK: empty payload.", SETTINGS_ACK)
    f = "ping"
    add_frame(f, "ping", "4.5", "PING with 8 opaque bytes.", ping(bytes(range(1, 9))))
    add_frame(
        f, "ping-ack", "4.5", "PING ACK echoes the 8 bytes.", ping(bytes(range(1, 9)), ack=True)
    )
    f = "goaway"
    add_frame(
        f, "goaway-no-error", "4.6", "Final GOAWAY of a graceful shutdown.", goaway(7, "NO_ERROR")
    )
    add_frame(
        f,
        "goaway-graceful-first",
        "9.1",
        "First step of a graceful shutdown: last_stream_id 2^31-1.",
        goaway(U31, "NO_ERROR"),
        "server-to-client",
    )
    add_frame(
        f,
        "goaway-debug",
        "4.6",
        "GOAWAY with debug text.",
        goaway(3, "FRAME_SIZE_ERROR", b"frame length 70000 exceeds MAX_FRAME_SIZE 65536"),
    )
    add_frame(
        f,
        "goaway-unsupported-version",
        "2.3",
        "Answer to a preface of version 2.",
        goaway(0, "UNSUPPORTED_VERSION", b"unsupported version 2; supported: 1"),
        "server-to-client",
    )
    add_frame(
        f,
        "goaway-enhance-your-calm",
        "11.2",
        "GOAWAY after a flood.",
        goaway(9, "ENHANCE_YOUR_CALM"),
    )
    add_frame(
        f, "goaway-unknown-code", "10.3", "Unknown code kept as an integer.", goaway(1, 0xABCD)
    )
    f = "window_update"
    add_frame(f, "window-update-stream", "4.7", "Credit for stream 1.", window_update(1, 32768))
    add_frame(
        f,
        "window-update-connection",
        "4.7",
        "Credit for the connection (stream 0).",
        window_update(0, 524288),
    )
    add_frame(f, "window-update-max", "4.7", "Largest increment 2^31-1.", window_update(3, U31))
    add_frame(
        f,
        "window-update-reserved-bit",
        "4.7",
        "Reserved bit 31 of the increment is ignored: 5.",
        window_update(1, 0x80000005),
        canonical=False,
    )
    f = "unknown"
    add_frame(
        f,
        "unknown-type",
        "3.4",
        "Type 0xEE is unknown: ignored by receivers.",
        frame(0xEE, 0x5A, 0, b"future"),
    )
    add_frame(
        f,
        "unknown-type-on-stream",
        "3.4",
        "Unknown type on a stream id: does not open it.",
        frame(0x07, 0, 5, b""),
    )


# ----------------------------------------------------------------- session vectors


def preface_sessions() -> None:
    f = "preface"
    add_session(
        f,
        "server-happy-path",
        "2.2",
        "Request then response: SETTINGS, ACK and HEADERS appear.",
        "server",
        [s_recv(SETTINGS_ACK, headers(1, REQ, es=True)), respond(1)],
        {
            "frames": [
                {"type": "SETTINGS", "ack": False},
                {"type": "SETTINGS", "ack": True},
                {
                    "type": "HEADERS",
                    "stream_id": 1,
                    "end_stream": True,
                    "headers": [list(p) for p in RESP],
                },
            ],
            "absent": [{"type": "GOAWAY"}, {"type": "RST_STREAM"}],
        },
    )
    add_session(
        f,
        "client-happy-path",
        "2.2",
        "Client opens stream 1, receives the response.",
        "client",
        [open_stream(es=True), c_recv(SETTINGS_ACK, headers(1, RESP), data(1, b"ok", es=True))],
        {
            "frames": [
                {"type": "SETTINGS", "ack": False},
                {"type": "HEADERS", "stream_id": 1, "end_stream": True},
                {"type": "SETTINGS", "ack": True},
            ],
            "absent": [{"type": "GOAWAY"}, {"type": "RST_STREAM"}],
        },
    )
    add_session(
        f,
        "server-bad-magic-h2",
        "2.2",
        "An HTTP/2 preface is not the mux magic.",
        "server",
        [recv(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")],
        conn_error("PROTOCOL_ERROR", last_stream_id=0),
    )
    add_session(
        f,
        "server-bad-magic-http1",
        "2.2",
        "An HTTP/1.1 request line is not the mux magic.",
        "server",
        [recv(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")],
        conn_error("PROTOCOL_ERROR"),
    )
    add_session(
        f,
        "server-bad-magic-last-byte",
        "2.2",
        "Magic wrong only in its 7th byte.",
        "server",
        [recv(b"\x89MUX\r\n\x00\x01" + settings())],
        conn_error("PROTOCOL_ERROR"),
    )
    add_session(
        f,
        "server-version-2",
        "2.3",
        "Correct magic, version 02: UNSUPPORTED_VERSION.",
        "server",
        [recv(PREFACE[:7] + b"\x02" + settings())],
        conn_error("UNSUPPORTED_VERSION", last_stream_id=0),
    )
    add_session(
        f,
        "server-version-0",
        "2.3",
        "Version 00 is not supported.",
        "server",
        [recv(PREFACE[:7] + b"\x00")],
        conn_error("UNSUPPORTED_VERSION", last_stream_id=0),
    )
    add_session(
        f,
        "client-server-version-2",
        "2.3",
        "The server answers with version 02.",
        "client",
        [recv(PREFACE[:7] + b"\x02" + settings())],
        conn_error("UNSUPPORTED_VERSION"),
    )
    add_session(
        f,
        "client-server-bad-magic",
        "2.2",
        "The server's magic is wrong.",
        "client",
        [recv(b"HTTP/1.1 400 Bad Request\r\n\r\n")],
        conn_error("PROTOCOL_ERROR"),
    )
    for name, first in [
        ("ping", ping(ALIVE)),
        ("headers", headers(1, REQ, es=True)),
        ("settings-ack", SETTINGS_ACK),
        ("window-update", window_update(0, 100)),
        ("unknown-type", frame(0xEE, 0, 0, b"")),
    ]:
        add_session(
            f,
            f"server-first-frame-{name}",
            "2.2",
            f"First frame after the preface is {name}, not a non-ACK SETTINGS.",
            "server",
            [recv(PREFACE, first, settings())],
            conn_error("PROTOCOL_ERROR"),
        )
    add_session(
        f,
        "client-first-frame-ping",
        "2.2",
        "The server's first frame is a PING.",
        "client",
        [recv(PREFACE, ping(ALIVE), settings())],
        conn_error("PROTOCOL_ERROR"),
    )


def frame_size_sessions() -> None:
    f = "frame_size"
    add_session(
        f,
        "frame-too-large-header-only",
        "3.2",
        "Only a DATA header claiming 65537 bytes (> default MAX_FRAME_SIZE); no payload "
        "is sent: the error must come from the header alone.",
        "server",
        [s_recv(headers(1, POST), frame(0x0, 0, 1, length=65537))],
        conn_error("FRAME_SIZE_ERROR", last_stream_id=1),
    )
    add_session(
        f,
        "frame-length-2p32-1-header-only",
        "3.2",
        "A HEADERS header claiming 2^32-1 bytes.",
        "server",
        [s_recv(frame(0x1, 0, 1, length=2**32 - 1))],
        conn_error("FRAME_SIZE_ERROR"),
    )
    add_session(
        f,
        "frame-too-large-unknown-type",
        "3.2",
        "Unknown types are size-checked too.",
        "server",
        [s_recv(frame(0xEE, 0, 0, length=65537))],
        conn_error("FRAME_SIZE_ERROR"),
    )
    add_session(
        f,
        "frame-too-large-settings-first",
        "3.2",
        "The first SETTINGS is size-checked.",
        "server",
        [recv(PREFACE, frame(0x3, 0, 0, length=1 << 24))],
        conn_error("FRAME_SIZE_ERROR"),
    )
    add_session(
        f,
        "client-frame-too-large",
        "3.2",
        "A server DATA header claiming 65537 bytes.",
        "client",
        [open_stream(), c_recv(headers(1, RESP), frame(0x0, 0, 1, length=65537))],
        conn_error("FRAME_SIZE_ERROR"),
    )
    ls = {"MAX_FRAME_SIZE": 1024}
    add_session(
        f,
        "max-frame-size-lowered-exact",
        "3.2",
        "Local MAX_FRAME_SIZE 1024 (acknowledged): a 1024-byte frame is valid.",
        "server",
        [s_recv(SETTINGS_ACK, headers(1, POST), data(1, b"a" * 1024), P)],
        alive(),
        ls,
    )
    add_session(
        f,
        "max-frame-size-lowered-exceeded",
        "3.2",
        "Local MAX_FRAME_SIZE 1024 (acknowledged): a 1025-byte header is a FRAME_SIZE_ERROR.",
        "server",
        [s_recv(SETTINGS_ACK, headers(1, POST), frame(0x0, 0, 1, length=1025))],
        conn_error("FRAME_SIZE_ERROR"),
        ls,
    )
    add_session(
        f,
        "max-frame-size-lowered-before-ack",
        "6.2",
        "Before the ACK the old MAX_FRAME_SIZE (65536) still applies: 1025 bytes are accepted.",
        "server",
        [s_recv(headers(1, POST), data(1, b"a" * 1025), P)],
        alive(),
        ls,
    )
    add_session(
        f,
        "client-peer-max-frame-size-splits-data",
        "6.1",
        "The server's MAX_FRAME_SIZE 1024 makes the client split 1500 bytes into 1024 + 476.",
        "client",
        [
            recv(PREFACE, settings({"MAX_FRAME_SIZE": 1024})),
            open_stream(POST),
            {"send_data": {"stream_id": 1, "data": (b"z" * 1500).hex(), "end_stream": True}},
        ],
        {
            "frames": [
                {"type": "SETTINGS", "ack": True},
                {"type": "DATA", "stream_id": 1, "length": 1024, "end_stream": False},
                {"type": "DATA", "stream_id": 1, "length": 476, "end_stream": True},
            ],
            "absent": [{"type": "GOAWAY"}],
        },
    )


def unknown_sessions() -> None:
    f = "unknown"
    add_session(
        f,
        "unknown-type-ignored",
        "3.4",
        "An unknown frame type is ignored.",
        "server",
        [s_recv(frame(0xEE, 0xFF, 0, b"future payload"), P)],
        alive(),
    )
    add_session(
        f,
        "unknown-type-does-not-open-stream",
        "3.4",
        "An unknown frame on stream 5 does not open it, so stream 1 can still be opened.",
        "server",
        [s_recv(frame(0x07, 0, 5, b"x"), headers(1, REQ, es=True)), respond(1), recv(P)],
        alive({"type": "HEADERS", "stream_id": 1}, absent=[{"type": "RST_STREAM"}]),
    )
    add_session(
        f,
        "unknown-flags-ping",
        "3.4",
        "PING with undefined flags 0xFE (ACK clear) is answered.",
        "server",
        [s_recv(frame(0x4, 0xFE, 0, ALIVE))],
        alive(),
    )
    add_session(
        f,
        "unknown-flags-settings",
        "3.4",
        "SETTINGS with undefined flags 0xFE is acknowledged.",
        "server",
        [s_recv(frame(0x3, 0xFE, 0, b"\x80"), P)],
        alive({"type": "SETTINGS", "ack": True}, {"type": "SETTINGS", "ack": True}),
    )
    add_session(
        f,
        "unknown-flags-headers",
        "3.4",
        "HEADERS with undefined flags 0xFE (no END_STREAM).",
        "server",
        [s_recv(headers(1, POST, flags=0xFE), data(1, b"x", es=True)), respond(1), recv(P)],
        alive({"type": "HEADERS", "stream_id": 1}, absent=[{"type": "RST_STREAM"}]),
    )
    add_session(
        f,
        "client-unknown-type-ignored",
        "3.4",
        "The client ignores an unknown frame type.",
        "client",
        [c_recv(frame(0xAB, 0, 0, b"?"), P)],
        alive(),
    )
    add_session(
        f,
        "unknown-type-flood",
        "11.2",
        "5000 unknown frames in a row exceed any reasonable "
        "budget: ENHANCE_YOUR_CALM (a SHOULD; see 11.2).",
        "server",
        [s_recv(frame(0xEE, 0, 0) * 5000)],
        conn_error("ENHANCE_YOUR_CALM"),
        heavy=True,
    )
    add_session(
        f,
        "empty-data-flood",
        "11.2",
        "1000 empty DATA frames without END_STREAM: ENHANCE_YOUR_CALM (a SHOULD; see 11.2).",
        "server",
        [s_recv(headers(1, POST), data(1, b"") * 1000)],
        conn_error("ENHANCE_YOUR_CALM"),
        heavy=True,
    )


def stream_zero_sessions() -> None:
    f = "stream_id_class"
    for name, fr in [
        ("data", data(0, b"x")),
        ("headers", headers(0, REQ)),
        ("rst-stream", rst(0, "CANCEL")),
    ]:
        add_session(
            f,
            f"{name}-on-stream-0",
            "3.3",
            f"{name.upper()} on stream 0.",
            "server",
            [s_recv(fr)],
            conn_error("PROTOCOL_ERROR"),
        )
    for name, fr in [
        ("settings", frame(0x3, 0, 1, b"\x80")),
        ("ping", frame(0x4, 0, 1, ALIVE)),
        ("goaway", frame(0x5, 0, 1, bytes(8))),
    ]:
        add_session(
            f,
            f"{name}-on-stream-1",
            "3.3",
            f"{name.upper()} on a non-zero stream.",
            "server",
            [s_recv(headers(1, POST), fr)],
            conn_error("PROTOCOL_ERROR"),
        )


def fixed_size_sessions() -> None:
    f = "fixed_sizes"
    cases = [
        ("rst-stream-3-bytes", "4.3", frame(0x2, 0, 1, b"\x00\x00\x08")),
        ("rst-stream-5-bytes", "4.3", frame(0x2, 0, 1, b"\x00\x00\x00\x08\x00")),
        ("ping-7-bytes", "4.5", frame(0x4, 0, 0, ALIVE[:7])),
        ("ping-9-bytes", "4.5", frame(0x4, 0, 0, ALIVE + b"!")),
        ("ping-ack-0-bytes", "4.5", frame(0x4, ACK, 0, b"")),
        ("settings-ack-with-payload", "4.4", frame(0x3, ACK, 0, b"\x80")),
        ("goaway-7-bytes", "4.6", frame(0x5, 0, 0, bytes(7))),
        ("window-update-3-bytes", "4.7", frame(0x6, 0, 1, b"\x00\x00\x01")),
        ("window-update-5-bytes", "4.7", frame(0x6, 0, 0, b"\x00\x00\x00\x01\x00")),
    ]
    for name, sec, fr in cases:
        add_session(
            f,
            name,
            sec,
            f"{name}: wrong payload length for the type.",
            "server",
            [s_recv(headers(1, POST), fr)],
            conn_error("FRAME_SIZE_ERROR", last_stream_id=1),
        )


def data_sessions() -> None:
    f = "data"
    add_session(
        f,
        "data-idle-stream",
        "7.2",
        "DATA on stream 1 that was never opened.",
        "server",
        [s_recv(data(1, b"x"))],
        conn_error("PROTOCOL_ERROR"),
    )
    add_session(
        f,
        "data-after-end-stream",
        "7.2",
        "DATA after the request's END_STREAM (half-closed remote).",
        "server",
        [s_recv(headers(1, REQ, es=True), data(1, b"x"), P)],
        stream_error(1, "STREAM_CLOSED"),
    )
    add_session(
        f,
        "data-on-closed-stream",
        "7.3",
        "DATA on a stream that closed normally.",
        "server",
        [s_recv(headers(1, REQ, es=True)), respond(1), recv(data(1, b"late"), P)],
        stream_error(1, "STREAM_CLOSED"),
    )
    add_session(
        f,
        "data-on-peer-reset-stream",
        "7.3",
        "DATA after the client itself reset the stream.",
        "server",
        [s_recv(headers(1, POST), rst(1, "CANCEL"), data(1, b"x"), P)],
        stream_error(1, "STREAM_CLOSED"),
    )
    add_session(
        f,
        "data-on-recently-reset-stream-ignored",
        "7.3",
        "DATA on a stream the server reset is ignored.",
        "server",
        [
            s_recv(headers(1, POST)),
            {"reset_stream": {"stream_id": 1, "error_code": "CANCEL"}},
            recv(data(1, b"in flight"), headers(1, [("x", "y")], es=True), P),
        ],
        alive(
            {"type": "RST_STREAM", "stream_id": 1, "error_code": "CANCEL"},
            absent=[{"type": "RST_STREAM", "error_code": "STREAM_CLOSED"}],
        ),
    )
    add_session(
        f,
        "empty-data-ends-request",
        "4.1",
        "An empty DATA with END_STREAM ends the request.",
        "server",
        [s_recv(headers(1, POST), data(1, b"body"), data(1, b"", es=True)), respond(1), recv(P)],
        alive({"type": "HEADERS", "stream_id": 1}, absent=[{"type": "RST_STREAM"}]),
    )
    add_session(
        f,
        "client-data-before-response",
        "5.6",
        "DATA before the response HEADERS.",
        "client",
        [open_stream(es=True), c_recv(data(1, b"x"), P)],
        stream_error(1, "PROTOCOL_ERROR"),
    )
    add_session(
        f,
        "client-data-on-unopened-stream",
        "7.2",
        "The server sends DATA on stream 3 the client never opened.",
        "client",
        [open_stream(), c_recv(data(3, b"x"))],
        conn_error("PROTOCOL_ERROR"),
    )


def headers_sessions() -> None:
    f = "headers"
    add_session(
        f,
        "headers-even-stream",
        "7.1",
        "A client opens an even stream id.",
        "server",
        [s_recv(headers(2, REQ, es=True))],
        conn_error("PROTOCOL_ERROR"),
    )
    add_session(
        f,
        "headers-reserved-bit",
        "3.1",
        "Stream id 0x80000001 means stream 1.",
        "server",
        [s_recv(frame(0x1, END_STREAM, 0x80000001, hlist(REQ))), respond(1), recv(P)],
        alive({"type": "HEADERS", "stream_id": 1}),
    )
    add_session(
        f,
        "server-accepts-str-elements",
        "5.1",
        "A header list of msgpack str is accepted.",
        "server",
        [s_recv(frame(0x1, END_STREAM, 1, hlist(REQ, as_str=True))), respond(1), recv(P)],
        alive({"type": "HEADERS", "stream_id": 1}, absent=[{"type": "RST_STREAM"}]),
    )
    add_session(
        f,
        "trailers-accepted",
        "5.5",
        "HEADERS, DATA, trailers with END_STREAM.",
        "server",
        [
            s_recv(headers(1, POST), data(1, b"abc"), headers(1, [("x-sum", "1")], es=True)),
            respond(1),
            recv(P),
        ],
        alive({"type": "HEADERS", "stream_id": 1}, absent=[{"type": "RST_STREAM"}]),
    )
    add_session(
        f,
        "trailers-without-end-stream",
        "5.5",
        "Trailers must carry END_STREAM.",
        "server",
        [s_recv(headers(1, POST), headers(1, [("x-sum", "1")]), P)],
        stream_error(1, "PROTOCOL_ERROR"),
    )
    add_session(
        f,
        "trailers-with-pseudo-header",
        "5.5",
        "Trailers must not carry pseudo-headers.",
        "server",
        [s_recv(headers(1, POST), headers(1, [(":path", "/x")], es=True), P)],
        stream_error(1, "PROTOCOL_ERROR"),
    )
    add_session(
        f,
        "headers-after-trailers",
        "7.2",
        "A third HEADERS arrives after END_STREAM.",
        "server",
        [
            s_recv(
                headers(1, POST),
                headers(1, [("a", "1")], es=True),
                headers(1, [("b", "2")], es=True),
                P,
            )
        ],
        stream_error(1, "STREAM_CLOSED"),
    )
    add_session(
        f,
        "headers-after-end-stream",
        "7.2",
        "HEADERS after the request's END_STREAM.",
        "server",
        [s_recv(headers(1, REQ, es=True), headers(1, [("a", "1")], es=True), P)],
        stream_error(1, "STREAM_CLOSED"),
    )
    add_session(
        f,
        "client-headers-even-stream",
        "7.1",
        "The server sends HEADERS on stream 2.",
        "client",
        [open_stream(), c_recv(headers(2, RESP))],
        conn_error("PROTOCOL_ERROR"),
    )
    add_session(
        f,
        "client-headers-unopened-stream",
        "7.1",
        "The server answers stream 3, never opened.",
        "client",
        [open_stream(), c_recv(headers(3, RESP))],
        conn_error("PROTOCOL_ERROR"),
    )
    add_session(
        f,
        "client-response-trailers",
        "5.5",
        "Response, body and trailers are accepted.",
        "client",
        [
            open_stream(es=True),
            c_recv(headers(1, RESP), data(1, b"x"), headers(1, [("grpc-status", "0")], es=True), P),
        ],
        alive(absent=[{"type": "RST_STREAM"}]),
    )
    add_session(
        f,
        "client-trailers-without-end-stream",
        "5.5",
        "Response trailers lack END_STREAM.",
        "client",
        [open_stream(es=True), c_recv(headers(1, RESP), headers(1, [("grpc-status", "0")]), P)],
        stream_error(1, "PROTOCOL_ERROR"),
    )


def msgpack_sessions() -> None:
    f = "msgpack"
    bad = [
        ("bad-byte", "Byte c1 is never valid msgpack.", b"\xc1"),
        ("empty-payload", "A zero-length payload is not an array.", b""),
        (
            "nested-array",
            "An element is itself an array.",
            msgpack.packb([b":method", b"GET", b":path", [b"/"]], use_bin_type=True),
        ),
        (
            "map-instead-of-array",
            "A map instead of a flat array.",
            msgpack.packb({b":method": b"GET", b":path": b"/"}, use_bin_type=True),
        ),
        (
            "odd-length",
            "An array of 3 elements.",
            msgpack.packb([b":method", b"GET", b":path"], use_bin_type=True),
        ),
        ("trailing-bytes", "A valid array followed by one more byte.", hlist(REQ) + b"\x00"),
        (
            "integer-element",
            "A value is an integer.",
            msgpack.packb([b":method", b"GET", b":path", 5], use_bin_type=True),
        ),
        (
            "nil-element",
            "A value is nil.",
            msgpack.packb([b":method", b"GET", b":path", None], use_bin_type=True),
        ),
        (
            "bool-element",
            "A value is true.",
            msgpack.packb([b":method", b"GET", b":path", True], use_bin_type=True),
        ),
        (
            "ext-element",
            "A value is an ext type.",
            b"\x94\xc4\x07:method\xc4\x03GET\xc4\x05:path\xd4\x01\x00",
        ),
        ("bare-bin", "A single bin, not an array.", msgpack.packb(b":method", use_bin_type=True)),
        (
            "array32-claims-2p32-1",
            "dd ff ff ff ff: 2^32-1 elements declared in 5 bytes.",
            b"\xdd\xff\xff\xff\xff",
        ),
        ("array16-claims-65535", "dc ff ff then 2 elements.", b"\xdc\xff\xff\xa1a\xa1b"),
        ("truncated-array", "fixarray of 4 holding 2 elements.", b"\x94\xc4\x01a\xc4\x01b"),
        (
            "bin32-claims-2p32-1",
            "An element declares 2^32-1 bin bytes.",
            b"\x92\xc4\x01a\xc6\xff\xff\xff\xff",
        ),
    ]
    for name, desc, payload in bad:
        add_session(
            f,
            f"headers-msgpack-{name}",
            "5.1",
            desc,
            "server",
            [s_recv(raw_headers(1, payload, es=True))],
            conn_error("PROTOCOL_ERROR"),
        )
    add_session(
        f,
        "client-response-msgpack-map",
        "5.1",
        "A response header list that is a map.",
        "client",
        [open_stream(es=True), c_recv(raw_headers(1, msgpack.packb({b":status": b"200"})))],
        conn_error("PROTOCOL_ERROR"),
    )


def semantics_sessions() -> None:
    f = "semantics"
    req = [
        ("missing-method", "5.3", [(":path", "/")]),
        ("missing-path", "5.3", [(":method", "GET")]),
        ("empty-path", "5.3", [(":method", "GET"), (":path", "")]),
        ("unknown-pseudo", "5.3", [*REQ, (":foo", "x")]),
        ("status-in-request", "5.3", [*REQ, (":status", "200")]),
        ("pseudo-after-regular", "5.2", [(":method", "GET"), ("accept", "*/*"), (":path", "/")]),
        ("duplicate-pseudo", "5.2", [*REQ, (":path", "/again")]),
        ("uppercase-name", "5.2", [*REQ, ("Accept", "*/*")]),
        ("empty-name", "5.2", [*REQ, ("", "x")]),
        ("crlf-in-value", "5.2", [*REQ, ("x-a", "1\r\nx-injected: 2")]),
        ("nul-in-value", "5.2", [*REQ, ("x-a", "1\x002")]),
    ]
    for name, sec, pairs in req:
        add_session(
            f,
            f"request-{name}",
            sec,
            f"Malformed request: {name}.",
            "server",
            [s_recv(headers(1, pairs, es=True), P)],
            stream_error(1, "PROTOCOL_ERROR"),
        )
    resp = [
        ("missing-status", [("content-type", "text/plain")]),
        ("status-1xx", [(":status", "101")]),
        ("status-600", [(":status", "600")]),
        ("status-not-digits", [(":status", "2x0")]),
        ("status-two-digits", [(":status", "20")]),
        ("request-pseudo", [*RESP, (":method", "GET")]),
        ("pseudo-after-regular", [("server", "x"), *RESP]),
    ]
    for name, pairs in resp:
        add_session(
            f,
            f"response-{name}",
            "5.4",
            f"Malformed response: {name}.",
            "client",
            [open_stream(es=True), c_recv(headers(1, pairs), P)],
            stream_error(1, "PROTOCOL_ERROR"),
        )


def rst_sessions() -> None:
    f = "rst_stream"
    add_session(
        f,
        "rst-stream-idle",
        "7.2",
        "RST_STREAM on a stream never opened.",
        "server",
        [s_recv(rst(1, "CANCEL"))],
        conn_error("PROTOCOL_ERROR"),
    )
    add_session(
        f,
        "rst-stream-closes-stream",
        "4.3",
        "The client resets stream 1: the server does not "
        "answer with RST_STREAM and can no longer respond.",
        "server",
        [s_recv(headers(1, POST), rst(1, "CANCEL"), P), {**respond(1), "expect_local_error": True}],
        alive(absent=[{"type": "RST_STREAM"}, {"type": "HEADERS"}]),
    )
    add_session(
        f,
        "rst-stream-closed-ignored",
        "7.3",
        "A second RST_STREAM on a closed stream is ignored.",
        "server",
        [s_recv(headers(1, POST), rst(1, "CANCEL"), rst(1, "INTERNAL_ERROR"), P)],
        alive(absent=[{"type": "RST_STREAM"}]),
    )
    codes: list[str | int] = [
        "NO_ERROR",
        "INTERNAL_ERROR",
        "REFUSED_STREAM",
        "ENHANCE_YOUR_CALM",
        0x1234,
    ]
    for code in codes:
        name = code.lower().replace("_", "-") if isinstance(code, str) else "unknown-code"
        add_session(
            f,
            f"client-receives-rst-{name}",
            "10.3",
            f"The server resets stream 1 with {code}: the stream ends, the connection lives.",
            "client",
            [open_stream(es=True), c_recv(rst(1, code), P)],
            alive(absent=[{"type": "RST_STREAM"}]),
        )


def settings_sessions() -> None:
    f = "settings"
    bad = [
        ("empty-payload", b""),
        ("array", msgpack.packb([1, 100])),
        ("trailing-bytes", b"\x80\x00"),
        ("negative-value", msgpack.packb({1: -1})),
        ("bool-value", msgpack.packb({1: True})),
        ("float-value", msgpack.packb({1: 1.0})),
        ("str-key", msgpack.packb({"1": 100})),
        ("nested-value", msgpack.packb({1: {1: 1}})),
        ("duplicate-id", b"\x82\x01\x0a\x01\x0b"),
        ("33-entries", msgpack.packb({100 + i: i for i in range(33)})),
        ("map32-claims-2p32-1", b"\xdf\xff\xff\xff\xff"),
    ]
    for name, payload in bad:
        add_session(
            f,
            f"settings-{name}",
            "6",
            f"Malformed SETTINGS payload: {name}.",
            "server",
            [s_recv(frame(0x3, 0, 0, payload))],
            conn_error("PROTOCOL_ERROR"),
        )
    add_session(
        f,
        "settings-first-malformed",
        "6",
        "The first SETTINGS itself is malformed.",
        "server",
        [recv(PREFACE, frame(0x3, 0, 0, b"\x90"))],
        conn_error("PROTOCOL_ERROR"),
    )
    add_session(
        f,
        "settings-32-entries",
        "6",
        "32 entries (unknown ids) are accepted and acknowledged.",
        "server",
        [s_recv(settings({100 + i: i for i in range(32)}), P)],
        alive({"type": "SETTINGS", "ack": True}, {"type": "SETTINGS", "ack": True}),
    )
    out_of_range = [
        ("max-concurrent-streams", "MAX_CONCURRENT_STREAMS", 2**31, "PROTOCOL_ERROR"),
        ("initial-stream-window", "INITIAL_STREAM_WINDOW", 2**31, "FLOW_CONTROL_ERROR"),
        ("connection-window", "CONNECTION_WINDOW", 2**31, "FLOW_CONTROL_ERROR"),
        ("max-frame-size-low", "MAX_FRAME_SIZE", 1023, "PROTOCOL_ERROR"),
        ("max-frame-size-high", "MAX_FRAME_SIZE", 16777216, "PROTOCOL_ERROR"),
        ("max-header-list-size", "MAX_HEADER_LIST_SIZE", 2**32, "PROTOCOL_ERROR"),
        ("keepalive-interval", "KEEPALIVE_INTERVAL", 2**32, "PROTOCOL_ERROR"),
    ]
    for name, key, value, code in out_of_range:
        add_session(
            f,
            f"settings-range-{name}",
            "6.1",
            f"{key} = {value} is out of range: {code}.",
            "server",
            [s_recv(settings({key: value}))],
            conn_error(code),
        )
    add_session(
        f,
        "settings-range-limits-accepted",
        "6.1",
        "Every setting at its bound is accepted.",
        "server",
        [
            s_recv(
                settings(
                    {
                        "MAX_CONCURRENT_STREAMS": U31,
                        "INITIAL_STREAM_WINDOW": U31,
                        "CONNECTION_WINDOW": U31,
                        "MAX_FRAME_SIZE": 16777215,
                        "MAX_HEADER_LIST_SIZE": 2**32 - 1,
                        "KEEPALIVE_INTERVAL": 2**32 - 1,
                    }
                ),
                settings(
                    {
                        "MAX_FRAME_SIZE": 1024,
                        "MAX_CONCURRENT_STREAMS": 0,
                        "INITIAL_STREAM_WINDOW": 0,
                        "CONNECTION_WINDOW": 0,
                        "MAX_HEADER_LIST_SIZE": 0,
                    }
                ),
                P,
            )
        ],
        alive(
            {"type": "SETTINGS", "ack": True},
            {"type": "SETTINGS", "ack": True},
            {"type": "SETTINGS", "ack": True},
        ),
    )
    add_session(
        f,
        "settings-unknown-id-ignored",
        "6",
        "Unknown id 0x99 is ignored; the frame is acked.",
        "server",
        [s_recv(settings({0x99: 12345}), P)],
        alive({"type": "SETTINGS", "ack": True}, {"type": "SETTINGS", "ack": True}),
    )
    add_session(
        f,
        "settings-unsolicited-ack",
        "4.4",
        "An ACK with no outstanding SETTINGS.",
        "server",
        [s_recv(SETTINGS_ACK, SETTINGS_ACK)],
        conn_error("PROTOCOL_ERROR"),
    )
    add_session(
        f,
        "client-peer-max-concurrent-streams",
        "7.4",
        "The server allows 1 stream: the client cannot open a second.",
        "client",
        [
            recv(PREFACE, settings({"MAX_CONCURRENT_STREAMS": 1})),
            open_stream(),
            open_stream(expect_local_error=True),
        ],
        {
            "frames": [{"type": "HEADERS", "stream_id": 1}],
            "absent": [{"type": "HEADERS", "stream_id": 3}, {"type": "GOAWAY"}],
        },
    )


def ping_sessions() -> None:
    f = "ping"
    add_session(
        f,
        "ping-answered",
        "4.5",
        "PING is answered with ACK and the same bytes.",
        "server",
        [s_recv(ping(bytes(range(8))))],
        {
            "frames": [{"type": "PING", "ack": True, "data": bytes(range(8)).hex()}],
            "absent": [{"type": "GOAWAY"}],
        },
    )
    add_session(
        f,
        "ping-ack-not-answered",
        "4.5",
        "An unsolicited PING ACK is ignored, not answered.",
        "server",
        [s_recv(ping(b"unasked!", ack=True), P)],
        alive(absent=[{"type": "PING", "data": b"unasked!".hex()}]),
    )
    add_session(
        f,
        "client-ping-answered",
        "4.5",
        "The client answers a PING.",
        "client",
        [c_recv(P)],
        alive(),
    )


def goaway_sessions() -> None:
    f = "goaway"
    add_session(
        f,
        "goaway-received-no-error",
        "9.1",
        "The client's GOAWAY with debug data is accepted.",
        "server",
        [s_recv(headers(1, REQ, es=True), goaway(0, "NO_ERROR", b"bye")), respond(1)],
        {
            "frames": [{"type": "HEADERS", "stream_id": 1}],
            "absent": [{"type": "GOAWAY", "error_code": "PROTOCOL_ERROR"}, {"type": "RST_STREAM"}],
        },
    )
    add_session(
        f,
        "goaway-then-new-stream-refused",
        "9.1",
        "After the server's GOAWAY(last=1), stream 3 is refused.",
        "server",
        [
            s_recv(headers(1, REQ, es=True)),
            {"goaway": {"error_code": "NO_ERROR", "last_stream_id": None}},
            recv(headers(3, REQ, es=True), P),
        ],
        {
            "frames": [
                {"type": "GOAWAY", "last_stream_id": 1, "error_code": "NO_ERROR"},
                {"type": "RST_STREAM", "stream_id": 3, "error_code": "REFUSED_STREAM"},
                {"type": "PING", "ack": True, "data": ALIVE.hex()},
            ],
            "absent": [{"type": "GOAWAY", "error_code": "PROTOCOL_ERROR"}],
        },
    )
    add_session(
        f,
        "goaway-graceful-first-step",
        "9.1",
        "After GOAWAY(2^31-1) streams in flight are still processed.",
        "server",
        [
            s_recv(),
            {"goaway": {"error_code": "NO_ERROR", "last_stream_id": U31}},
            recv(headers(1, REQ, es=True), P),
            respond(1),
        ],
        {
            "frames": [
                {"type": "GOAWAY", "last_stream_id": U31},
                {"type": "PING", "ack": True, "data": ALIVE.hex()},
                {"type": "HEADERS", "stream_id": 1},
            ],
            "absent": [{"type": "RST_STREAM"}],
        },
    )
    add_session(
        f,
        "goaway-last-stream-id-on-error",
        "10.1",
        "A connection error reports the highest processed stream in GOAWAY.",
        "server",
        [s_recv(headers(1, POST), headers(3, POST), frame(0x4, 0, 0, b"short"))],
        conn_error("FRAME_SIZE_ERROR", last_stream_id=3),
    )
    add_session(
        f,
        "client-goaway-stops-new-streams",
        "9.2",
        "After GOAWAY the client opens no stream.",
        "client",
        [
            open_stream(es=True),
            c_recv(goaway(1, "NO_ERROR")),
            open_stream(es=True, expect_local_error=True),
        ],
        {
            "frames": [{"type": "HEADERS", "stream_id": 1}],
            "absent": [{"type": "HEADERS", "stream_id": 3}, {"type": "RST_STREAM"}],
        },
    )
    goaway_codes: list[str | int] = [
        "ENHANCE_YOUR_CALM",
        "SETTINGS_TIMEOUT",
        "INTERNAL_ERROR",
        0xABCD,
    ]
    for code in goaway_codes:
        name = code.lower().replace("_", "-") if isinstance(code, str) else "unknown-code"
        add_session(
            f,
            f"client-receives-goaway-{name}",
            "10.3",
            f"GOAWAY({code}) from the server is "
            "accepted (no protocol error in return); no new stream may be opened.",
            "client",
            [
                open_stream(es=True),
                c_recv(goaway(1, code, b"debug")),
                open_stream(expect_local_error=True),
            ],
            {
                "absent": [
                    {"type": "GOAWAY", "error_code": "PROTOCOL_ERROR"},
                    {"type": "HEADERS", "stream_id": 3},
                ]
            },
        )


def window_update_sessions() -> None:
    f = "window_update"
    add_session(
        f,
        "window-update-connection-zero",
        "4.7",
        "Increment 0 on stream 0.",
        "server",
        [s_recv(window_update(0, 0))],
        conn_error("PROTOCOL_ERROR"),
    )
    add_session(
        f,
        "window-update-stream-zero",
        "4.7",
        "Increment 0 on an open stream.",
        "server",
        [s_recv(headers(1, POST), window_update(1, 0), P)],
        stream_error(1, "PROTOCOL_ERROR"),
    )
    add_session(
        f,
        "window-update-reserved-bit-only",
        "4.7",
        "Increment 0x80000000 is 0 once the reserved bit is masked.",
        "server",
        [s_recv(headers(1, POST), window_update(1, 0x80000000), P)],
        stream_error(1, "PROTOCOL_ERROR"),
    )
    add_session(
        f,
        "window-update-idle-stream",
        "7.2",
        "WINDOW_UPDATE on a stream never opened.",
        "server",
        [s_recv(window_update(1, 100))],
        conn_error("PROTOCOL_ERROR"),
    )
    add_session(
        f,
        "window-update-closed-stream-ignored",
        "7.3",
        "WINDOW_UPDATE on a closed stream is ignored.",
        "server",
        [s_recv(headers(1, REQ, es=True)), respond(1), recv(window_update(1, 100), P)],
        alive(absent=[{"type": "RST_STREAM"}]),
    )
    add_session(
        f,
        "window-update-stream-overflow",
        "8.4",
        "262144 + (2^31-262144) exceeds 2^31-1.",
        "server",
        [s_recv(headers(1, POST), window_update(1, 2**31 - 262144), P)],
        stream_error(1, "FLOW_CONTROL_ERROR"),
    )
    add_session(
        f,
        "window-update-connection-overflow",
        "8.4",
        "1048576 + (2^31-1048576) exceeds 2^31-1.",
        "server",
        [s_recv(window_update(0, 2**31 - 1048576))],
        conn_error("FLOW_CONTROL_ERROR"),
    )
    add_session(
        f,
        "window-update-stream-to-max",
        "8.2",
        "A stream window of exactly 2^31-1 is valid.",
        "server",
        [s_recv(headers(1, POST), window_update(1, U31 - 262144), P)],
        alive(absent=[{"type": "RST_STREAM"}]),
    )
    add_session(
        f,
        "window-update-connection-to-max",
        "8.2",
        "A connection window of exactly 2^31-1.",
        "server",
        [s_recv(window_update(0, U31 - 1048576), P)],
        alive(),
    )
    add_session(
        f,
        "window-update-overflow-two-steps",
        "8.4",
        "Two updates that together overflow.",
        "server",
        [s_recv(headers(1, POST), window_update(1, 2**30), window_update(1, 2**30), P)],
        stream_error(1, "FLOW_CONTROL_ERROR"),
    )
    add_session(
        f,
        "settings-stream-window-overflow",
        "8.5",
        "A stream window at 2^31-1, then INITIAL_STREAM_WINDOW +1: connection FLOW_CONTROL_ERROR.",
        "server",
        [
            s_recv(
                headers(1, POST),
                window_update(1, U31 - 262144),
                settings({"INITIAL_STREAM_WINDOW": 262145}),
            )
        ],
        conn_error("FLOW_CONTROL_ERROR"),
    )
    add_session(
        f,
        "settings-connection-window-overflow",
        "8.5",
        "The connection window at 2^31-1, then CONNECTION_WINDOW +1.",
        "server",
        [s_recv(window_update(0, U31 - 1048576), settings({"CONNECTION_WINDOW": 1048577}))],
        conn_error("FLOW_CONTROL_ERROR"),
    )


def flow_sessions() -> None:
    f = "flow_control"
    sw = {"INITIAL_STREAM_WINDOW": 1024}
    add_session(
        f,
        "data-beyond-stream-window",
        "8.4",
        "Local stream window 1024 (acknowledged): 1025 bytes.",
        "server",
        [s_recv(SETTINGS_ACK, headers(1, POST), data(1, b"a" * 1025), P)],
        stream_error(1, "FLOW_CONTROL_ERROR"),
        sw,
    )
    add_session(
        f,
        "data-fills-stream-window",
        "8.1",
        "Exactly 1024 bytes in a 1024-byte stream window.",
        "server",
        [s_recv(SETTINGS_ACK, headers(1, POST), data(1, b"a" * 1000), data(1, b"b" * 24), P)],
        alive(absent=[{"type": "RST_STREAM"}]),
        sw,
    )
    add_session(
        f,
        "data-beyond-stream-window-two-frames",
        "8.4",
        "600 + 600 bytes in a 1024 window.",
        "server",
        [s_recv(SETTINGS_ACK, headers(1, POST), data(1, b"a" * 600), data(1, b"b" * 600), P)],
        stream_error(1, "FLOW_CONTROL_ERROR"),
        sw,
    )
    add_session(
        f,
        "stream-window-before-ack",
        "6.2",
        "Before the ACK the default stream window applies.",
        "server",
        [s_recv(headers(1, POST), data(1, b"a" * 1025), P)],
        alive(absent=[{"type": "RST_STREAM"}]),
        sw,
    )
    cw = {"CONNECTION_WINDOW": 1024}
    add_session(
        f,
        "data-beyond-connection-window",
        "8.4",
        "Local connection window 1024: 1025 bytes.",
        "server",
        [s_recv(SETTINGS_ACK, headers(1, POST), data(1, b"a" * 1025))],
        conn_error("FLOW_CONTROL_ERROR", last_stream_id=1),
        cw,
    )
    add_session(
        f,
        "data-beyond-connection-window-two-streams",
        "8.4",
        "600 bytes on each of two streams in a 1024-byte connection window.",
        "server",
        [
            s_recv(
                SETTINGS_ACK,
                headers(1, POST),
                headers(3, POST),
                data(1, b"a" * 600),
                data(3, b"b" * 600),
            )
        ],
        conn_error("FLOW_CONTROL_ERROR"),
        cw,
    )
    add_session(
        f,
        "data-fills-connection-window",
        "8.1",
        "Exactly 1024 bytes over two streams.",
        "server",
        [
            s_recv(
                SETTINGS_ACK,
                headers(1, POST),
                headers(3, POST),
                data(1, b"a" * 512),
                data(3, b"b" * 512),
                P,
            )
        ],
        alive(absent=[{"type": "RST_STREAM"}]),
        cw,
    )
    add_session(
        f,
        "no-credit-without-consume",
        "8.3",
        "Received but unconsumed data earns no WINDOW_UPDATE.",
        "server",
        [s_recv(SETTINGS_ACK, headers(1, POST), data(1, b"a" * 600), P)],
        alive(absent=[{"type": "WINDOW_UPDATE"}]),
        sw,
    )
    add_session(
        f,
        "credit-on-consume-stream",
        "8.3",
        "Consuming 600 of a 1024 stream window (>= half) returns 600 bytes of stream credit.",
        "server",
        [
            s_recv(SETTINGS_ACK, headers(1, POST), data(1, b"a" * 600)),
            {"consume": {"stream_id": 1, "bytes": 600}},
        ],
        {
            "frames": [{"type": "WINDOW_UPDATE", "stream_id": 1, "increment": 600}],
            "absent": [{"type": "GOAWAY"}, {"type": "RST_STREAM"}],
        },
        sw,
    )
    add_session(
        f,
        "credit-on-consume-connection",
        "8.3",
        "Consuming 1024 of a 2048 connection window returns connection credit.",
        "server",
        [
            s_recv(SETTINGS_ACK, headers(1, POST), data(1, b"a" * 1024)),
            {"consume": {"stream_id": 1, "bytes": 1024}},
        ],
        {
            "frames": [{"type": "WINDOW_UPDATE", "stream_id": 0, "increment": 1024}],
            "absent": [{"type": "GOAWAY"}],
        },
        {"CONNECTION_WINDOW": 2048},
    )
    add_session(
        f,
        "stream-error-credits-connection",
        "8.4",
        "Bytes of a DATA refused by a stream error are "
        "returned to the connection window: a later 1024 bytes on stream 3 fit.",
        "server",
        [
            s_recv(
                SETTINGS_ACK,
                headers(1, POST),
                headers(3, POST),
                data(1, b"a" * 1025),
                data(3, b"b" * 1024),
                P,
            )
        ],
        {
            "frames": [
                {"type": "RST_STREAM", "stream_id": 1, "error_code": "FLOW_CONTROL_ERROR"},
                {"type": "PING", "ack": True, "data": ALIVE.hex()},
            ],
            "contains": [{"type": "WINDOW_UPDATE", "stream_id": 0}],
            "absent": [{"type": "GOAWAY"}],
        },
        {"INITIAL_STREAM_WINDOW": 1024, "CONNECTION_WINDOW": 2048},
    )
    add_session(
        f,
        "reset-stream-data-credits-connection",
        "8.4",
        "DATA on a stream the server reset is "
        "ignored but its bytes return to the connection window.",
        "server",
        [
            s_recv(SETTINGS_ACK, headers(1, POST), headers(3, POST)),
            {"reset_stream": {"stream_id": 1, "error_code": "CANCEL"}},
            recv(data(1, b"a" * 1100), data(3, b"b" * 1024), P),
        ],
        {
            "frames": [
                {"type": "WINDOW_UPDATE", "stream_id": 0},
                {"type": "PING", "ack": True, "data": ALIVE.hex()},
            ],
            "absent": [{"type": "GOAWAY"}, {"type": "RST_STREAM", "stream_id": 3}],
        },
        {"CONNECTION_WINDOW": 2048},
    )
    # ---- send side
    add_session(
        f,
        "client-stream-window-exhausted",
        "8.1",
        "Peer stream window 16: the client may send 16 bytes, then nothing until WINDOW_UPDATE.",
        "client",
        [
            recv(PREFACE, settings({"INITIAL_STREAM_WINDOW": 16})),
            open_stream(POST),
            {"check_send_window": {"stream_id": 1, "available": 16}},
            {"send_data": {"stream_id": 1, "data": (b"q" * 16).hex()}},
            {"check_send_window": {"stream_id": 1, "available": 0}},
            {"send_data": {"stream_id": 1, "data": "71"}, "expect_local_error": True},
            recv(window_update(1, 10)),
            {"check_send_window": {"stream_id": 1, "available": 10}},
            {"send_data": {"stream_id": 1, "data": (b"r" * 10).hex(), "end_stream": True}},
        ],
        {
            "frames": [
                {"type": "DATA", "stream_id": 1, "length": 16},
                {"type": "DATA", "stream_id": 1, "length": 10, "end_stream": True},
            ],
            "absent": [{"type": "GOAWAY"}],
        },
    )
    add_session(
        f,
        "client-connection-window-shared",
        "8.1",
        "Peer connection window 10 is shared by streams.",
        "client",
        [
            recv(PREFACE, settings({"CONNECTION_WINDOW": 10})),
            open_stream(POST),
            open_stream(POST),
            {"send_data": {"stream_id": 1, "data": (b"q" * 6).hex()}},
            {"check_send_window": {"stream_id": 3, "available": 4}},
            recv(window_update(0, 5)),
            {"check_send_window": {"stream_id": 3, "available": 9}},
        ],
        {"frames": [{"type": "DATA", "stream_id": 1, "length": 6}], "absent": [{"type": "GOAWAY"}]},
    )
    add_session(
        f,
        "client-negative-window",
        "8.5",
        "Window 100 fully used, then INITIAL_STREAM_WINDOW 50: "
        "the window is -50; +60 brings it to 10.",
        "client",
        [
            recv(PREFACE, settings({"INITIAL_STREAM_WINDOW": 100})),
            open_stream(POST),
            {"send_data": {"stream_id": 1, "data": (b"q" * 100).hex()}},
            recv(settings({"INITIAL_STREAM_WINDOW": 50})),
            {"check_send_window": {"stream_id": 1, "available": 0}},
            recv(window_update(1, 40)),
            {"check_send_window": {"stream_id": 1, "available": 0}},
            recv(window_update(1, 20)),
            {"check_send_window": {"stream_id": 1, "available": 10}},
        ],
        {
            "frames": [
                {"type": "DATA", "stream_id": 1, "length": 100},
                {"type": "SETTINGS", "ack": True},
            ],
            "absent": [{"type": "GOAWAY"}, {"type": "RST_STREAM"}],
        },
    )
    add_session(
        f,
        "client-settings-raise-window",
        "8.5",
        "INITIAL_STREAM_WINDOW 10 -> 30 raises an open stream's window by 20.",
        "client",
        [
            recv(PREFACE, settings({"INITIAL_STREAM_WINDOW": 10})),
            open_stream(POST),
            recv(settings({"INITIAL_STREAM_WINDOW": 30})),
            {"check_send_window": {"stream_id": 1, "available": 30}},
        ],
        {"absent": [{"type": "GOAWAY"}]},
    )
    add_session(
        f,
        "server-negative-window",
        "8.5",
        "The client lowers INITIAL_STREAM_WINDOW after the "
        "server used the window: the server's send window goes negative.",
        "server",
        [
            recv(PREFACE, settings({"INITIAL_STREAM_WINDOW": 100}), headers(1, REQ, es=True)),
            respond(1, es=False),
            {"send_data": {"stream_id": 1, "data": (b"s" * 100).hex()}},
            recv(settings({"INITIAL_STREAM_WINDOW": 40})),
            {"check_send_window": {"stream_id": 1, "available": 0}},
            recv(window_update(1, 70)),
            {"check_send_window": {"stream_id": 1, "available": 10}},
        ],
        {
            "frames": [{"type": "DATA", "stream_id": 1, "length": 100}],
            "absent": [{"type": "GOAWAY"}],
        },
    )


def stream_sessions() -> None:
    f = "streams"
    add_session(
        f,
        "stream-id-regression",
        "7.1",
        "Stream 3, then a new HEADERS on stream 1: a frame on a closed stream.",
        "server",
        [s_recv(headers(3, REQ, es=True), headers(1, REQ, es=True), P)],
        stream_error(1, "STREAM_CLOSED"),
    )
    add_session(
        f,
        "stream-id-reuse",
        "7.1",
        "Stream 1 completes, then HEADERS opens stream 1 again.",
        "server",
        [s_recv(headers(1, REQ, es=True)), respond(1), recv(headers(1, REQ, es=True), P)],
        stream_error(1, "STREAM_CLOSED"),
    )
    add_session(
        f,
        "stream-id-gaps-allowed",
        "7.1",
        "Streams 1 then 7: gaps are allowed.",
        "server",
        [
            s_recv(headers(1, REQ, es=True), headers(7, REQ, es=True)),
            respond(7),
            respond(1),
            recv(P),
        ],
        alive(
            {"type": "HEADERS", "stream_id": 7},
            {"type": "HEADERS", "stream_id": 1},
            absent=[{"type": "RST_STREAM"}],
        ),
    )
    add_session(
        f,
        "headers-on-recently-reset-stream-ignored",
        "7.3",
        "Trailers on a stream the server reset are ignored.",
        "server",
        [
            s_recv(headers(1, POST)),
            {"reset_stream": {"stream_id": 1, "error_code": "INTERNAL_ERROR"}},
            recv(headers(1, [("x", "1")], es=True), P),
        ],
        alive(
            {"type": "RST_STREAM", "stream_id": 1, "error_code": "INTERNAL_ERROR"},
            absent=[{"type": "RST_STREAM", "error_code": "STREAM_CLOSED"}],
        ),
    )
    mcs1 = {"MAX_CONCURRENT_STREAMS": 1}
    add_session(
        f,
        "max-concurrent-streams-refused",
        "7.4",
        "Limit 1 (acknowledged): stream 3 is refused while stream 1 is half-closed.",
        "server",
        [s_recv(SETTINGS_ACK, headers(1, REQ, es=True), headers(3, REQ, es=True), P)],
        stream_error(3, "REFUSED_STREAM"),
        mcs1,
    )
    add_session(
        f,
        "max-concurrent-streams-before-ack",
        "6.2",
        "Before the ACK the default limit (100) applies.",
        "server",
        [s_recv(headers(1, REQ, es=True), headers(3, REQ, es=True), P)],
        alive(absent=[{"type": "RST_STREAM"}]),
        mcs1,
    )
    add_session(
        f,
        "max-concurrent-streams-slot-freed",
        "7.4",
        "Once stream 1 closes, stream 3 fits.",
        "server",
        [
            s_recv(SETTINGS_ACK, headers(1, REQ, es=True)),
            respond(1),
            recv(headers(3, REQ, es=True)),
            respond(3),
            recv(P),
        ],
        alive({"type": "HEADERS", "stream_id": 3}, absent=[{"type": "RST_STREAM"}]),
        mcs1,
    )
    add_session(
        f,
        "max-concurrent-streams-zero",
        "7.4",
        "Limit 0: every stream is refused.",
        "server",
        [s_recv(SETTINGS_ACK, headers(1, REQ, es=True), P)],
        stream_error(1, "REFUSED_STREAM"),
        {"MAX_CONCURRENT_STREAMS": 0},
    )
    add_session(
        f,
        "refused-stream-id-used",
        "7.4",
        "A refused id counts as used: DATA on it is a frame on a closed stream, not an idle one.",
        "server",
        [s_recv(SETTINGS_ACK, headers(1, REQ, es=True), headers(3, POST), data(3, b"x"), P)],
        {
            "frames": [
                {"type": "RST_STREAM", "stream_id": 3, "error_code": "REFUSED_STREAM"},
                {"type": "PING", "ack": True, "data": ALIVE.hex()},
            ],
            "absent": [{"type": "GOAWAY"}],
        },
        mcs1,
    )
    hl = {"MAX_HEADER_LIST_SIZE": 64}
    big = [*REQ, ("x-pad", "p" * 60)]
    add_session(
        f,
        "header-list-too-large",
        "4.2",
        f"Local MAX_HEADER_LIST_SIZE 64 (acknowledged): a {len(hlist(big))}-byte header list.",
        "server",
        [s_recv(SETTINGS_ACK, headers(1, big, es=True), P)],
        stream_error(1, "HEADER_LIST_TOO_LARGE"),
        hl,
    )
    exact = [*REQ, ("x-pad", "p" * (60 - (len(hlist(big)) - 64)))]
    assert len(hlist(exact)) == 64
    add_session(
        f,
        "header-list-exact-size",
        "4.2",
        "A 64-byte header list fits a 64-byte limit.",
        "server",
        [s_recv(SETTINGS_ACK, headers(1, exact, es=True)), respond(1), recv(P)],
        alive({"type": "HEADERS", "stream_id": 1}, absent=[{"type": "RST_STREAM"}]),
        hl,
    )
    add_session(
        f,
        "header-list-too-large-not-decoded",
        "4.2",
        "An oversized payload is not decoded: even "
        "malformed msgpack gets HEADER_LIST_TOO_LARGE, not a connection error.",
        "server",
        [s_recv(SETTINGS_ACK, raw_headers(1, b"\xc1" * 100, es=True), P)],
        stream_error(1, "HEADER_LIST_TOO_LARGE"),
        hl,
    )
    add_session(
        f,
        "header-list-size-before-ack",
        "6.2",
        "Before the ACK the default limit applies.",
        "server",
        [s_recv(headers(1, big, es=True)), respond(1), recv(P)],
        alive({"type": "HEADERS", "stream_id": 1}, absent=[{"type": "RST_STREAM"}]),
        hl,
    )


# ----------------------------------------------------------------- order of HEADERS checks

HL64 = {"MAX_HEADER_LIST_SIZE": 64}
BIG = [*REQ, ("x-pad", "p" * 60)]  # 80 bytes encoded: above a 64-byte limit
MANY = [*REQ, *((f"x-{i}", "") for i in range(255))]  # 257 fields, one above 256
ENOUGH = MANY[:256]  # exactly 256 fields
assert len(MANY) == 257 and len(hlist(BIG)) > 64


def _bad_list(sid: int, es: bool = True) -> bytes:
    """A HEADERS whose payload is not msgpack (byte c1)."""
    return raw_headers(sid, b"\xc1", es=es)


def order_sessions() -> None:
    """Section 4.2: id rules, size, shape, then state/admission, then semantics."""
    f = "order"
    both = {"MAX_CONCURRENT_STREAMS": 1, **HL64}
    open1 = headers(1, REQ, es=True)  # stream 1: half-closed (remote), holds the only slot
    cases: list[tuple[str, str, str, list[dict[str, Any]], dict[str, Any], dict[str, int]]] = [
        (
            "too-large-beats-refused-concurrency",
            "Limit 1 in use: an oversized HEADERS opening stream 3 gets "
            "HEADER_LIST_TOO_LARGE, not REFUSED_STREAM (size is checked before admission).",
            "4.2",
            [s_recv(SETTINGS_ACK, open1, headers(3, BIG, es=True), P)],
            _only(3, "HEADER_LIST_TOO_LARGE", "REFUSED_STREAM"),
            both,
        ),
        (
            "too-large-garbage-beats-refused-concurrency",
            "Limit 1 in use: 100 bytes of non-msgpack opening stream 3 get "
            "HEADER_LIST_TOO_LARGE (not decoded, not refused).",
            "4.2",
            [s_recv(SETTINGS_ACK, open1, raw_headers(3, b"\xc1" * 100, es=True), P)],
            _only(3, "HEADER_LIST_TOO_LARGE", "REFUSED_STREAM"),
            both,
        ),
        (
            "too-large-beats-refused-after-goaway",
            "After our GOAWAY(last 1), an oversized HEADERS on stream 3 gets "
            "HEADER_LIST_TOO_LARGE, not REFUSED_STREAM.",
            "4.2",
            [
                s_recv(SETTINGS_ACK, open1),
                {"goaway": {"error_code": "NO_ERROR", "last_stream_id": None}},
                recv(headers(3, BIG, es=True), P),
            ],
            _after_goaway(_only(3, "HEADER_LIST_TOO_LARGE", "REFUSED_STREAM")),
            HL64,
        ),
        (
            "too-large-beats-stream-closed-half-closed",
            "An oversized HEADERS on half-closed (remote) stream 1 gets "
            "HEADER_LIST_TOO_LARGE, not STREAM_CLOSED.",
            "4.2",
            [s_recv(SETTINGS_ACK, open1, headers(1, BIG, es=True), P)],
            _only(1, "HEADER_LIST_TOO_LARGE", "STREAM_CLOSED"),
            HL64,
        ),
        (
            "too-large-beats-stream-closed-closed",
            "An oversized HEADERS on closed stream 1 (id below stream 3) gets "
            "HEADER_LIST_TOO_LARGE, not STREAM_CLOSED.",
            "4.2",
            [s_recv(SETTINGS_ACK, headers(3, REQ, es=True), headers(1, BIG, es=True), P)],
            _only(1, "HEADER_LIST_TOO_LARGE", "STREAM_CLOSED"),
            HL64,
        ),
        (
            "too-large-id-used",
            "An oversized HEADERS opening stream 5 uses the id: a new HEADERS on "
            "stream 3 is then on a closed stream.",
            "4.2",
            [s_recv(SETTINGS_ACK, headers(5, BIG, es=True), headers(3, REQ, es=True), P)],
            {
                "frames": [
                    {"type": "RST_STREAM", "stream_id": 5, "error_code": "HEADER_LIST_TOO_LARGE"},
                    {"type": "RST_STREAM", "stream_id": 3, "error_code": "STREAM_CLOSED"},
                    {"type": "PING", "ack": True, "data": ALIVE.hex()},
                ],
                "absent": [{"type": "GOAWAY"}],
            },
            HL64,
        ),
        (
            "too-many-fields-beats-refused",
            "Limit 1 in use: a 257-field HEADERS opening stream 3 gets "
            "HEADER_LIST_TOO_LARGE, not REFUSED_STREAM (field count before admission).",
            "4.2",
            [s_recv(SETTINGS_ACK, open1, headers(3, MANY, es=True), P)],
            _only(3, "HEADER_LIST_TOO_LARGE", "REFUSED_STREAM"),
            {"MAX_CONCURRENT_STREAMS": 1},
        ),
        (
            "malformed-beats-refused-concurrency",
            "Limit 1 in use: non-msgpack HEADERS opening stream 3 is a connection "
            "error, not REFUSED_STREAM (shape is checked before admission).",
            "4.2",
            [s_recv(SETTINGS_ACK, open1, _bad_list(3), P)],
            conn_error("PROTOCOL_ERROR", last_stream_id=1),
            {"MAX_CONCURRENT_STREAMS": 1},
        ),
        (
            "malformed-beats-refused-after-goaway",
            "After our GOAWAY(last 1), non-msgpack HEADERS on stream 3 is a connection error.",
            "4.2",
            [
                s_recv(open1),
                {"goaway": {"error_code": "NO_ERROR", "last_stream_id": None}},
                recv(_bad_list(3), P),
            ],
            conn_error("PROTOCOL_ERROR", last_stream_id=1),
            {},
        ),
    ]
    for vid, desc, sec, steps, expect, local in cases:
        add_session(f, vid, sec, desc, "server", steps, expect, local or None)
    _malformed_on_any_state(f)


def _only(sid: int, code: str, not_code: str) -> dict[str, Any]:
    """Stream error ``code`` on ``sid`` and no RST_STREAM(``not_code``)."""
    expect = stream_error(sid, code)
    expect["absent"].append({"type": "RST_STREAM", "error_code": not_code})
    return expect


def _after_goaway(expect: dict[str, Any]) -> dict[str, Any]:
    """``expect`` of a stream error that follows our own GOAWAY(NO_ERROR)."""
    expect["frames"].insert(0, {"type": "GOAWAY", "error_code": "NO_ERROR", "last_stream_id": 1})
    expect["absent"] = [
        {"type": "GOAWAY", "error_code": "PROTOCOL_ERROR"},
        *expect["absent"][1:],
    ]
    return expect


def _malformed_on_any_state(f: str) -> None:
    """A malformed list is a connection error whatever the stream's state."""
    states: list[tuple[str, str, list[dict[str, Any]]]] = [
        (
            "half-closed-remote",
            "half-closed (remote) stream 1",
            [s_recv(headers(1, REQ, es=True), _bad_list(1), P)],
        ),
        (
            "closed",
            "closed stream 1 (below stream 3)",
            [s_recv(headers(3, REQ, es=True), _bad_list(1), P)],
        ),
        (
            "closed-answered",
            "stream 1 after its response closed it",
            [s_recv(headers(1, REQ, es=True)), respond(1), recv(_bad_list(1), P)],
        ),
        (
            "recently-reset",
            "stream 1 that the server reset (otherwise ignored)",
            [
                s_recv(headers(1, POST)),
                {"reset_stream": {"stream_id": 1, "error_code": "CANCEL"}},
                recv(_bad_list(1), P),
            ],
        ),
        (
            "trailers-without-end-stream",
            "open stream 1 as trailers without END_STREAM (shape before semantics)",
            [s_recv(headers(1, POST), _bad_list(1, es=False), P)],
        ),
    ]
    for name, where, steps in states:
        add_session(
            f,
            f"malformed-on-{name}",
            "4.2",
            f"Non-msgpack HEADERS on {where}: connection error PROTOCOL_ERROR.",
            "server",
            steps,
            conn_error("PROTOCOL_ERROR"),
        )
    add_session(
        f,
        "client-malformed-on-reset-stream",
        "4.2",
        "Client reset stream 1; a non-msgpack response on it is still a connection error.",
        "client",
        [
            open_stream(es=True),
            {"reset_stream": {"stream_id": 1, "error_code": "CANCEL"}},
            c_recv(_bad_list(1, es=False), P),
        ],
        conn_error("PROTOCOL_ERROR"),
    )
    add_session(
        f,
        "refused-before-semantics",
        "4.2",
        "Limit 1 in use: a malformed request (no :path) on stream 3 is refused: "
        "admission comes before message semantics.",
        "server",
        [
            s_recv(
                SETTINGS_ACK, headers(1, REQ, es=True), headers(3, [(":method", "GET")], es=True), P
            )
        ],
        _only(3, "REFUSED_STREAM", "PROTOCOL_ERROR"),
        {"MAX_CONCURRENT_STREAMS": 1},
    )


def field_count_sessions() -> None:
    """Section 11.1: at most 256 fields per received list (a local, SHOULD-level limit)."""
    f = "header_fields"
    add_session(
        f,
        "request-257-fields",
        "5.1",
        "A request with 257 fields (suggested limit 256): HEADER_LIST_TOO_LARGE.",
        "server",
        [s_recv(headers(1, MANY, es=True), P)],
        stream_error(1, "HEADER_LIST_TOO_LARGE"),
    )
    add_session(
        f,
        "request-256-fields",
        "5.1",
        "A request with exactly 256 fields is accepted.",
        "server",
        [s_recv(headers(1, ENOUGH, es=True), P)],
        alive(absent=[{"type": "RST_STREAM"}]),
    )
    add_session(
        f,
        "trailers-257-fields",
        "5.1",
        "Request trailers with 257 fields: HEADER_LIST_TOO_LARGE.",
        "server",
        [
            s_recv(
                headers(1, POST),
                headers(
                    1,
                    [(n, v) for n, v in MANY if n[0] != ":"] + [("x-a", ""), ("x-b", "")],
                    es=True,
                ),
                P,
            )
        ],
        stream_error(1, "HEADER_LIST_TOO_LARGE"),
    )
    add_session(
        f,
        "client-response-257-fields",
        "5.1",
        "A response with 257 fields: HEADER_LIST_TOO_LARGE.",
        "client",
        [open_stream(es=True), c_recv(headers(1, [*RESP, *MANY[2:], ("x-z", "")]), P)],
        stream_error(1, "HEADER_LIST_TOO_LARGE"),
    )


def header_rule_sessions() -> None:
    """Sections 5.2 and 5.3: each field and request-target rule, on receipt."""
    f = "semantics"
    get = [(":method", "GET")]
    bad: list[tuple[str, str, list[tuple[str, str]]]] = [
        ("empty-method", "5.3", [(":method", ""), (":path", "/")]),
        ("method-not-token", "5.3", [(":method", "GE T"), (":path", "/")]),
        ("method-with-slash", "5.3", [(":method", "G/ET"), (":path", "/")]),
        ("empty-scheme", "5.3", [*REQ, (":scheme", "")]),
        ("empty-authority", "5.3", [*REQ, (":authority", "")]),
        ("scheme-with-colon", "5.3", [*REQ, (":scheme", "https:")]),
        ("scheme-starts-with-digit", "5.3", [*REQ, (":scheme", "1http")]),
        ("path-absolute-form", "5.3", [*get, (":path", "http://a.example/")]),
        ("path-relative", "5.3", [*get, (":path", "index.html")]),
        ("path-asterisk-not-options", "5.3", [*get, (":path", "*")]),
        ("path-with-space", "5.3", [*get, (":path", "/a b")]),
        ("path-with-tab", "5.3", [*get, (":path", "/a\tb")]),
        ("path-with-del", "5.3", [*get, (":path", "/a\x7fb")]),
        ("name-not-token", "5.2", [*REQ, ("x@a", "1")]),
        ("name-with-space", "5.2", [*REQ, ("x a", "1")]),
        ("colon-inside-name", "5.2", [*REQ, ("x:a", "1")]),
        ("cr-in-value", "5.2", [*REQ, ("x-a", "1\rx")]),
        ("lf-in-value", "5.2", [*REQ, ("x-a", "1\nx")]),
        ("lf-in-pseudo-value", "5.2", [*get, (":path", "/\nx")]),
        ("te-gzip", "5.2", [*REQ, ("te", "gzip")]),
        ("te-trailers-and-gzip", "5.2", [*REQ, ("te", "trailers, gzip")]),
    ]
    bad += [
        (f"connection-specific-{name}", "5.2", [*REQ, (name, value)])
        for name, value in (
            ("connection", "close"),
            ("keep-alive", "timeout=5"),
            ("proxy-connection", "keep-alive"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
        )
    ]
    for name, sec, pairs in bad:
        add_session(
            f,
            f"request-{name}",
            sec,
            f"Malformed request: {name}.",
            "server",
            [s_recv(headers(1, pairs, es=True), P)],
            stream_error(1, "PROTOCOL_ERROR"),
        )
    good: list[tuple[str, str, list[tuple[str, str]]]] = [
        ("path-asterisk-options", "5.3", [(":method", "OPTIONS"), (":path", "*")]),
        ("path-query", "5.3", [*get, (":path", "/p/q?x=1&y=%20")]),
        (
            "scheme-https-authority",
            "5.3",
            [*REQ, (":scheme", "https"), (":authority", "a.example")],
        ),
        ("scheme-token-chars", "5.3", [*REQ, (":scheme", "svn+ssh-v1.2")]),
        ("method-extension-token", "5.3", [(":method", "M-SEARCH"), (":path", "/")]),
        ("te-trailers", "5.2", [*REQ, ("te", "trailers")]),
        ("all-tchar-name", "5.2", [*REQ, ("!#$%&'*+-.^_`|~09az", "v")]),
        ("empty-regular-value", "5.2", [*REQ, ("x-a", "")]),
    ]
    for name, sec, pairs in good:
        add_session(
            f,
            f"request-ok-{name}",
            sec,
            f"Valid request: {name}.",
            "server",
            [s_recv(headers(1, pairs, es=True), P)],
            alive(absent=[{"type": "RST_STREAM"}]),
        )
    resp: list[tuple[str, list[tuple[str, str]]]] = [
        ("connection-specific", [*RESP, ("transfer-encoding", "chunked")]),
        ("uppercase-name", [*RESP, ("Server", "x")]),
        ("lf-in-value", [*RESP, ("x-a", "1\nx")]),
        ("empty-status", [(":status", "")]),
    ]
    for name, pairs in resp:
        add_session(
            f,
            f"response-{name}",
            "5.2",
            f"Malformed response: {name}.",
            "client",
            [open_stream(es=True), c_recv(headers(1, pairs), P)],
            stream_error(1, "PROTOCOL_ERROR"),
        )
    trailers: list[tuple[str, list[tuple[str, str]]]] = [
        ("connection-specific", [("connection", "close")]),
        ("nul-in-value", [("grpc-message", "a\x00b")]),
        ("uppercase-name", [("Grpc-Status", "0")]),
    ]
    for name, pairs in trailers:
        add_session(
            f,
            f"trailers-{name}",
            "5.5",
            f"Malformed request trailers: {name}.",
            "server",
            [s_recv(headers(1, POST), headers(1, pairs, es=True), P)],
            stream_error(1, "PROTOCOL_ERROR"),
        )


def write(kind: str, files: dict[str, list[dict[str, Any]]]) -> int:
    directory = OUT / kind
    directory.mkdir(exist_ok=True)
    for old in directory.glob("*.json"):
        old.unlink()
    total = 0
    for name, vectors in sorted(files.items()):
        doc = {"kind": kind[:-1], "protocol": "mux/msgpack", "version": 1, "vectors": vectors}
        text = json.dumps(doc, indent=1, sort_keys=True) + "\n"
        (directory / f"{name}.json").write_text(text, encoding="utf-8")
        total += len(vectors)
    return total


def main() -> None:
    frame_vectors()
    for build in (
        preface_sessions,
        frame_size_sessions,
        unknown_sessions,
        stream_zero_sessions,
        fixed_size_sessions,
        data_sessions,
        headers_sessions,
        msgpack_sessions,
        semantics_sessions,
        rst_sessions,
        settings_sessions,
        ping_sessions,
        goaway_sessions,
        window_update_sessions,
        flow_sessions,
        stream_sessions,
        order_sessions,
        field_count_sessions,
        header_rule_sessions,
    ):
        build()
    ids = [v["id"] for vs in (*FRAME_FILES.values(), *SESSION_FILES.values()) for v in vs]
    dupes = {i for i in ids if ids.count(i) > 1}
    assert not dupes, dupes
    n_frames = write("frames", FRAME_FILES)
    n_sessions = write("sessions", SESSION_FILES)
    print(f"wrote {n_frames} frame vectors and {n_sessions} session vectors")


if __name__ == "__main__":
    main()
