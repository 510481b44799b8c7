"""Run the language-neutral vectors of spec/vectors/ against the mux/msgpack core.

Frame vectors: the hex decodes (FrameDecoder) to the stated meaning, and the
frame re-encodes (encode_frame) to the same bytes. Session vectors: the steps
drive a real :class:`MuxConnection` and its output must match ``expect``; each
session runs three ways: whole recv chunks, every recv split at every byte
boundary (all split points loop inside one test), and one byte at a time.

The output of the core is parsed here with ``struct`` and ``msgpack`` only, so
a codec bug in the core cannot hide itself. The vector format is documented in
spec/README.md.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest

from mux.core.codec import FrameDecoder
from mux.core.connection import MuxConnection
from mux.core.frames import (
    PREFACE,
    Frame,
    FrameType,
    decode_goaway,
    decode_headers,
    decode_settings,
    decode_u32,
    encode_frame,
    encode_settings,
)
from mux.core.limits import ProtocolLimits
from mux.core.settings import DEFAULTS, SettingId
from mux.errors import ErrorCode, LocalProtocolError, RemoteProtocolError

VECTORS = Path(__file__).resolve().parents[2] / "spec" / "vectors"

#: Vector id -> reason, for vectors that fail because of a known core bug or a
#: spec rule the core does not implement yet. Keep it small and explicit.
XFAIL: dict[str, str] = {}

#: Split points tried for vectors marked ``heavy`` (floods): evenly spaced.
HEAVY_SPLITS = 40

_SETTING_FIELDS = {
    "MAX_CONCURRENT_STREAMS": "max_concurrent_streams",
    "INITIAL_STREAM_WINDOW": "initial_stream_window",
    "CONNECTION_WINDOW": "connection_window",
    "MAX_FRAME_SIZE": "max_frame_size",
    "MAX_HEADER_LIST_SIZE": "max_header_list_size",
    "KEEPALIVE_INTERVAL": "keepalive_interval_ms",
}
_SETTING_IDS = {name: i for i, name in enumerate(_SETTING_FIELDS, start=1)}
_TYPE_NAMES = {t.value: t.name for t in FrameType}


def _load(kind: str) -> list[Any]:
    params = []
    for path in sorted((VECTORS / kind).glob("*.json")):
        for vec in json.loads(path.read_text(encoding="utf-8"))["vectors"]:
            marks = (
                [pytest.mark.xfail(reason=XFAIL[vec["id"]], strict=True)]
                if vec["id"] in XFAIL
                else []
            )
            params.append(pytest.param(vec, id=f"{path.stem}/{vec['id']}", marks=marks))
    return params


def _code(name: str) -> int:
    return ErrorCode[name].value if not name.startswith("0x") else int(name, 16)


# ------------------------------------------------------------------ frame vectors


def _typed(frame: Frame) -> dict[str, Any]:
    """Meaning of a frame through the core's payload decoders."""
    ftype, p = frame.type, frame.payload
    if ftype == FrameType.HEADERS:
        return {"headers": [[n.decode(), v.decode()] for n, v in decode_headers(p)]}
    if ftype == FrameType.RST_STREAM:
        return {"error_code_value": decode_u32(p)}
    if ftype == FrameType.SETTINGS:
        if frame.flags & 0x1:
            return {"settings": {}}
        names = {i: n for n, i in _SETTING_IDS.items()}
        return {"settings": {names.get(k, f"0x{k:x}"): v for k, v in decode_settings(p).items()}}
    if ftype == FrameType.GOAWAY:
        last, code, debug = decode_goaway(p)
        return {"last_stream_id": last, "error_code_value": code, "debug_data": debug.hex()}
    if ftype == FrameType.WINDOW_UPDATE:
        return {"increment": decode_u32(p) & 0x7FFFFFFF}
    return {"data": p.hex()}


@pytest.mark.parametrize("vec", _load("frames"))
def test_frame_vector(vec: dict[str, Any]) -> None:
    """Each frame vector decodes to its stated meaning and re-encodes to its bytes."""
    raw = bytes.fromhex(vec["hex"])
    meaning = vec["frame"]
    if meaning["type"] == "PREFACE":
        assert raw == PREFACE
        assert FrameDecoder(65536, expect_preface=True).next_frame() is None
        return
    decoder = FrameDecoder(16777215, expect_preface=False)
    for i in range(len(raw)):  # byte at a time: no frame before the last byte
        assert decoder.next_frame() is None
        decoder.receive_data(raw[i : i + 1])
    frame = decoder.next_frame()
    assert frame is not None and decoder.next_frame() is None
    assert (frame.type, frame.flags, frame.stream_id) == (
        meaning["type_code"],
        meaning["flags"],
        meaning["stream_id"],
    )
    assert len(frame.payload) == meaning["length"]
    expected = {k: v for k, v in meaning["payload"].items() if k != "error_code"}
    assert _typed(frame) == expected
    reencoded = encode_frame(frame.type, frame.flags, frame.stream_id, frame.payload)
    if frame.type == FrameType.SETTINGS and not frame.flags & 0x1:
        # The core's own encoder produces the canonical payload (ascending ids).
        canonical = encode_settings(decode_settings(frame.payload))
        assert (canonical == frame.payload) == vec["canonical"]
    if vec["canonical"]:
        assert reencoded == raw
    else:  # the reserved stream-id bit is dropped on re-encoding, nothing else
        assert reencoded[:6] + reencoded[10:] == raw[:6] + raw[10:]


