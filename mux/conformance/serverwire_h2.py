"""Server side of the raw HTTP/2 wire, for client mode (``mux conformance serve --protocol h2``).

Theory of operation
-------------------
:class:`H2ClientPeer` is the HTTP/2 twin of
:class:`~mux.conformance.serverwire.ClientPeer`: it owns one *accepted*
connection, checks the 24-octet client preface (RFC 9113 §3.4), sends our
SETTINGS, and turns every later frame into a
:class:`~mux.conformance.wire.WireEvent`. Frames are parsed with
``hyperframe`` and header blocks decoded with ``hpack``; no ``h2`` state
machine runs, so a scenario can misbehave at will (DATA after RST_STREAM,
GOAWAY with any last_stream_id, a frame cut in half).

Header blocks are decoded at parse time, in wire order, because HPACK is
stateful: a HEADERS frame without END_HEADERS is held until its last
CONTINUATION, then reported as one ``HEADERS`` event whose ``detail`` is the
request's ``:path``.

:meth:`H2ClientPeer.next_frame` answers the chores a scenario does not care
about, like a plain server: it acknowledges the client's SETTINGS, answers its
PINGs (after ``ping_delay`` seconds), and counts the client's ACKs of our
SETTINGS; every other event is returned.
"""

from __future__ import annotations

import struct

import hpack
import trio
from hyperframe.exceptions import HyperframeError
from hyperframe.frame import ContinuationFrame, Frame, HeadersFrame

from mux.conformance.h2wire import (
    DATA,
    END_HEADERS,
    END_STREAM,
    GOAWAY,
    HEADERS,
    INITIAL_WINDOW_SIZE,
    MAX_CONCURRENT_STREAMS,
    PING,
    PREFACE,
    RST_STREAM,
    SETTINGS,
    WINDOW_UPDATE,
    _event,
    _settings_from,
    frame_bytes,
    settings_payload,
)
from mux.conformance.serverpeer import ServerPeer
from mux.conformance.wire import FrameEvent, GarbageEvent, WireEvent

#: The settings every h2 client-mode connection advertises first: a small
#: stream window, so the flow-control scenario can starve it with a modest body.
H2_INITIAL_SETTINGS = {MAX_CONCURRENT_STREAMS: 100, INITIAL_WINDOW_SIZE: 4096}
#: The window every HTTP/2 stream and connection starts with (RFC 9113 §6.9.2).
DEFAULT_WINDOW = 65535


class H2ClientPeer(ServerPeer):
    """One accepted HTTP/2 connection, driven frame by frame by a scenario."""

    SETTINGS = SETTINGS
    PING = PING
    GOAWAY = GOAWAY
    RST_STREAM = RST_STREAM
    WINDOW_UPDATE = WINDOW_UPDATE

    def __init__(self, stream: trio.abc.Stream, timeout: float) -> None:
        super().__init__(stream, timeout)
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()
        self._pending: tuple[HeadersFrame, bytearray] | None = None

    # -- parsing -------------------------------------------------------------

    def _parse(self, buffer: bytearray) -> list[FrameEvent | GarbageEvent]:
        events: list[FrameEvent | GarbageEvent] = []
        while not self._broken and len(buffer) >= 9:
            length = int.from_bytes(buffer[:3], "big")
            if len(buffer) < 9 + length:
                break
            frame_type = buffer[3]
            try:
                frame, _ = Frame.parse_frame_header(memoryview(bytes(buffer[:9])))
                frame.parse_body(memoryview(bytes(buffer[9 : 9 + length])))
                event = self._frame(frame, frame_type)
            except (HyperframeError, ValueError, struct.error, hpack.HPACKError) as exc:
                self._broken = True
                events.append(GarbageEvent(f"bad frame 0x{frame_type:x}: {exc}"))
            else:
                if event is not None:
                    events.append(event)
            del buffer[: 9 + length]
        if self._broken:
            buffer.clear()
        return events

    def _frame(self, frame: Frame, frame_type: int) -> FrameEvent | None:
        if isinstance(frame, HeadersFrame):
            self._pending = (frame, bytearray(frame.data))
        elif isinstance(frame, ContinuationFrame) and self._pending is not None:
            self._pending[1].extend(frame.data)
        else:
            return _event(frame, frame_type)
        if "END_HEADERS" not in frame.flags:
            return None
        head, block = self._pending
        self._pending = None
        return FrameEvent("HEADERS", head.stream_id, frozenset(head.flags) | {"END_HEADERS"},
                          payload=bytes(block), detail=self._path(bytes(block)))  # fmt: skip

    def _path(self, block: bytes) -> str:
        for name, value in self.decoder.decode(block, raw=True):
            if name == b":path":
                return bytes(value).decode("latin-1")
        return ""

    def path_of(self, event: FrameEvent) -> str:
        """The ``:path`` of a HEADERS event ("" when absent)."""
        return event.detail if event.kind == "HEADERS" else ""

    # -- sending -------------------------------------------------------------

    def _encode(self, frame_type: int, flags: int, stream_id: int, payload: bytes) -> bytes:
        return frame_bytes(frame_type, flags, stream_id, payload)

    def _settings_payload(self, settings: dict[int, int]) -> bytes:
        return settings_payload(settings)

    def _client_settings(self, payload: bytes) -> dict[int, int]:
        return _settings_from(payload)

    async def respond(
        self, stream_id: int, body: bytes = b"ok", *, status: int = 200, end: bool = True
    ) -> None:
        """Send response HEADERS and, unless ``body`` is empty, one DATA."""
        block = self.encoder.encode([(":status", str(status))])
        flags = END_HEADERS | (0 if body or not end else END_STREAM)
        await self.send_frame(HEADERS, flags, stream_id, block)
        if body:
            await self.send_frame(DATA, END_STREAM if end else 0, stream_id, body)

    # -- receiving -----------------------------------------------------------

    async def handshake(self) -> WireEvent | None:
        """Check the client preface, send our SETTINGS; None when it went well."""
        await self._read_preface(len(PREFACE))
        if bytes(self._buffer[: len(PREFACE)]) != PREFACE:
            got = bytes(self._buffer[:24]) or b"nothing"
            return GarbageEvent(f"HTTP/2 client preface expected, got {got!r}")
        del self._buffer[: len(PREFACE)]
        await self.send_settings(H2_INITIAL_SETTINGS)
        self._queue_buffered()
        return None


__all__ = ["DEFAULT_WINDOW", "END_STREAM", "H2_INITIAL_SETTINGS", "H2ClientPeer"]
