"""The server advertises the KEEPALIVE_INTERVAL it really uses (spec 9.3), over a real socket.

Before, ``mux serve`` advertised 0 ("I send no keepalive PINGs") and then pinged
idle clients after 60 s, so a client could not tell the server's PINGs from a
flood. Now the first SETTINGS names the interval, and a PING follows that long
after the last byte received.
"""

from __future__ import annotations

import trio
from conftest import Harness

from mux.config import ServerConfig
from mux.core.codec import FrameDecoder
from mux.core.frames import PREFACE, Frame, FrameType, decode_settings, encode_frame
from mux.core.settings import SettingId
from mux.server.demo import app as demo_app


async def _frames(stream: trio.SocketStream, decoder: FrameDecoder, until: int) -> list[Frame]:
    """Frames read until one of type ``until`` arrives (bounded by the test's timeouts)."""
    frames: list[Frame] = []
    while True:
        while (frame := decoder.next_frame()) is not None:
            frames.append(frame)
            if frame.type == until:
                return frames
        data = await stream.receive_some(65536)
        assert data, "server closed the connection"
        decoder.receive_data(data)


async def _first_settings(stream: trio.SocketStream, decoder: FrameDecoder) -> dict[int, int]:
    await stream.send_all(PREFACE + encode_frame(FrameType.SETTINGS, 0, 0, b"\x80"))
    with trio.fail_after(5):
        frames = await _frames(stream, decoder, FrameType.SETTINGS)
    return decode_settings(frames[-1].payload)


async def test_default_server_advertises_its_60_s_interval(harness: Harness) -> None:
    server = await harness.server(demo_app)
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    settings = await _first_settings(stream, FrameDecoder(1 << 24))
    assert settings[SettingId.KEEPALIVE_INTERVAL] == 60_000
    await stream.aclose()


async def test_advertised_interval_is_when_the_ping_comes(harness: Harness) -> None:
    config = ServerConfig(host="127.0.0.1", port=0, keepalive_interval=0.2, park_delay=None)
    server = await harness.server(demo_app, config)
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    decoder = FrameDecoder(1 << 24)
    settings = await _first_settings(stream, decoder)
    assert settings[SettingId.KEEPALIVE_INTERVAL] == 200
    await stream.send_all(encode_frame(FrameType.SETTINGS, 1, 0))  # ACK
    with trio.fail_after(5):
        frames = await _frames(stream, decoder, FrameType.PING)
    assert not frames[-1].flags & 1  # the server's keepalive PING, not an ACK
    await stream.aclose()


async def test_no_keepalive_advertises_zero(harness: Harness) -> None:
    config = ServerConfig(host="127.0.0.1", port=0, keepalive_interval=None)
    server = await harness.server(demo_app, config)
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    settings = await _first_settings(stream, FrameDecoder(1 << 24))
    assert settings.get(SettingId.KEEPALIVE_INTERVAL, 0) == 0
    await stream.aclose()
