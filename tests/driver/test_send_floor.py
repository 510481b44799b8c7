"""Silly-window avoidance on the send side (threats.md "Data dribble", CVE-2019-9511).

A peer that drains its receive window and then opens it one byte at a time must not get
1-byte DATA frames; a peer whose SETTINGS only ever allow tiny windows still gets progress.
"""

from __future__ import annotations

import trio
import trio.testing
from conftest import Harness

from mux.config import ConnectionTimeouts
from mux.core.codec import FrameDecoder
from mux.core.connection import MuxConnection
from mux.core.frames import ACK, FrameType
from mux.core.limits import ProtocolLimits
from mux.core.settings import DEFAULTS, SettingId
from mux.driver import Stream
from mux.driver.stream import SEND_FLOOR

BODY = 1 << 20
STREAM_WINDOW = DEFAULTS[SettingId.INITIAL_STREAM_WINDOW]


async def _body(stream: Stream) -> None:
    await stream.send_headers([(b":status", b"200")])
    await stream.send_data(b"x" * BODY, end_stream=True)


def _window_update(stream_id: int, increment: int) -> bytes:
    return (
        (4).to_bytes(4)
        + bytes([FrameType.WINDOW_UPDATE, 0])
        + stream_id.to_bytes(4)
        + (increment.to_bytes(4))
    )


class _Client:
    """A raw client: handshake and request through an engine, then only frame parsing."""

    def __init__(self, transport: trio.abc.Stream, limits: ProtocolLimits | None = None) -> None:
        self.transport = transport
        self.engine = MuxConnection(client_side=True, limits=limits)
        self.decoder = FrameDecoder(2**24)
        self.data_sizes: list[int] = []

    async def start(self) -> int:
        self.engine.initiate_connection()
        sid = self.engine.get_next_available_stream_id()
        self.engine.send_headers(sid, [(b":method", b"GET"), (b":path", b"/")], end_stream=True)
        await self.transport.send_all(self.engine.data_to_send())
        return sid

    async def read(self) -> None:
        """Read what is there and record the DATA frame sizes."""
        data = bytes(await self.transport.receive_some(1 << 20))
        assert data, "server closed"
        self.decoder.receive_data(data)
        while (frame := self.decoder.next_frame()) is not None:
            if frame.type == FrameType.DATA:
                self.data_sizes.append(len(frame.payload))
            elif frame.type == FrameType.SETTINGS and not frame.flags:
                # Acknowledge the server's SETTINGS so it keeps its limits.
                ack = (0).to_bytes(4) + bytes([FrameType.SETTINGS, ACK]) + bytes(4)
                await self.transport.send_all(ack)

    async def read_until(self, total: int) -> None:
        with trio.fail_after(5):
            while sum(self.data_sizes) < total:
                await self.read()


async def test_a_window_opened_a_byte_at_a_time_gets_no_tiny_frames(harness: Harness) -> None:
    a, b = trio.testing.memory_stream_pair()
    await harness.drive(a, client_side=False, on_stream=_body)
    client = _Client(b)
    sid = await client.start()
    await client.read_until(STREAM_WINDOW)  # the initial stream window, used up
    before = len(client.data_sizes)
    # 2 floors' worth of credit, +64 bytes at a time on the stream and the connection.
    for _ in range(2 * SEND_FLOOR // 64 // 8):
        await client.transport.send_all((_window_update(sid, 64) + _window_update(0, 64)) * 8)
        await trio.testing.wait_all_tasks_blocked()
        while True:
            with trio.move_on_after(0.001):
                await client.read()
                continue
            break
    later = client.data_sizes[before:]
    assert len(later) == 2, later  # one frame per floor of credit, not one per update
    assert min(later) >= SEND_FLOOR, later
    # Opening the window for real brings the rest.
    await client.transport.send_all(_window_update(sid, BODY) + _window_update(0, BODY))
    await client.read_until(BODY)
    assert sum(client.data_sizes) == BODY


async def test_a_peer_that_only_allows_tiny_windows_still_gets_the_body(
    harness: Harness,
) -> None:
    """SETTINGS with a 100-byte stream window: DATA of up to 100 bytes, each WINDOW_UPDATE of
    100 bytes brings the next 100 (as an h2spec-style tester expects)."""
    a, b = trio.testing.memory_stream_pair()
    await harness.drive(
        a, client_side=False, on_stream=_body, timeouts=ConnectionTimeouts(send_stall=5)
    )
    client = _Client(b, ProtocolLimits(initial_stream_window=100))
    sid = await client.start()
    await client.read_until(100)
    for step in range(1, 20):
        await client.transport.send_all(_window_update(sid, 100))
        await client.read_until(100 * (step + 1))
    assert max(client.data_sizes) <= 100
    assert sum(client.data_sizes) == 2000  # 20 windows of 100 bytes, nothing more
