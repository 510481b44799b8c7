"""mux/msgpack raw-frame peer, built on the frame codec only.

Theory of operation
-------------------
Sending uses :func:`mux.core.frames.encode_frame` and the payload encoders,
which validate nothing, so a case can send any length, type, flag, stream id
or payload. Receiving checks the server's 8-byte preface here (reported as a
``PREFACE`` event carrying the version), then feeds the rest to
:class:`mux.core.codec.FrameDecoder` and decodes each payload just enough to
report it (error codes, GOAWAY fields, settings, ``:status``). No connection
state machine is involved.
"""

from __future__ import annotations

import trio

from mux.conformance.wire import FrameEvent, GarbageEvent, Peer, Target
from mux.core import frames as f
from mux.core.codec import FrameDecoder
from mux.errors import ProtocolError

#: Largest frame the tester accepts from a server (the spec's upper bound).
_RECEIVE_LIMIT = 16777215

_NAMES = {t.value: t.name for t in f.FrameType}


def _describe_payload(frame: f.Frame) -> FrameEvent:
    kind = _NAMES.get(frame.type, f"UNKNOWN_0x{frame.type:x}")
    flags: set[str] = set()
    if frame.flags & 0x1 and frame.type in (f.FrameType.DATA, f.FrameType.HEADERS):
        flags.add("END_STREAM")
    if frame.flags & 0x1 and frame.type in (f.FrameType.SETTINGS, f.FrameType.PING):
        flags.add("ACK")
    base = FrameEvent(kind, frame.stream_id, frozenset(flags), payload=frame.payload)
    try:
        return _decode(frame, base)
    except ProtocolError as exc:
        return FrameEvent(
            kind,
            frame.stream_id,
            base.flags,
            payload=frame.payload,
            detail=f"malformed payload: {exc}",
        )


def _decode(frame: f.Frame, base: FrameEvent) -> FrameEvent:
    if frame.type == f.FrameType.GOAWAY:
        last, code, debug = f.decode_goaway(frame.payload)
        text = debug[:60].decode("utf-8", "replace")
        return FrameEvent(
            base.kind,
            base.stream_id,
            base.flags,
            code,
            b"",
            last,
            f"debug={text!r}" if text else "",
        )
    if frame.type == f.FrameType.RST_STREAM:
        return FrameEvent(base.kind, base.stream_id, base.flags, f.decode_u32(frame.payload))
    if frame.type == f.FrameType.WINDOW_UPDATE:
        increment = f.decode_u32(frame.payload) & f.STREAM_ID_MASK
        return FrameEvent(base.kind, base.stream_id, base.flags, detail=f"+{increment}")
    if frame.type == f.FrameType.SETTINGS and frame.payload:
        settings = f.decode_settings(frame.payload)
        detail = ", ".join(f"0x{k:x}={v}" for k, v in settings.items())
        return FrameEvent(
            base.kind, base.stream_id, base.flags, payload=frame.payload, detail=detail or "empty"
        )
    if frame.type == f.FrameType.HEADERS:
        headers = f.decode_headers(frame.payload)
        status = [v.decode("latin-1") for k, v in headers if k == b":status"]
        return FrameEvent(
            base.kind,
            base.stream_id,
            base.flags,
            payload=frame.payload,
            detail=f":status {status[0]}" if status else f"{len(headers)} fields",
        )
    return base


def settings_from(event: FrameEvent) -> dict[int, int]:
    """The settings a SETTINGS event carried (empty when malformed)."""
    try:
        return f.decode_settings(event.payload) if event.payload else {}
    except ProtocolError:
        return {}


