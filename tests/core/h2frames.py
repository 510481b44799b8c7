"""Raw HTTP/2 frame builders for engine tests (hyperframe + hpack)."""

from __future__ import annotations

from typing import Any

from hpack import Encoder
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    PriorityFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

from mux.core.h2engine import H2Engine
from mux.core.h2guard import PREFACE, H2Limits

REQUEST = [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/"), (b":authority", b"x")]
POST = [(b":method", b"POST"), (b":scheme", b"http"), (b":path", b"/"), (b":authority", b"x")]


class Peer:
    """A raw client: builds frames, keeps the HPACK encoder in sync."""

    def __init__(self) -> None:
        self.encoder = Encoder()

    def block(self, headers: list[tuple[bytes, bytes]]) -> bytes:
        return bytes(self.encoder.encode(headers))

    def headers(
        self,
        sid: int,
        headers: Any = None,
        *,
        end_stream: bool = True,
        end_headers: bool = True,
        **attrs: Any,
    ) -> bytes:
        f = HeadersFrame(sid)
        f.data = self.block(REQUEST if headers is None else headers)
        for x, on in (("END_STREAM", end_stream), ("END_HEADERS", end_headers)):
            if on:
                f.flags.add(x)
        for k, v in attrs.items():
            setattr(f, k, v)
        if "depends_on" in attrs:
            f.flags.add("PRIORITY")
        return f.serialize()


def frame(f: Frame, *flags: str) -> bytes:
    for flag in flags:
        f.flags.add(flag)
    return f.serialize()


def data(sid: int, payload: bytes, *flags: str) -> bytes:
    f = DataFrame(sid)
    f.data = payload
    return frame(f, *flags)


def settings(**values: int) -> bytes:
    f = SettingsFrame(0)
    for name, value in values.items():
        f.settings[getattr(SettingsFrame, name)] = value
    return f.serialize()


def settings_ack() -> bytes:
    return frame(SettingsFrame(0), "ACK")


def ping(opaque: bytes = b"12345678") -> bytes:
    return PingFrame(0, opaque_data=opaque).serialize()


def rst(sid: int, code: int = 8) -> bytes:
    return RstStreamFrame(sid, error_code=code).serialize()


def window_update(sid: int, inc: int) -> bytes:
    return WindowUpdateFrame(sid, window_increment=inc).serialize()


def priority(sid: int, depends_on: int) -> bytes:
    return PriorityFrame(sid, depends_on=depends_on, stream_weight=15).serialize()


def continuation(sid: int, block: bytes, *flags: str) -> bytes:
    f = ContinuationFrame(sid)
    f.data = block
    return frame(f, *flags)


def raw_frame(ftype: int, flags: int, sid: int, payload: bytes, length: int | None = None) -> bytes:
    n = len(payload) if length is None else length
    return n.to_bytes(3, "big") + bytes((ftype, flags)) + sid.to_bytes(4, "big") + payload


def server(limits: H2Limits | None = None) -> tuple[H2Engine, Peer]:
    """A server engine that has completed the handshake with a raw peer."""
    engine = H2Engine(client_side=False, limits=limits)
    engine.initiate_connection()
    engine.data_to_send()
    engine.receive_data(PREFACE + settings() + settings_ack())
    engine.data_to_send()
    return engine, Peer()


def parse(data: bytes) -> list[Frame]:
    """Split bytes the engine sent into hyperframe frames."""
    frames = []
    while data:
        f, length = Frame.parse_frame_header(memoryview(data[:9]))
        f.parse_body(memoryview(data[9 : 9 + length]))
        frames.append(f)
        data = data[9 + length :]
    return frames


def goaway(data: bytes) -> GoAwayFrame | None:
    for f in parse(data):
        if isinstance(f, GoAwayFrame):
            return f
    return None


def resets(data: bytes) -> dict[int, int]:
    return {f.stream_id: f.error_code for f in parse(data) if isinstance(f, RstStreamFrame)}
