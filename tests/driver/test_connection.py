"""ConnectionDriver and Stream over real loopback sockets (and memory streams for timers)."""

from __future__ import annotations

import hashlib

import pytest
import trio
import trio.testing
from conftest import Harness, tcp_pair

from mux.config import ConnectionTimeouts
from mux.core import events as ev
from mux.core.connection import MuxConnection
from mux.core.limits import ProtocolLimits
from mux.driver import ConnectionDriver, Stream
from mux.errors import ConnectionClosed, ErrorCode, StreamReset

WINDOW = ProtocolLimits().initial_stream_window


async def _pair(
    harness: Harness, on_stream: object, **client_kw: object
) -> tuple[ConnectionDriver, ConnectionDriver]:
    c, s = await tcp_pair()
    server = await harness.drive(s, client_side=False, on_stream=on_stream)  # type: ignore[arg-type]
    client = await harness.drive(c, client_side=True, **client_kw)  # type: ignore[arg-type]
    return client, server


async def _echo(stream: Stream) -> None:
    await stream.send_headers([(b":status", b"200")])
    async for chunk in stream:
        await stream.send_data(chunk)
    trailers = stream.trailers
    if trailers:
        await stream.send_trailers(trailers)
    else:
        await stream.end()


async def test_unary_round_trip(harness: Harness) -> None:
    client, _ = await _pair(harness, _echo)
    status, _, body = await harness.request(client, "/x", b"hello")
    assert (status, body) == (200, b"hello")


async def test_bidirectional_streaming_with_trailers(harness: Harness) -> None:
    client, _ = await _pair(harness, _echo)
    stream = await client.open_stream([(b":method", b"POST"), (b":path", b"/")])
    assert (await stream.receive_headers())[0] == (b":status", b"200")
    for i in range(5):
        await stream.send_data(b"chunk%d" % i)
        assert await stream.receive_data() == b"chunk%d" % i
    await stream.send_trailers([(b"x-sum", b"5")])
    assert await stream.receive_trailers() == [(b"x-sum", b"5")]
    assert stream.is_done


