"""A raw HTTP/2 client for the socket tests (h2sem, h2 threats): frames out, parsed frames in."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Self

import trio
from hpack import Encoder
from hyperframe.frame import (
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

from mux.core.h2guard import PREFACE

#: Upper bound on waiting for one reaction of the server (seconds).
REACTION = 5.0


class RawH2:
    """One raw HTTP/2 connection to a server on loopback."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.encoder = Encoder()
        self._buffer = b""
        self.closed = False

    @classmethod
    async def open(
        cls, port: int, settings: dict[int, int] | None = None, *, ack_settings: bool = True
    ) -> Self:
        """Connect and send the preface, our SETTINGS and (unless ``ack_settings``
        is False) an ACK of the server's SETTINGS ahead of it."""
        peer = cls(await trio.open_tcp_stream("127.0.0.1", port))
        frame = SettingsFrame(0)
        frame.settings = settings or {}
        await peer.send(PREFACE + frame.serialize() + (_ack() if ack_settings else b""))
        return peer

    def headers(
        self, sid: int, path: bytes, *, method: bytes = b"GET", end_stream: bool = True
    ) -> bytes:
        frame = HeadersFrame(sid)
        fields = [(b":method", method), (b":scheme", b"http"), (b":authority", b"x")]
        frame.data = bytes(self.encoder.encode([*fields, (b":path", path)]))
        frame.flags.add("END_HEADERS")
        if end_stream:
            frame.flags.add("END_STREAM")
        return frame.serialize()

    async def send(self, data: bytes) -> None:
        try:
            await self.stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.closed = True

    async def next_frame(self, limit: float = REACTION) -> Frame | None:
        """The next frame (None: the server closed; TooSlowError after ``limit`` s)."""
        with trio.fail_after(limit):
            while True:
                if len(self._buffer) >= 9:
                    frame, length = Frame.parse_frame_header(memoryview(self._buffer[:9]))
                    if len(self._buffer) >= 9 + length:
                        frame.parse_body(memoryview(self._buffer[9 : 9 + length]))
                        self._buffer = self._buffer[9 + length :]
                        return frame
                try:
                    data = await self.stream.receive_some(65536)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    data = b""
                if not data:
                    self.closed = True
                    return None
                self._buffer += data

    async def frames(self) -> AsyncIterator[Frame]:
        """Frames from the server until it closes the connection (no time limit of
        its own: bound the loop with ``trio.fail_after``)."""
        while (frame := await self.next_frame(math.inf)) is not None:
            yield frame

    async def collect(self, quiet: float) -> list[Frame]:
        """Every frame until the server closes or is silent for ``quiet`` s."""
        frames: list[Frame] = []
        while True:
            try:
                frame = await self.next_frame(quiet)
            except trio.TooSlowError:
                return frames
            if frame is None:
                return frames
            frames.append(frame)

    async def until(self, kind: type[Frame], limit: float = REACTION) -> tuple[Frame, list[Frame]]:
        """Read until a frame of ``kind``; return it and the frames before it."""
        seen: list[Frame] = []
        deadline = trio.current_time() + limit
        while True:
            frame = await self.next_frame(max(deadline - trio.current_time(), 0.001))
            if frame is None:
                raise AssertionError(f"closed before {kind.__name__}; saw {seen}")
            if isinstance(frame, kind):
                return frame, seen
            seen.append(frame)

    async def aclose(self) -> None:
        await self.stream.aclose()


def _ack() -> bytes:
    frame = SettingsFrame(0)
    frame.flags.add("ACK")
    return frame.serialize()


def data(sid: int, payload: bytes, *, end_stream: bool = False) -> bytes:
    frame = DataFrame(sid)
    frame.data = payload
    if end_stream:
        frame.flags.add("END_STREAM")
    return frame.serialize()


def ping(payload: bytes = b"12345678") -> bytes:
    frame = PingFrame(0)
    frame.opaque_data = payload
    return frame.serialize()


def goaway(code: int, last: int = 0) -> bytes:
    frame = GoAwayFrame(0)
    frame.error_code = code
    frame.last_stream_id = last
    return frame.serialize()


def window_update(sid: int, increment: int) -> bytes:
    frame = WindowUpdateFrame(sid)
    frame.window_increment = increment
    return frame.serialize()


def credit(frames: list[Frame]) -> int:
    """Connection-level WINDOW_UPDATE credit in ``frames``."""
    return sum(
        f.window_increment for f in frames if isinstance(f, WindowUpdateFrame) and f.stream_id == 0
    )


__all__ = ["REACTION", "RawH2", "credit", "data", "goaway", "ping", "window_update"]
