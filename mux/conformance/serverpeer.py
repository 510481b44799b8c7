"""Common base of the server-side raw peers of client mode (mux and HTTP/2).

Theory of operation
-------------------
:class:`~mux.conformance.serverwire.ClientPeer` (mux) and
:class:`~mux.conformance.serverwire_h2.H2ClientPeer` (HTTP/2) each own one
*accepted* connection and differ only in how frames are parsed and built and
in the client preface. :class:`ServerPeer` holds the rest: the control frames
a scenario sends (SETTINGS, PING, GOAWAY, RST_STREAM, WINDOW_UPDATE, whose
layouts are alike in both framings except the SETTINGS body), reading the
client preface, and :meth:`ServerPeer.next_frame`, which answers the chores a
scenario does not care about the way a plain server would: it acknowledges the
client's SETTINGS, answers its PINGs (after ``ping_delay`` seconds, to play a
slow server), and counts the client's ACKs of our SETTINGS.
"""

from __future__ import annotations

import abc
import struct
from typing import ClassVar

import trio

from mux.conformance.wire import FrameEvent, Peer, WireEvent


class ServerPeer(Peer):
    """One accepted connection, driven frame by frame by a scenario.

    Subclasses set the frame type numbers and implement :meth:`_encode`,
    :meth:`_settings_payload` and :meth:`_client_settings`.
    """

    SETTINGS: ClassVar[int]
    PING: ClassVar[int]
    GOAWAY: ClassVar[int]
    RST_STREAM: ClassVar[int]
    WINDOW_UPDATE: ClassVar[int]
    #: The ACK flag of SETTINGS and PING.
    ACK: ClassVar[int] = 0x1

    def __init__(self, stream: trio.abc.Stream, timeout: float) -> None:
        super().__init__(stream, timeout)
        self._broken = False
        #: SETTINGS frames we sent and the client acknowledged so far.
        self.acks_received = 0
        self.settings_sent = 0
        #: Seconds to wait before answering a client PING.
        self.ping_delay = 0.0
        #: Payloads of the PINGs the client sent us.
        self.client_pings: list[bytes] = []
        self.client_settings: dict[int, int] = {}

    @abc.abstractmethod
    def _encode(self, frame_type: int, flags: int, stream_id: int, payload: bytes) -> bytes:
        """One frame as bytes."""

    @abc.abstractmethod
    def _settings_payload(self, settings: dict[int, int]) -> bytes:
        """A SETTINGS body."""

    @abc.abstractmethod
    def _client_settings(self, payload: bytes) -> dict[int, int]:
        """The settings of a client SETTINGS body."""

    # -- sending -------------------------------------------------------------

    async def send_frame(
        self, frame_type: int, flags: int, stream_id: int, payload: bytes = b""
    ) -> None:
        """Send one frame, legal or not."""
        await self.send_raw(self._encode(frame_type, flags, stream_id, payload))

    async def send_settings(self, settings: dict[int, int]) -> None:
        """Send SETTINGS (counted, so a scenario can wait for its ACK)."""
        self.settings_sent += 1
        await self.send_frame(self.SETTINGS, 0, 0, self._settings_payload(settings))

    async def send_ping(self, data: bytes, *, ack: bool = False) -> None:
        """Send PING (or PING ACK)."""
        await self.send_frame(self.PING, self.ACK if ack else 0, 0, data)

    async def send_goaway(self, last_stream_id: int, code: int, debug: bytes = b"") -> None:
        """Send GOAWAY."""
        await self.send_frame(self.GOAWAY, 0, 0, struct.pack(">II", last_stream_id, code) + debug)

    async def send_rst_stream(self, stream_id: int, code: int) -> None:
        """Send RST_STREAM."""
        await self.send_frame(self.RST_STREAM, 0, stream_id, struct.pack(">I", code))

    async def send_window_update(self, stream_id: int, increment: int) -> None:
        """Send WINDOW_UPDATE."""
        await self.send_frame(self.WINDOW_UPDATE, 0, stream_id, struct.pack(">I", increment))

    # -- receiving -----------------------------------------------------------

    async def _read_preface(self, size: int) -> None:
        """Buffer at least ``size`` bytes (or what came before the timeout or close)."""
        with trio.move_on_after(self.timeout):
            while len(self._buffer) < size and not self.closed:
                data = await self._receive()
                if not data:
                    self.closed = True
                    break
                self._buffer += data

    def _queue_buffered(self) -> None:
        """Parse what came with the preface into the event queue."""
        for event in self._parse(self._buffer):
            if isinstance(event, FrameEvent):
                self.history.append(event)
            self._events.append(event)

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
                self.client_settings.update(self._client_settings(event.payload))
                await self.send_frame(self.SETTINGS, self.ACK, 0)
                continue
            if event.kind == "PING" and not event.has("ACK"):
                self.client_pings.append(event.payload)
                if self.ping_delay:
                    await trio.sleep(self.ping_delay)
                await self.send_ping(event.payload, ack=True)
                continue
            return event


__all__ = ["ServerPeer"]