# ------------------------------------------------------------------ output parsing


def _parse_output(out: bytes) -> list[dict[str, Any]]:
    """Independent parser of what the core sent: preface check, then frames."""
    assert out[:8] == PREFACE, f"output does not start with the preface: {out[:8].hex()}"
    frames, i = [], 8
    while i < len(out):
        length, ftype, flags, sid = struct.unpack_from(">IBBI", out, i)
        payload = out[i + 10 : i + 10 + length]
        assert len(payload) == length, "core emitted a truncated frame"
        frames.append(_describe(ftype, flags, sid & 0x7FFFFFFF, payload))
        i += 10 + length
    return frames


def _describe(ftype: int, flags: int, sid: int, payload: bytes) -> dict[str, Any]:
    name = _TYPE_NAMES.get(ftype, f"0x{ftype:02x}")
    d: dict[str, Any] = {"type": name, "stream_id": sid, "flags": flags, "length": len(payload)}
    if name in ("DATA", "HEADERS"):
        d["end_stream"] = bool(flags & 1)
    if name in ("SETTINGS", "PING"):
        d["ack"] = bool(flags & 1)
    if name in ("DATA", "PING"):
        d["data"] = payload.hex()
    if name == "HEADERS":
        items = msgpack.unpackb(payload, raw=True)
        d["headers"] = [
            [n.decode(), v.decode()] for n, v in zip(items[::2], items[1::2], strict=True)
        ]
    if name == "RST_STREAM":
        d["error_code"] = _name_of(struct.unpack(">I", payload)[0])
    if name == "GOAWAY":
        last, code = struct.unpack_from(">II", payload)
        d.update(last_stream_id=last & 0x7FFFFFFF, error_code=_name_of(code))
    if name == "WINDOW_UPDATE":
        d["increment"] = struct.unpack(">I", payload)[0] & 0x7FFFFFFF
    if name == "SETTINGS" and not flags & 1:
        names = {i: n for n, i in _SETTING_IDS.items()}
        raw = msgpack.unpackb(payload, strict_map_key=False)
        d["settings"] = {names.get(k, f"0x{k:x}"): v for k, v in raw.items()}
    return d


def _name_of(code: int) -> str:
    try:
        return ErrorCode(code).name
    except ValueError:
        return f"0x{code:x}"


def _matches(frame: dict[str, Any], want: dict[str, Any]) -> bool:
    return all(frame.get(k) == v for k, v in want.items())


# ------------------------------------------------------------------ session runner


def _limits(vec: dict[str, Any]) -> ProtocolLimits:
    """The spec's default settings plus the vector's ``local_settings``, explicitly.

    Built from :data:`mux.core.settings.DEFAULTS`, not ProtocolLimits' own defaults,
    so the runner keeps testing what the vectors state even if those defaults move.
    Every ``assumes`` value must then be what the core advertises (a vector bug if not).
    """
    advertised = {name: DEFAULTS[SettingId[name]] for name in _SETTING_FIELDS}
    advertised.update(vec.get("local_settings", {}))
    for name, value in vec.get("assumes", {}).items():
        assert advertised[name] == value, f"assumes {name} {value}, advertised {advertised[name]}"
    return ProtocolLimits(**{_SETTING_FIELDS[name]: v for name, v in advertised.items()})