async def test_body_larger_than_windows_arrives_intact(harness: Harness) -> None:
    async def sink(stream: Stream) -> None:
        digest = hashlib.sha256()
        async for chunk in stream:
            # a chunk is one read's DATA frames merged: within the (autotuned) window
            assert len(chunk) <= ProtocolLimits().stream_window_cap
            digest.update(chunk)
        await stream.send_headers([(b":status", b"200")])
        await stream.send_data(digest.hexdigest().encode(), end_stream=True)

    client, _ = await _pair(harness, sink)
    payload = bytes(range(256)) * (5 * 1024 * 1024 // 256)  # 5 MiB > connection window
    _, _, body = await harness.request(client, "/", payload)
    assert body == hashlib.sha256(payload).hexdigest().encode()


async def test_stalled_reader_blocks_only_its_stream(harness: Harness) -> None:
    stalled: list[Stream] = []

    async def handler(stream: Stream) -> None:
        if dict(stream.headers or [])[b":path"] == b"/stall":
            stalled.append(stream)
            await trio.sleep_forever()
        await _echo(stream)

    client, _ = await _pair(harness, handler)
    stuck = await client.open_stream([(b":method", b"POST"), (b":path", b"/stall")])
    sent = 0
    with trio.move_on_after(0.5) as scope:
        while True:
            await stuck.send_data(b"x" * 16384)
            sent += 16384
    assert scope.cancelled_caught, "the peer never stopped granting window"
    assert sent <= WINDOW + 16384
    # The server holds at most one stream window of unread bytes for that stream.
    assert stalled[0].buffered_bytes <= WINDOW
    # Meanwhile other streams on the same connection still flow, in bulk.
    status, _, body = await harness.request(client, "/ok", b"y" * 500_000)
    assert (status, len(body)) == (200, 500_000)


async def test_unread_response_bounds_server_buffering(harness: Harness) -> None:
    progress = [0]

    async def firehose(stream: Stream) -> None:
        await stream.send_headers([(b":status", b"200")])
        for _ in range(1000):
            await stream.send_data(b"z" * 8192)
            progress[0] += 8192
        await stream.end()

    client, server = await _pair(harness, firehose)
    stream = await client.open_stream([(b":method", b"GET"), (b":path", b"/")], end_stream=True)
    await stream.receive_headers()
    await trio.sleep(0.5)
    # Sent at most one stream window (plus one in-flight piece); nothing piled up.
    assert 0 < progress[0] <= WINDOW + 8192
    assert server.pending_send_bytes == 0
    assert stream.buffered_bytes <= WINDOW
    total = stream.buffered_bytes
    async for chunk in stream:
        total += len(chunk)
    assert total - stream.buffered_bytes >= 8192 * 1000 - WINDOW


async def test_open_stream_waits_for_a_slot(harness: Harness) -> None:
    active = [0, 0]  # current, peak

    async def slow(stream: Stream) -> None:
        active[0] += 1
        active[1] = max(active[1], active[0])
        await trio.sleep(0.02)
        active[0] -= 1
        await stream.send_headers([(b":status", b"200")], end_stream=True)

    c, s = await tcp_pair()
    limits = ProtocolLimits(max_concurrent_streams=3)
    await harness.drive(s, client_side=False, on_stream=slow, limits=limits)
    client = await harness.drive(c, client_side=True)
    results: list[int] = []

    async def one() -> None:
        results.append((await harness.request(client, "/", method="GET"))[0])

    async with trio.open_nursery() as nursery:
        for _ in range(20):
            nursery.start_soon(one)
    assert results == [200] * 20
    assert active[1] == 3


async def test_reset_reaches_the_handler_and_cancels_it(harness: Harness) -> None:
    cancelled = trio.Event()

    async def handler(stream: Stream) -> None:
        try:
            await trio.sleep_forever()
        finally:
            cancelled.set()

    client, server = await _pair(harness, handler)
    stream = await client.open_stream([(b":method", b"GET"), (b":path", b"/")])
    await trio.sleep(0.05)
    stream.reset(ErrorCode.CANCEL)
    with trio.fail_after(2):
        await cancelled.wait()
    with pytest.raises(StreamReset):
        await stream.receive_data()
    await trio.sleep(0.05)
    assert server.active_handlers == 0 and server.open_streams == 0


async def test_peer_vanishing_fails_in_flight_streams(harness: Harness) -> None:
    async def never(stream: Stream) -> None:
        await trio.sleep_forever()

    c, s = await tcp_pair()
    await harness.drive(s, client_side=False, on_stream=never)
    client = await harness.drive(c, client_side=True)
    stream = await client.open_stream([(b":method", b"GET"), (b":path", b"/")], end_stream=True)
    await trio.sleep(0.05)
    await trio.aclose_forcefully(s)
    with pytest.raises(ConnectionClosed, match="may have been processed"):
        await stream.receive_headers()
    with pytest.raises(ConnectionClosed, match="safe to retry"):
        await client.open_stream([(b":method", b"GET"), (b":path", b"/")])


async def test_stream_deadline(harness: Harness) -> None:
    async def never(stream: Stream) -> None:
        await trio.sleep_forever()

    client, _ = await _pair(harness, never)
    stream = await client.open_stream([(b":method", b"GET"), (b":path", b"/")], end_stream=True)
    stream.deadline = trio.current_time() + 0.1
    with pytest.raises(trio.TooSlowError):
        await stream.receive_headers()
    assert isinstance(stream.error, StreamReset)


# ---------------------------------------------------------------- timers (virtual time)


class RawPeer:
    """A scripted mux peer over a memory stream: it answers only when told to."""

    def __init__(self, transport: trio.abc.Stream, *, client_side: bool) -> None:
        self.transport = transport
        self.engine = MuxConnection(client_side=client_side)
        self.events: list[object] = []

    async def handshake(self, *, ack: bool = True) -> None:
        self.engine.initiate_connection()
        await self.transport.send_all(self.engine.data_to_send())
        while not any(type(e).__name__ == "SettingsChanged" for e in self.events):
            self.events += self.engine.receive_data(bytes(await self.transport.receive_some(65536)))
        out = self.engine.data_to_send()  # our SETTINGS ACK (+ maybe more)
        if ack:
            await self.transport.send_all(out)

    async def read_until_eof(self) -> bytes:
        raw = b""
        while data := await self.transport.receive_some(65536):
            raw += data
        return raw


async def _virtual_client(
    harness: Harness, timeouts: ConnectionTimeouts
) -> tuple[ConnectionDriver, RawPeer]:
    a, b = trio.testing.memory_stream_pair()
    driver = await harness.drive(a, client_side=True, timeouts=timeouts)
    return driver, RawPeer(b, client_side=False)


@pytest.mark.parametrize(
    ("timeouts", "ack", "expected", "elapsed"),
    [
        (ConnectionTimeouts(keepalive_interval=5, keepalive_timeout=3), True, "keepalive", 8),
        (ConnectionTimeouts(idle=7), True, "idle", 7),
        (ConnectionTimeouts(settings_ack=4), False, "SETTINGS not acknowledged", 4),
    ],
)
async def test_connection_timers(
    harness: Harness,
    autojump_clock: trio.testing.MockClock,
    timeouts: ConnectionTimeouts,
    ack: bool,
    expected: str,
    elapsed: float,
) -> None:
    start = trio.current_time()
    driver, peer = await _virtual_client(harness, timeouts)
    await peer.handshake(ack=ack)
    await peer.read_until_eof()  # the peer stays silent; the driver must give up
    await driver.wait_closed()
    assert driver.error is not None and expected in str(driver.error)
    assert trio.current_time() - start == pytest.approx(elapsed, abs=0.5)


async def test_traffic_postpones_keepalive_until_it_stops(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    # The reader keeps one cancel scope across reads, so its deadline may be
    # older than the keepalive timer that traffic keeps pushing back: waking
    # at the stale deadline must send nothing, and the timer must still fire
    # once the traffic stops.
    timeouts = ConnectionTimeouts(keepalive_interval=5, keepalive_timeout=3)
    driver, peer = await _virtual_client(harness, timeouts)
    await peer.handshake()
    for n in range(10):  # 20 s of traffic, a frame every 2 s
        peer.engine.ping(b"peer%04d" % n)
        await peer.transport.send_all(peer.engine.data_to_send())
        await trio.sleep(2)
    quiet_since = trio.current_time() - 2
    got = peer.engine.receive_data(bytes(await peer.transport.receive_some(65536)))
    assert sorted(e.data for e in got if isinstance(e, ev.PingAcknowledged)) == [
        b"peer%04d" % n for n in range(10)
    ]
    assert not [e for e in got if isinstance(e, ev.PingReceived)]  # no keepalive PING yet
    with trio.fail_after(60):  # silence now: the keepalive PING, then the timeout
        await peer.read_until_eof()
        await driver.wait_closed()
    assert driver.error is not None and "keepalive" in str(driver.error)
    assert trio.current_time() - quiet_since == pytest.approx(8, abs=0.5)


async def test_handshake_and_slowloris_timeouts(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    # No preface at all from the peer.
    driver, peer = await _virtual_client(harness, ConnectionTimeouts(handshake=3))
    await peer.read_until_eof()
    assert driver.error is not None and "no preface" in str(driver.error)
    # Handshake done, then half a frame header and silence.
    driver, peer = await _virtual_client(harness, ConnectionTimeouts(frame=6))
    await peer.handshake()
    start = trio.current_time()
    await peer.transport.send_all(b"\x00\x00\x00\x05\x01")
    await peer.read_until_eof()
    assert driver.error is not None and "incomplete frame" in str(driver.error)
    assert trio.current_time() - start == pytest.approx(6, abs=0.5)


async def test_keepalive_keeps_a_responsive_connection(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    c, s = trio.testing.memory_stream_pair()
    await harness.drive(s, client_side=False, on_stream=_echo)
    client = await harness.drive(
        c, client_side=True, timeouts=ConnectionTimeouts(keepalive_interval=1, keepalive_timeout=1)
    )
    await trio.sleep(30)
    assert not client.is_closed
    status, _, body = await harness.request(client, "/", b"still here")
    assert (status, body) == (200, b"still here")


async def test_goaway_marks_unprocessed_streams(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    driver, peer = await _virtual_client(harness, ConnectionTimeouts())
    await peer.handshake()
    streams = [
        await driver.open_stream([(b":method", b"GET"), (b":path", b"/")], end_stream=True)
        for _ in range(3)
    ]
    await trio.sleep(0.1)
    peer.events += peer.engine.receive_data(bytes(await peer.transport.receive_some(65536)))
    peer.engine.close_connection(ErrorCode.NO_ERROR, last_stream_id=streams[0].stream_id)
    await peer.transport.send_all(peer.engine.data_to_send())
    for stream in streams[1:]:
        with pytest.raises(ConnectionClosed, match="not processed") as info:
            await stream.receive_headers()
        assert info.value.last_stream_id == streams[0].stream_id
    assert not driver.is_available
    with pytest.raises(ConnectionClosed, match="request not sent"):
        await driver.open_stream([(b":method", b"GET"), (b":path", b"/")])


@pytest.mark.parametrize(
    ("code", "debug", "expected"),
    [
        (
            ErrorCode.PROTOCOL_ERROR,
            b"you sent junk",
            "peer sent GOAWAY(PROTOCOL_ERROR): you sent junk",
        ),
        (ErrorCode.ENHANCE_YOUR_CALM, b"", "peer sent GOAWAY(ENHANCE_YOUR_CALM)"),
        (0x1234, b"?", "peer sent GOAWAY(0x1234): ?"),
    ],
)
async def test_goaway_with_an_error_closes_naming_it(
    harness: Harness,
    autojump_clock: trio.testing.MockClock,
    code: ErrorCode | int,
    debug: bytes,
    expected: str,
) -> None:
    """A peer's GOAWAY carrying an error ends the connection with that error,
    not as a graceful shutdown, and without waiting on the peer (no linger)."""
    driver, peer = await _virtual_client(harness, ConnectionTimeouts())
    await peer.handshake()
    peer.engine.close_connection(code, debug_data=debug)
    await peer.transport.send_all(peer.engine.data_to_send())
    with trio.fail_after(1):
        await driver.wait_closed()
    assert driver.error is not None
    assert str(driver.error).startswith(expected)
    assert driver.error.code == code
    assert "gracefully" not in str(driver.error)
