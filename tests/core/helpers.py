"""Test helpers for the mux/msgpack core: a FrameFactory and an EnginePair.

``FrameFactory`` builds frames (legal or not) as bytes; ``EnginePair`` wires a
client and a server :class:`MuxConnection` together and pumps bytes between
them (h11's ConnectionPair idea). ``RawPeer`` is a server/client engine fed by
hand-built frames, for tests that need an illegal peer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from mux.core import events as ev
from mux.core.codec import FrameDecoder
from mux.core.connection import MuxConnection
from mux.core.frames import (
    PREFACE,
    Frame,
    FrameType,
    encode_frame,
    encode_goaway,
    encode_headers,
    encode_settings,
    encode_u32,
)
from mux.core.limits import ProtocolLimits
from mux.errors import ErrorCode

REQUEST: list[tuple[bytes, bytes]] = [(b":method", b"GET"), (b":path", b"/")]
RESPONSE: list[tuple[bytes, bytes]] = [(b":status", b"200")]


class FrameFactory:
    """Build wire bytes for single frames (no validation)."""

    preface = PREFACE

    def settings(self, values: Mapping[int, int] | None = None, *, ack: bool = False) -> bytes:
        payload = b"" if ack else encode_settings(values or {})
        return encode_frame(FrameType.SETTINGS, 1 if ack else 0, 0, payload)

    def headers(
        self,
        stream_id: int,
        headers: Iterable[tuple[bytes, bytes]] = REQUEST,
        *,
        end_stream: bool = False,
    ) -> bytes:
        return encode_frame(
            FrameType.HEADERS, 1 if end_stream else 0, stream_id, encode_headers(headers)
        )

    def data(self, stream_id: int, data: bytes = b"", *, end_stream: bool = False) -> bytes:
        return encode_frame(FrameType.DATA, 1 if end_stream else 0, stream_id, data)

    def rst(self, stream_id: int, code: int = ErrorCode.CANCEL) -> bytes:
        return encode_frame(FrameType.RST_STREAM, 0, stream_id, encode_u32(code))

    def ping(self, data: bytes = b"12345678", *, ack: bool = False) -> bytes:
        return encode_frame(FrameType.PING, 1 if ack else 0, 0, data)

    def goaway(self, last_stream_id: int, code: int = 0, debug: bytes = b"") -> bytes:
        return encode_frame(FrameType.GOAWAY, 0, 0, encode_goaway(last_stream_id, code, debug))

    def window_update(self, stream_id: int, increment: int) -> bytes:
        return encode_frame(FrameType.WINDOW_UPDATE, 0, stream_id, encode_u32(increment))

    def raw(self, frame_type: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
        return encode_frame(frame_type, flags, stream_id, payload)


def parse_frames(data: bytes, *, preface: bool = True) -> list[Frame]:
    """Decode every frame in ``data`` (the output of one engine)."""
    decoder = FrameDecoder(2**24, expect_preface=preface)
    decoder.receive_data(data)
    frames = []
    while (frame := decoder.next_frame()) is not None:
        frames.append(frame)
    assert decoder.buffered == 0
    return frames


def handshaken_server(limits: ProtocolLimits | None = None) -> MuxConnection:
    """A server that processed a client preface + SETTINGS, output drained."""
    server = MuxConnection(client_side=False, limits=limits)
    server.initiate_connection()
    events = server.receive_data(PREFACE + FrameFactory().settings())
    assert events == [ev.SettingsChanged({})]
    server.data_to_send()
    return server


def handshaken_client(limits: ProtocolLimits | None = None) -> MuxConnection:
    """A client that processed a server preface + SETTINGS, output drained."""
    client = MuxConnection(client_side=True, limits=limits)
    client.initiate_connection()
    events = client.receive_data(PREFACE + FrameFactory().settings())
    assert events == [ev.SettingsChanged({})]
    client.data_to_send()
    return client


class EnginePair:
    """A client and a server engine connected back to back, in memory."""

    def __init__(
        self,
        client_limits: ProtocolLimits | None = None,
        server_limits: ProtocolLimits | None = None,
        *,
        handshake: bool = True,
    ) -> None:
        self.client = MuxConnection(client_side=True, limits=client_limits)
        self.server = MuxConnection(client_side=False, limits=server_limits)
        if handshake:
            self.client.initiate_connection()
            self.server.initiate_connection()
            self.pump()
            self.pump()

    def to_server(self) -> list[ev.Event]:
        """Move the client's queued bytes to the server; return the server's events."""
        return self._feed(self.client, self.server)

    def to_client(self) -> list[ev.Event]:
        """Move the server's queued bytes to the client; return the client's events."""
        return self._feed(self.server, self.client)

    def pump(self) -> tuple[list[ev.Event], list[ev.Event]]:
        """One round trip: client -> server, then server -> client."""
        server_events = self._feed(self.client, self.server)
        client_events = self._feed(self.server, self.client)
        return server_events, client_events

    @staticmethod
    def _feed(source: MuxConnection, sink: MuxConnection) -> list[ev.Event]:
        data = source.data_to_send()
        return sink.receive_data(data) if data else []

    def request(
        self, headers: list[tuple[bytes, bytes]] = REQUEST, *, end_stream: bool = True
    ) -> int:
        """Open a client stream and deliver its HEADERS to the server; return its id."""
        stream_id = self.client.get_next_available_stream_id()
        self.client.send_headers(stream_id, headers, end_stream=end_stream)
        events = self.to_server()
        assert events[0] == ev.RequestReceived(stream_id, headers, end_stream)
        return stream_id
