"""HTTP/2 raw-frame peer: hyperframe to parse, hand-built bytes to send.

Theory of operation
-------------------
Frames are written as bytes built here (a 9-octet header plus payload, RFC
9113 §4.1), so any length, type, flag or stream id can be sent, including
illegal ones. Header blocks are encoded with ``hpack`` directly. Frames from
the server are parsed with ``hyperframe`` (never ``h2``'s connection state
machine) and turned into :class:`~.wire.FrameEvent` values.

:meth:`H2Peer.handshake` does the minimum every case needs: client preface,
our SETTINGS, wait for the server's SETTINGS, acknowledge it, and wait for
the ACK of ours.
"""

from __future__ import annotations

import struct

import hpack
import trio
from hyperframe.exceptions import HyperframeError
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    PushPromiseFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

from mux.conformance.wire import FrameEvent, GarbageEvent, Peer, Target

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# Frame types (RFC 9113 §6).
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS = 0x0, 0x1, 0x2, 0x3, 0x4
PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0x5, 0x6, 0x7, 0x8, 0x9
# Flags.
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20
# SETTINGS identifiers (RFC 9113 §6.5.2).
HEADER_TABLE_SIZE, ENABLE_PUSH, MAX_CONCURRENT_STREAMS = 0x1, 0x2, 0x3
INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE, MAX_HEADER_LIST_SIZE = 0x4, 0x5, 0x6
#: Largest flow-control window (RFC 9113 §6.9.1).
MAX_WINDOW = 2**31 - 1
#: Default SETTINGS_MAX_FRAME_SIZE (RFC 9113 §6.5.2).
DEFAULT_MAX_FRAME_SIZE = 16384

_NAMES = {
    DATA: "DATA",
    HEADERS: "HEADERS",
    PRIORITY: "PRIORITY",
    RST_STREAM: "RST_STREAM",
    SETTINGS: "SETTINGS",
    PUSH_PROMISE: "PUSH_PROMISE",
    PING: "PING",
    GOAWAY: "GOAWAY",
    WINDOW_UPDATE: "WINDOW_UPDATE",
    CONTINUATION: "CONTINUATION",
}


