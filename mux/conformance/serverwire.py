"""Server side of the raw mux wire, for client mode (``mux conformance serve``).

Theory of operation
-------------------
:class:`ClientPeer` is the mirror of :class:`~mux.conformance.muxwire.MuxPeer`:
it owns one *accepted* connection, checks the client's 8-byte preface, and
turns everything else into :class:`~mux.conformance.wire.WireEvent` values
through :class:`mux.core.codec.FrameDecoder` only (no connection state
machine), so a scenario can misbehave at will. Frames are built with
:func:`mux.core.frames.encode_frame`.

:meth:`ClientPeer.next_frame` answers the chores a scenario does not care
about, the way a plain server would: it acknowledges the client's SETTINGS,
answers its PINGs (after ``ping_delay`` seconds, to play a slow server), and
counts the client's ACKs of our SETTINGS; every other event is returned.
"""

from __future__ import annotations

import trio

from mux.conformance.muxwire import _describe_payload
from mux.conformance.serverpeer import ServerPeer
from mux.conformance.wire import FrameEvent, GarbageEvent, Target, WireEvent
from mux.core import frames as f
from mux.core.codec import FrameDecoder
from mux.errors import ProtocolError

#: Largest frame the tester accepts from a client.
_RECEIVE_LIMIT = 16777215
#: The settings every client-mode connection advertises first: a small stream
#: window, so a flow-control scenario can starve it with a modest body.
INITIAL_SETTINGS = {0x2: 4096, 0x3: 1048576}


def request_path(event: FrameEvent) -> str:
    """The ``:path`` of a HEADERS event ("" when absent or malformed)."""
    try:
        headers = f.decode_headers(event.payload)
    except ProtocolError:
        return ""
    for name, value in headers:
        if name == b":path":
            return value.decode("latin-1")
    return ""


class ClientPeer(ServerPeer):
    """One accepted mux connection, driven frame by frame by a scenario."""

    SETTINGS = f.FrameType.SETTINGS
    PING = f.FrameType.PING
    GOAWAY = f.FrameType.GOAWAY
    RST_STREAM = f.FrameType.RST_STREAM
    WINDOW_UPDATE = f.FrameType.WINDOW_UPDATE
    ACK = f.ACK

    def __init__(self, stream: trio.abc.Stream, timeout: float) -> None:
        super().__init__(stream, timeout)
        self._decoder = FrameDecoder(_RECEIVE_LIMIT, expect_preface=True)

    def _parse(self, buffer: bytearray) -> list[FrameEvent | GarbageEvent]:
        if self._broken:
            buffer.clear()
            return []
        self._decoder.receive_data(bytes(buffer))
        buffer.clear()
        events: list[FrameEvent | GarbageEvent] = []
        try:
            while (frame := self._decoder.next_frame()) is not None:
                events.append(_describe_payload(frame))
        except ProtocolError as exc:
            self._broken = True
            events.append(GarbageEvent(str(exc)))
        return events

    def path_of(self, event: FrameEvent) -> str:
        """The ``:path`` of a HEADERS event ("" when absent or malformed)."""
        return request_path(event)

    # -- sending -------------------------------------------------------------

    def _encode(self, frame_type: int, flags: int, stream_id: int, payload: bytes) -> bytes:
        return f.encode_frame(frame_type, flags, stream_id, payload)

    def _settings_payload(self, settings: dict[int, int]) -> bytes:
        return f.encode_settings(settings)

    def _client_settings(self, payload: bytes) -> dict[int, int]:
        try:
            return f.decode_settings(payload)
        except ProtocolError:
            return {}

    async def respond(
        self, stream_id: int, body: bytes = b"ok", *, status: int = 200, end: bool = True
    ) -> None:
        """Send response HEADERS and, unless ``body`` is empty, one DATA."""
        head = f.encode_headers([(b":status", str(status).encode())])
        await self.send_frame(f.FrameType.HEADERS, 0 if body or not end else f.END_STREAM,
                              stream_id, head)  # fmt: skip
        if body:
            await self.send_frame(f.FrameType.DATA, f.END_STREAM if end else 0, stream_id, body)

    # -- receiving -----------------------------------------------------------

    async def handshake(self) -> WireEvent | None:
        """Check the client preface, send ours and our SETTINGS; None when it went well."""
        await self._read_preface(f.PREFACE_SIZE)
        if len(self._buffer) < f.PREFACE_SIZE or self._buffer[:7] != f.PREFACE_MAGIC:
            got = bytes(self._buffer[:8]).hex() or "nothing"
            return GarbageEvent(f"client preface expected, got {got}")
        await self.send_raw(f.PREFACE)
        await self.send_settings(INITIAL_SETTINGS)
        self._queue_buffered()
        return None


__all__ = ["INITIAL_SETTINGS", "ClientPeer", "Target", "request_path"]