class MuxPeer(Peer):
    """A raw mux/msgpack client connection (see module docstring)."""

    def __init__(self, stream: trio.abc.Stream, timeout: float, target: Target) -> None:
        super().__init__(stream, timeout)
        self.target = target
        self._decoder = FrameDecoder(_RECEIVE_LIMIT, expect_preface=False)
        self._preface_seen = False
        self._broken = False

    # -- parsing -------------------------------------------------------------

    def _parse(self, buffer: bytearray) -> list[FrameEvent | GarbageEvent]:
        events: list[FrameEvent | GarbageEvent] = []
        if self._broken:
            buffer.clear()
            return events
        if not self._preface_seen:
            if len(buffer) < f.PREFACE_SIZE:
                return events
            preface = bytes(buffer[: f.PREFACE_SIZE])
            del buffer[: f.PREFACE_SIZE]
            if preface[:7] != f.PREFACE_MAGIC:
                self._broken = True
                buffer.clear()
                return [GarbageEvent(f"server preface {preface.hex()} is not mux")]
            self._preface_seen = True
            events.append(FrameEvent("PREFACE", 0, detail=f"version {preface[7]}", payload=preface))
        self._decoder.receive_data(bytes(buffer))
        buffer.clear()
        try:
            while (frame := self._decoder.next_frame()) is not None:
                events.append(_describe_payload(frame))
        except ProtocolError as exc:
            self._broken = True
            events.append(GarbageEvent(str(exc)))
        return events

    # -- sending -------------------------------------------------------------

    async def send_frame(
        self, frame_type: int, flags: int, stream_id: int, payload: bytes = b""
    ) -> None:
        """Send one frame, legal or not."""
        await self.send_raw(f.encode_frame(frame_type, flags, stream_id, payload))

    async def send_settings(self, settings: dict[int, int] | None = None) -> None:
        """Send SETTINGS with ``settings``."""
        await self.send_frame(f.FrameType.SETTINGS, 0, 0, f.encode_settings(settings or {}))

    async def send_ping(self, data: bytes, *, ack: bool = False) -> None:
        """Send PING (or PING ACK)."""
        await self.send_frame(f.FrameType.PING, f.ACK if ack else 0, 0, data)

    async def send_window_update(self, stream_id: int, increment: int) -> None:
        """Send WINDOW_UPDATE."""
        await self.send_frame(f.FrameType.WINDOW_UPDATE, 0, stream_id, f.encode_u32(increment))

    async def send_rst_stream(self, stream_id: int, code: int) -> None:
        """Send RST_STREAM."""
        await self.send_frame(f.FrameType.RST_STREAM, 0, stream_id, f.encode_u32(code))

    async def send_goaway(self, last_stream_id: int, code: int, debug: bytes = b"") -> None:
        """Send GOAWAY."""
        await self.send_frame(
            f.FrameType.GOAWAY, 0, 0, f.encode_goaway(last_stream_id, code, debug)
        )

    def request_headers(
        self, method: str = "GET", path: str | None = None
    ) -> list[tuple[bytes, bytes]]:
        """A valid request header list for the target."""
        return [
            (b":method", method.encode()),
            (b":path", (path or self.target.path).encode()),
            (b":scheme", b"https" if self.target.tls else b"http"),
            (b":authority", f"{self.target.host}:{self.target.port}".encode()),
        ]

    async def send_headers(
        self,
        stream_id: int,
        headers: list[tuple[bytes, bytes]] | None = None,
        *,
        end_stream: bool = True,
    ) -> None:
        """Send HEADERS (a GET for the target unless ``headers`` is given)."""
        payload = f.encode_headers(headers if headers is not None else self.request_headers())
        flags = f.END_STREAM if end_stream else 0
        await self.send_frame(f.FrameType.HEADERS, flags, stream_id, payload)

    async def send_data(self, stream_id: int, data: bytes, *, end_stream: bool = False) -> None:
        """Send DATA."""
        await self.send_frame(f.FrameType.DATA, f.END_STREAM if end_stream else 0, stream_id, data)

    # -- handshake -----------------------------------------------------------

    async def handshake(self, settings: dict[int, int] | None = None) -> None:
        """Preface + SETTINGS exchange, both ways acknowledged."""
        payload = f.encode_settings(settings or {})
        opening = f.PREFACE + f.encode_frame(f.FrameType.SETTINGS, 0, 0, payload)
        ack = f.encode_frame(f.FrameType.SETTINGS, f.ACK, 0, b"")
        await self.settings_handshake(opening, ack, settings_from, "server preface and SETTINGS")