def frame_bytes(frame_type: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    """One frame as raw bytes; nothing is validated."""
    header = struct.pack(">I", len(payload))[1:] + bytes([frame_type & 0xFF, flags & 0xFF])
    return header + struct.pack(">I", stream_id & 0xFFFFFFFF) + payload


def settings_payload(settings: dict[int, int]) -> bytes:
    """SETTINGS body: 6 octets per entry."""
    return b"".join(struct.pack(">HI", key, value) for key, value in settings.items())


def _event(frame: Frame, frame_type: int) -> FrameEvent:
    kind = _NAMES.get(frame_type, f"UNKNOWN_0x{frame_type:x}")
    flags = frozenset(frame.flags)
    sid = frame.stream_id
    if isinstance(frame, GoAwayFrame):
        debug = frame.additional_data[:60].decode("utf-8", "replace")
        detail = f"debug={debug!r}" if debug else ""
        return FrameEvent(kind, sid, flags, frame.error_code, b"", frame.last_stream_id, detail)
    if isinstance(frame, RstStreamFrame):
        return FrameEvent(kind, sid, flags, frame.error_code)
    if isinstance(frame, PingFrame):
        return FrameEvent(kind, sid, flags, payload=bytes(frame.opaque_data))
    if isinstance(frame, DataFrame):
        return FrameEvent(kind, sid, flags, payload=bytes(frame.data))
    if isinstance(frame, HeadersFrame | ContinuationFrame | PushPromiseFrame):
        return FrameEvent(kind, sid, flags, payload=bytes(frame.data))
    if isinstance(frame, SettingsFrame):
        detail = ", ".join(f"0x{k:x}={v}" for k, v in frame.settings.items())
        return FrameEvent(kind, sid, flags, payload=settings_payload(frame.settings), detail=detail)
    if isinstance(frame, WindowUpdateFrame):
        return FrameEvent(kind, sid, flags, detail=f"+{frame.window_increment}")
    return FrameEvent(kind, sid, flags)


class H2Peer(Peer):
    """A raw HTTP/2 client connection (see module docstring)."""

    def __init__(self, stream: trio.abc.Stream, timeout: float, target: Target) -> None:
        super().__init__(stream, timeout)
        self.target = target
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()

    # -- parsing -------------------------------------------------------------

    def _parse(self, buffer: bytearray) -> list[FrameEvent | GarbageEvent]:
        events: list[FrameEvent | GarbageEvent] = []
        while len(buffer) >= 9:
            length = int.from_bytes(buffer[:3], "big")
            if len(buffer) < 9 + length:
                break
            frame_type = buffer[3]
            try:
                frame, _ = Frame.parse_frame_header(memoryview(bytes(buffer[:9])))
                frame.parse_body(memoryview(bytes(buffer[9 : 9 + length])))
            except (HyperframeError, ValueError, struct.error) as exc:
                events.append(GarbageEvent(f"bad {_NAMES.get(frame_type, 'frame')}: {exc}"))
            else:
                events.append(_event(frame, frame_type))
            del buffer[: 9 + length]
        return events

    # -- sending -------------------------------------------------------------

    async def send_frame(
        self, frame_type: int, flags: int, stream_id: int, payload: bytes = b""
    ) -> None:
        """Send one frame, legal or not."""
        await self.send_raw(frame_bytes(frame_type, flags, stream_id, payload))

    async def send_settings(self, settings: dict[int, int] | None = None) -> None:
        """Send SETTINGS with ``settings``."""
        await self.send_frame(SETTINGS, 0, 0, settings_payload(settings or {}))

    async def send_ping(self, data: bytes, *, ack: bool = False) -> None:
        """Send PING (or PING ACK)."""
        await self.send_frame(PING, ACK if ack else 0, 0, data)

    async def send_window_update(self, stream_id: int, increment: int) -> None:
        """Send WINDOW_UPDATE."""
        await self.send_frame(WINDOW_UPDATE, 0, stream_id, struct.pack(">I", increment))

    async def send_rst_stream(self, stream_id: int, code: int) -> None:
        """Send RST_STREAM."""
        await self.send_frame(RST_STREAM, 0, stream_id, struct.pack(">I", code))

    async def send_goaway(self, last_stream_id: int, code: int, debug: bytes = b"") -> None:
        """Send GOAWAY."""
        await self.send_frame(GOAWAY, 0, 0, struct.pack(">II", last_stream_id, code) + debug)

    async def send_priority(self, stream_id: int, depends_on: int, weight: int = 15) -> None:
        """Send PRIORITY."""
        await self.send_frame(PRIORITY, 0, stream_id, struct.pack(">IB", depends_on, weight))

    def request_headers(
        self, method: str = "GET", path: str | None = None
    ) -> list[tuple[str, str]]:
        """A valid request header list for the target."""
        return [
            (":method", method),
            (":scheme", "https" if self.target.tls else "http"),
            (":path", path or self.target.path),
            (":authority", f"{self.target.host}:{self.target.port}"),
        ]

    def encode(self, headers: list[tuple[str, str]]) -> bytes:
        """HPACK-encode a header list with this connection's encoder."""
        block: bytes = self.encoder.encode(headers)
        return block

    async def send_headers(
        self,
        stream_id: int,
        headers: list[tuple[str, str]] | None = None,
        *,
        end_stream: bool = True,
        end_headers: bool = True,
    ) -> None:
        """Send HEADERS (a GET for the target unless ``headers`` is given)."""
        block = self.encode(headers if headers is not None else self.request_headers())
        flags = (END_STREAM if end_stream else 0) | (END_HEADERS if end_headers else 0)
        await self.send_frame(HEADERS, flags, stream_id, block)

    async def send_data(self, stream_id: int, data: bytes, *, end_stream: bool = False) -> None:
        """Send DATA."""
        await self.send_frame(DATA, END_STREAM if end_stream else 0, stream_id, data)

    # -- handshake -----------------------------------------------------------

    async def handshake(self, settings: dict[int, int] | None = None) -> None:
        """Preface + SETTINGS exchange, both ways acknowledged (RFC 9113 §3.4)."""
        opening = PREFACE + frame_bytes(SETTINGS, 0, 0, settings_payload(settings or {}))
        ack = frame_bytes(SETTINGS, ACK, 0)
        await self.settings_handshake(
            opening, ack, lambda e: _settings_from(e.payload), "server SETTINGS"
        )

    @property
    def max_frame_size(self) -> int:
        """The server's SETTINGS_MAX_FRAME_SIZE."""
        return self.server_settings.get(MAX_FRAME_SIZE, DEFAULT_MAX_FRAME_SIZE)


def _settings_from(payload: bytes) -> dict[int, int]:
    return {
        key: value
        for key, value in (
            struct.unpack(">HI", payload[i : i + 6]) for i in range(0, len(payload), 6)
        )
    }
