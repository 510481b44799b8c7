"""HTTP/2 attacks (threats.md section 1) over real loopback sockets against a running server.

Each test sends one attack with raw frames (hyperframe + hpack) on its own
connection, asserts the server's answer on the wire (GOAWAY code, RST_STREAM,
close), and checks that a well-behaved HTTP/2 client on another connection,
opened before the attack, keeps being served.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Self

import pytest
import trio
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    PriorityFrame,
    RstStreamFrame,
    SettingsFrame,
)

from mux.config import ServerConfig
from mux.core.h2engine import H2Engine
from mux.core.h2guard import PREFACE
from mux.driver import ConnectionDriver
from mux.errors import ErrorCode
from mux.server.demo import app as demo_app
from mux.server.server import Server
from tests.integration.h2sem_peer import REACTION, RawH2

GET = [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"x")]


class RawPeer(RawH2):
    """A hostile client: raw frames out, parsed frames in; it never ACKs the
    server's SETTINGS."""

    @classmethod
    async def open(
        cls, port: int, settings: dict[int, int] | None = None, *, ack_settings: bool = False
    ) -> Self:
        return await super().open(port, settings, ack_settings=ack_settings)

    async def goaway(self) -> GoAwayFrame:
        """Read until GOAWAY with an error (or NO_ERROR) and the close that follows."""
        with trio.fail_after(REACTION):
            async for frame in self.frames():
                if isinstance(frame, GoAwayFrame):
                    return frame
        raise AssertionError("connection closed without GOAWAY")

    async def rst(self, sid: int) -> RstStreamFrame:
        with trio.fail_after(REACTION):
            async for frame in self.frames():
                if isinstance(frame, RstStreamFrame) and frame.stream_id == sid:
                    return frame
        raise AssertionError(f"no RST_STREAM on stream {sid}")


@pytest.fixture
async def server(nursery: trio.Nursery) -> AsyncIterator[Server]:
    config = ServerConfig(host="127.0.0.1", port=0, send_stall_timeout=0.5)
    srv: Server = await nursery.start(Server(demo_app, config).serve)
    yield srv
    srv.shutdown()


@pytest.fixture
async def bystander(server: Server, nursery: trio.Nursery) -> ConnectionDriver:
    """A well-behaved HTTP/2 client connected before the attack."""
    transport = await trio.open_tcp_stream("127.0.0.1", server.port)
    driver = ConnectionDriver(transport, H2Engine(client_side=True))
    await nursery.start(driver.run)
    await _check_served(driver)
    return driver


async def _check_served(driver: ConnectionDriver) -> None:
    with trio.fail_after(REACTION):
        headers = [(b":method", b"POST"), (b":scheme", b"http"), (b":authority", b"x"),
                   (b":path", b"/echo")]  # fmt: skip
        stream = await driver.open_stream(headers)
        await stream.send_data(b"still here", end_stream=True)
        assert dict(await stream.receive_headers())[b":status"] == b"200"
        assert b"".join([chunk async for chunk in stream]) == b"still here"


async def _after(server: Server, bystander: ConnectionDriver) -> None:
    await _check_served(bystander)
    transport = await trio.open_tcp_stream("127.0.0.1", server.port)
    async with trio.open_nursery() as nursery:
        fresh = ConnectionDriver(transport, H2Engine(client_side=True))
        await nursery.start(fresh.run)
        await _check_served(fresh)
        await fresh.aclose()


async def test_rapid_reset(server: Server, bystander: ConnectionDriver) -> None:
    peer = await RawPeer.open(server.port)
    batch = b""
    for i in range(1000):
        sid = 2 * i + 1
        rst = RstStreamFrame(sid)
        rst.error_code = ErrorCode.CANCEL
        batch += peer.headers(sid, b"/delay/1000") + rst.serialize()
    await peer.send(batch)
    assert (await peer.goaway()).error_code == ErrorCode.ENHANCE_YOUR_CALM
    await _after(server, bystander)


async def test_continuation_flood(server: Server, bystander: ConnectionDriver) -> None:
    peer = await RawPeer.open(server.port)
    first = HeadersFrame(1)
    first.data = bytes(peer.encoder.encode([*GET, (b":path", b"/echo")]))
    flood = b""
    for _ in range(200):
        frame = ContinuationFrame(1)
        frame.data = bytes(peer.encoder.encode([(b"x-pad", b"a" * 100)]))
        flood += frame.serialize()
    await peer.send(first.serialize() + flood)
    assert (await peer.goaway()).error_code == ErrorCode.ENHANCE_YOUR_CALM
    await _after(server, bystander)


async def test_empty_data_frame_flood(server: Server, bystander: ConnectionDriver) -> None:
    peer = await RawPeer.open(server.port)
    await peer.send(peer.headers(1, b"/sink", end_stream=False))
    await peer.send(DataFrame(1).serialize() * 500)
    assert (await peer.goaway()).error_code == ErrorCode.ENHANCE_YOUR_CALM
    await _after(server, bystander)


@pytest.mark.parametrize("kind", ["ping", "settings", "settings-entries"])
async def test_control_frame_floods(server: Server, bystander: ConnectionDriver, kind: str) -> None:
    peer = await RawPeer.open(server.port)
    if kind == "ping":
        flood = PingFrame(0, opaque_data=b"12345678").serialize() * 5000
    elif kind == "settings":
        flood = SettingsFrame(0).serialize() * 5000
    else:
        flood = SettingsFrame(0, settings={4 + (i % 2): 65535 + i for i in range(2)}).serialize()
        flood = flood[:3] + b"\x04\x00\x00\x00\x00" + b"\x00\x04\x00\x01\x00\x00" * 1000
        flood = (6000).to_bytes(3, "big") + flood[3:]
    await peer.send(flood)  # and never read the ACKs
    assert (await peer.goaway()).error_code == ErrorCode.ENHANCE_YOUR_CALM
    await _after(server, bystander)