class _Run:
    """One execution of a session vector; ``chunker`` splits each recv step."""

    def __init__(
        self, vec: dict[str, Any], chunker: Callable[[int, bytes], Iterator[bytes]]
    ) -> None:
        self.vec = vec
        self.chunker = chunker
        self.conn = MuxConnection(client_side=vec["role"] == "client", limits=_limits(vec))
        self.out = bytearray()
        self.error: RemoteProtocolError | None = None

    def run(self) -> None:
        self.conn.initiate_connection()
        recv_index = 0
        for step in self.vec["steps"]:
            if "recv" in step:
                for chunk in self.chunker(recv_index, bytes.fromhex(step["recv"])):
                    try:
                        self.conn.receive_data(chunk)
                    except RemoteProtocolError as exc:
                        self.error = exc
                        break
                recv_index += 1
            else:
                self._local(step)
            self.out += self.conn.data_to_send()
            if self.error is not None:
                return

    def _local(self, step: dict[str, Any]) -> None:
        expect_error = step.get("expect_local_error", False)
        try:
            self._action(step)
        except LocalProtocolError:
            if not expect_error:
                raise
            assert not self.conn.data_to_send(), f"a refused action sent bytes: {step}"
            return
        assert not expect_error, f"local action did not fail: {step}"

    def _action(self, step: dict[str, Any]) -> None:
        conn = self.conn
        if "open_stream" in step:
            a = step["open_stream"]
            sid = conn.get_next_available_stream_id()
            conn.send_headers(sid, _hdrs(a["headers"]), end_stream=a["end_stream"])
        elif "send_headers" in step:
            a = step["send_headers"]
            conn.send_headers(a["stream_id"], _hdrs(a["headers"]), end_stream=a["end_stream"])
        elif "send_data" in step:
            a = step["send_data"]
            conn.send_data(
                a["stream_id"], bytes.fromhex(a["data"]), end_stream=a.get("end_stream", False)
            )
        elif "consume" in step:
            a = step["consume"]
            conn.acknowledge_received_data(a["bytes"], a["stream_id"])
        elif "reset_stream" in step:
            a = step["reset_stream"]
            conn.reset_stream(a["stream_id"], ErrorCode[a["error_code"]])
        elif "goaway" in step:
            a = step["goaway"]
            conn.close_connection(ErrorCode[a["error_code"]], last_stream_id=a["last_stream_id"])
        elif "check_send_window" in step:
            a = step["check_send_window"]
            got = max(0, conn.local_flow_control_window(a["stream_id"]))
            assert got == a["available"], f"send window of stream {a['stream_id']}: {got}"
        else:
            raise AssertionError(f"unknown step {step}")

    def verify(self) -> None:
        """Compare what the core did with ``expect``; messages show expected vs actual."""
        expect = self.vec["expect"]
        frames = _parse_output(bytes(self.out))
        err = expect.get("error")
        want = list(expect.get("frames", []))
        if err and err["scope"] == "connection":
            assert self.error is not None, f"expected connection error {err['code']}, none raised"
            assert self.error.code == ErrorCode[err["code"]], f"raised {self.error!s}"
            goaway = {"type": "GOAWAY", "error_code": err["code"]}
            if "last_stream_id" in err:
                goaway["last_stream_id"] = err["last_stream_id"]
            want.append(goaway)
            assert frames and frames[-1]["type"] == "GOAWAY", (
                "the GOAWAY must be the last frame sent"
            )
        else:
            assert self.error is None, f"unexpected connection error: {self.error!s}"
        if err and err["scope"] == "stream" and not want:
            want.append(
                {"type": "RST_STREAM", "stream_id": err["stream_id"], "error_code": err["code"]}
            )
        pos = 0
        for w in want:
            while pos < len(frames) and not _matches(frames[pos], w):
                pos += 1
            assert pos < len(frames), f"expected frame {w} (in order) not found in {frames}"
            pos += 1
        for c in expect.get("contains", []):
            assert any(_matches(f, c) for f in frames), f"expected frame {c} not found in {frames}"
        for a in expect.get("absent", []):
            bad = [f for f in frames if _matches(f, a)]
            assert not bad, f"frame matching {a} must not be sent, got {bad}"


def _hdrs(pairs: list[list[str]]) -> list[tuple[bytes, bytes]]:
    return [(n.encode(), v.encode()) for n, v in pairs]


def _whole(_: int, data: bytes) -> Iterator[bytes]:
    yield data


def _bytewise(_: int, data: bytes) -> Iterator[bytes]:
    for i in range(len(data)):
        yield data[i : i + 1]


def _split_at(step: int, offset: int) -> Callable[[int, bytes], Iterator[bytes]]:
    def chunker(index: int, data: bytes) -> Iterator[bytes]:
        if index == step:
            yield data[:offset]
            yield data[offset:]
        else:
            yield data

    return chunker


SESSIONS = _load("sessions")


@pytest.mark.parametrize("vec", SESSIONS)
def test_session_whole(vec: dict[str, Any]) -> None:
    """The session gives the expected frames when each recv arrives in one chunk."""
    run = _Run(vec, _whole)
    run.run()
    run.verify()


@pytest.mark.parametrize("vec", SESSIONS)
def test_session_bytewise(vec: dict[str, Any]) -> None:
    """The session gives the expected frames when fed one byte at a time."""
    run = _Run(vec, _bytewise)
    run.run()
    run.verify()


@pytest.mark.parametrize("vec", SESSIONS)
def test_session_every_split(vec: dict[str, Any]) -> None:
    """The session gives the expected frames for every two-chunk split of every recv."""
    lengths = [len(s["recv"]) // 2 for s in vec["steps"] if "recv" in s]
    for step, n in enumerate(lengths):
        offsets = range(1, n)
        if vec.get("heavy"):
            offsets = range(1, n, max(1, n // HEAVY_SPLITS))
        for offset in offsets:
            run = _Run(vec, _split_at(step, offset))
            run.run()
            try:
                run.verify()
            except AssertionError as exc:
                raise AssertionError(f"split of recv step {step} at byte {offset}: {exc}") from None
