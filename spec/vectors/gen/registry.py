"""Vector registries and the helpers that build frame and session vectors."""

from __future__ import annotations

import struct
from typing import Any

import msgpack

from .wire import (
    ACK,
    ALIVE,
    CLIENT_START,
    CODE_NAMES,
    DEFAULT_SETTINGS,
    END_STREAM,
    MAX_SETTINGS,
    PREFACE,
    REQ,
    RESP,
    SERVER_START,
    SETTING_NAMES,
    TYPE_NAMES,
    U31,
    describe,
    ping,
)

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
    assumes: dict[str, int] | None = None,
) -> None:
    """Register a session vector (format: spec/README.md).

    ``assumes`` names the settings whose *advertised* value the outcome depends on
    (see :func:`check_assumes`); the value is always the one the endpoint under test
    advertises under this vector: the spec default, or ``local_settings``.
    """
    first = bytes.fromhex(next(s["recv"] for s in steps if "recv" in s))
    assert (first.startswith(PREFACE) and first[12] == 0x3) or file == "preface", vid
    check_assumes(vid, steps, local_settings or {}, assumes or {})
    vec: dict[str, Any] = {
        "id": vid,
        "section": section,
        "description": desc,
        "role": role,
        "steps": steps,
        "expect": expect,
    }
    if role == "server" and not first.startswith(PREFACE[:4]):
        # Not mux at all: on a listener that also speaks HTTP, these bytes rightly
        # select another protocol (spec/README.md, "mux_only").
        vec["mux_only"] = True
    if local_settings:
        vec["local_settings"] = local_settings
    if heavy:
        vec["heavy"] = True
    if assumes:
        vec["assumes"] = assumes
    SESSION_FILES.setdefault(file, []).append(vec)


def received_lengths(steps: list[dict[str, Any]]) -> list[int]:
    """Length fields of the frames the peer sends (all ``recv`` steps, after the preface)."""
    buf = b"".join(bytes.fromhex(s["recv"]) for s in steps if "recv" in s)
    if not buf.startswith(PREFACE):
        return []  # a preface vector: the bytes after a bad preface are never framed
    lengths, i = [], len(PREFACE)
    while i + 10 <= len(buf):
        n = struct.unpack_from(">I", buf, i)[0]
        lengths.append(n)
        i += 10 + n
    return lengths


def check_assumes(
    vid: str, steps: list[dict[str, Any]], local: dict[str, int], assumes: dict[str, int]
) -> None:
    """Check a vector's ``assumes`` against what it sends and configures.

    Each assumed value must be the one the endpoint advertises under the vector (the
    spec default; a setting in ``local_settings`` needs no assumption). And a frame
    length above the default MAX_FRAME_SIZE but within the setting's range means the
    outcome hangs on the default, so such a vector must assume MAX_FRAME_SIZE.
    """
    for name, value in assumes.items():
        assert name in MAX_SETTINGS and name not in local, (vid, name)
        assert value == DEFAULT_SETTINGS[name], (vid, name, value)
    default, top = DEFAULT_SETTINGS["MAX_FRAME_SIZE"], MAX_SETTINGS["MAX_FRAME_SIZE"]
    if "MAX_FRAME_SIZE" not in local and any(default < n <= top for n in received_lengths(steps)):
        assert "MAX_FRAME_SIZE" in assumes, f"{vid}: a frame above 65536 needs assumes"


#: ``assumes`` of a vector whose outcome needs the default MAX_FRAME_SIZE (65536).
DEFAULT_FRAME_SIZE = {"MAX_FRAME_SIZE": DEFAULT_SETTINGS["MAX_FRAME_SIZE"]}


def conn_error(code: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"scope": "connection", "code": code, **extra}}


def pong() -> dict[str, Any]:
    """The expected ACK of the trailing liveness PING."""
    return {"type": "PING", "ack": True, "data": ALIVE.hex()}


def graceful_goaway() -> dict[str, Any]:
    """A local step: send GOAWAY(NO_ERROR) naming the highest processed stream."""
    return {"goaway": {"error_code": "NO_ERROR", "last_stream_id": None}}


def code_slug(code: str | int) -> str:
    """An error code as part of a vector id: ``enhance-your-calm`` or ``unknown-code``."""
    return code.lower().replace("_", "-") if isinstance(code, str) else "unknown-code"


def stream_error(sid: int, code: str) -> dict[str, Any]:
    """A stream error; the trailing PING proves the connection still works."""
    return {
        "error": {"scope": "stream", "stream_id": sid, "code": code},
        "frames": [
            {"type": "RST_STREAM", "stream_id": sid, "error_code": code},
            pong(),
        ],
        "absent": [{"type": "GOAWAY"}],
    }


def alive(*frames_: dict[str, Any], absent: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Frames expected, then the PONG of the trailing PING; no GOAWAY, plus ``absent``."""
    return {
        "frames": [*frames_, pong()],
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