async def test_hpack_bomb(server: Server, bystander: ConnectionDriver) -> None:
    peer = await RawPeer.open(server.port)
    frame = HeadersFrame(1)
    # One 4 KB literal added to the dynamic table (index 62), then 100 one-byte
    # references to it: ~100 bytes on the wire decode to ~400 KB (> 64 KiB limit).
    block = bytes(peer.encoder.encode([*GET, (b":path", b"/echo"), (b"x-bomb", b"a" * 4000)]))
    frame.data = block + b"\xbe" * 100
    frame.flags.add("END_HEADERS")
    frame.flags.add("END_STREAM")
    await peer.send(frame.serialize())
    goaway = await peer.goaway()
    assert goaway.error_code in (ErrorCode.ENHANCE_YOUR_CALM, ErrorCode.COMPRESSION_ERROR)
    await _after(server, bystander)


async def test_priority_abuse(server: Server, bystander: ConnectionDriver) -> None:
    peer = await RawPeer.open(server.port)
    flood = b""
    for i in range(5000):  # a long dependency chain over idle streams
        frame = PriorityFrame(2 * i + 3, depends_on=2 * i + 1, stream_weight=16)
        flood += frame.serialize()
    await peer.send(flood)
    assert (await peer.goaway()).error_code == ErrorCode.ENHANCE_YOUR_CALM
    await _after(server, bystander)


async def test_priority_frames_in_moderation_are_harmless(
    server: Server, bystander: ConnectionDriver
) -> None:
    peer = await RawPeer.open(server.port)
    chain = b"".join(PriorityFrame(2 * i + 3, depends_on=2 * i + 1).serialize() for i in range(200))
    await peer.send(chain + peer.headers(1, b"/bytes/10"))
    with trio.fail_after(REACTION):
        async for frame in peer.frames():
            if isinstance(frame, DataFrame) and "END_STREAM" in frame.flags:
                break
            assert not isinstance(frame, GoAwayFrame | RstStreamFrame), frame
    await _after(server, bystander)


async def test_zero_window_hold_is_reset_after_the_stall_timeout(
    server: Server, bystander: ConnectionDriver
) -> None:
    peer = await RawPeer.open(server.port, settings={SettingsFrame.INITIAL_WINDOW_SIZE: 0})
    await peer.send(SettingsFrame(0, flags=["ACK"]).serialize())
    start = trio.current_time()
    await peer.send(peer.headers(1, b"/bytes/10000000"))
    rst = await peer.rst(1)
    assert rst.error_code == ErrorCode.CANCEL
    assert 0.4 < trio.current_time() - start < 3  # send_stall_timeout = 0.5 s
    await _after(server, bystander)


async def test_late_frames_after_reset_do_not_kill_the_connection(
    server: Server, bystander: ConnectionDriver
) -> None:
    peer = await RawPeer.open(server.port)
    rst = RstStreamFrame(1)
    rst.error_code = ErrorCode.CANCEL
    late_rst = RstStreamFrame(1)
    late_rst.error_code = ErrorCode.CANCEL
    window = b"\x00\x00\x04\x08\x00\x00\x00\x00\x01\x00\x00\x00\x10"  # WINDOW_UPDATE on 1
    await peer.send(peer.headers(1, b"/delay/300", end_stream=True) + rst.serialize())
    await peer.send(late_rst.serialize() + window + peer.headers(3, b"/bytes/3"))
    with trio.fail_after(REACTION):
        async for frame in peer.frames():
            assert not isinstance(frame, GoAwayFrame), frame
            if (
                isinstance(frame, DataFrame)
                and frame.stream_id == 3
                and "END_STREAM" in frame.flags
            ):
                break
    await _after(server, bystander)


async def test_oversized_length_prefix_is_rejected_on_the_header(
    server: Server, bystander: ConnectionDriver
) -> None:
    peer = await RawPeer.open(server.port)
    header = (2**24 - 1).to_bytes(3, "big") + b"\x00\x00\x00\x00\x00\x01"  # DATA, 16 MiB
    await peer.send(header)  # and no payload at all
    assert (await peer.goaway()).error_code == ErrorCode.FRAME_SIZE_ERROR
    await _after(server, bystander)


@pytest.mark.parametrize(
    "opening",
    [
        b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + SettingsFrame(0).serialize(),
        PREFACE + PingFrame(0, opaque_data=b"12345678").serialize(),
    ],
    ids=["bad-magic", "ping-first"],
)
async def test_invalid_preface(server: Server, bystander: ConnectionDriver, opening: bytes) -> None:
    peer = RawPeer(await trio.open_tcp_stream("127.0.0.1", server.port))
    await peer.send(opening)
    assert (await peer.goaway()).error_code == ErrorCode.PROTOCOL_ERROR
    await _after(server, bystander)


async def test_server_shutdown_after_the_peer_sent_goaway(server: Server) -> None:
    peer = await RawPeer.open(server.port)
    goaway = GoAwayFrame(0)
    await peer.send(peer.headers(1, b"/delay/300") + goaway.serialize())
    await trio.sleep(0.05)
    server.shutdown()  # must not raise although h2 refuses PING after GOAWAY
    with trio.fail_after(REACTION):
        async for frame in peer.frames():
            if isinstance(frame, DataFrame) and "END_STREAM" in frame.flags:
                break
