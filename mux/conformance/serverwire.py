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
from mux.conformance.wire import FrameEvent, GarbageEvent, Peer, Target, WireEvent
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


class ClientPeer(Peer):
    """One accepted mux connection, driven frame by frame by a scenario."""

    def __init__(self, stream: trio.abc.Stream, timeout: float) -> None:
        super().__init__(stream, timeout)
        self._decoder = FrameDecoder(_RECEIVE_LIMIT, expect_preface=True)
        self._broken = False
        #: SETTINGS frames we sent and the client acknowledged so far.
        self.acks_received = 0
        self.settings_sent = 0
        #: Seconds to wait before answering a client PING.
        self.ping_delay = 0.0
        #: Payloads of the PINGs the client sent us.
        self.client_pings: list[bytes] = []
        self.client_settings: dict[int, int] = {}

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

    async def send_frame(
        self, frame_type: int, flags: int, stream_id: int, payload: bytes = b""
    ) -> None:
        """Send one frame, legal or not."""
        await self.send_raw(f.encode_frame(frame_type, flags, stream_id, payload))

    async def send_settings(self, settings: dict[int, int]) -> None:
        """Send SETTINGS (counted, so :meth:`wait_ack` can match the ACK)."""
        self.settings_sent += 1
        await self.send_frame(f.FrameType.SETTINGS, 0, 0, f.encode_settings(settings))

    async def send_ping(self, data: bytes, *, ack: bool = False) -> None:
        """Send PING (or PING ACK)."""
        await self.send_frame(f.FrameType.PING, f.ACK if ack else 0, 0, data)

    async def send_goaway(self, last_stream_id: int, code: int, debug: bytes = b"") -> None:
        """Send GOAWAY."""
        payload = f.encode_goaway(last_stream_id, code, debug)
        await self.send_frame(f.FrameType.GOAWAY, 0, 0, payload)

    async def send_rst_stream(self, stream_id: int, code: int) -> None:
        """Send RST_STREAM."""
        await self.send_frame(f.FrameType.RST_STREAM, 0, stream_id, f.encode_u32(code))

    async def send_window_update(self, stream_id: int, increment: int) -> None:
        """Send WINDOW_UPDATE."""
        await self.send_frame(f.FrameType.WINDOW_UPDATE, 0, stream_id, f.encode_u32(increment))

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
        with trio.move_on_after(self.timeout):
            while len(self._buffer) < f.PREFACE_SIZE and not self.closed:
                data = await self._receive()
                if not data:
                    self.closed = True
                    break
                self._buffer += data
        if len(self._buffer) < f.PREFACE_SIZE or self._buffer[:7] != f.PREFACE_MAGIC:
            got = bytes(self._buffer[:8]).hex() or "nothing"
            return GarbageEvent(f"client preface expected, got {got}")
        await self.send_raw(f.PREFACE)
        await self.send_settings(INITIAL_SETTINGS)
        for event in self._parse(self._buffer):
            if isinstance(event, FrameEvent):
                self.history.append(event)
            self._events.append(event)
        return None

    async def _receive(self) -> bytes:
        try:
            return bytes(await self.stream.receive_some(65536))
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            return b""

    def push_back(self, event: WireEvent) -> None:
        """Put ``event`` back in front of the queue (the dispatcher peeks at the first request)."""
        self._events.appendleft(event)

    async def next_frame(self, wait: float | None = None) -> WireEvent:
        """Like :meth:`next_event`, but SETTINGS and PING chores are handled here."""
        while True:
            event = await self.next_event(wait)
            if not isinstance(event, FrameEvent):
                return event
            if event.kind == "SETTINGS":
                if event.has("ACK"):
                    self.acks_received += 1
                    return event
                else:
                    self.client_settings.update(_settings(event))
                    await self.send_frame(f.FrameType.SETTINGS, f.ACK, 0)
                continue
            if event.kind == "PING" and not event.has("ACK"):
                self.client_pings.append(event.payload)
                if self.ping_delay:
                    await trio.sleep(self.ping_delay)
                await self.send_ping(event.payload, ack=True)
                continue
            return event


def _settings(event: FrameEvent) -> dict[int, int]:
    try:
        return f.decode_settings(event.payload)
    except ProtocolError:
        return {}


__all__ = ["INITIAL_SETTINGS", "ClientPeer", "Target", "request_path"]
