"""Lingering close over real loopback sockets: the GOAWAY naming a peer's error reaches it.

When the driver closes a connection because of the peer (protocol error, frame
or handshake timeout) while the peer is still sending, closing the socket at
once finds unread bytes in our receive buffer and the kernel answers with RST.
On Linux that shows up two ways, both reproduced here against a real server:

* the peer reads the GOAWAY and then ``ECONNRESET`` instead of a clean EOF;
* the GOAWAY is destroyed outright when it still sat in our send queue behind
  bytes the peer had not read yet (the RST drops the unsent tail).

The driver lingers instead (:meth:`mux.driver.lifecycle.LifecycleMixin._linger`):
half-close, read and discard until the peer's EOF, at most ``LINGER`` seconds
and ``LINGER_BYTES`` bytes. Each reproduction also runs with ``LINGER = 0``
(the fix off) and must then show the failure.
"""

from __future__ import annotations

import socket

import pytest
import trio
import trio.testing
from conftest import Harness, tcp_pair

import mux.driver.lifecycle as lifecycle
from mux.config import ConnectionTimeouts, ServerConfig
from mux.core.frames import (
    END_STREAM,
    HEADER_STRUCT,
    PREFACE,
    FrameType,
    decode_goaway,
    encode_frame,
    encode_headers,
    encode_settings,
)
from mux.driver import ConnectionDriver
from mux.errors import ErrorCode
from mux.server.demo import app as demo_app
from mux.server.server import Server

KIB = 1024
MIB = 2**20
JUNK = bytes(64 * KIB)
HELLO = PREFACE + encode_frame(FrameType.SETTINGS, 0, 0, encode_settings({}))
#: A protocol violation: DATA on stream 0 (the server answers GOAWAY(PROTOCOL_ERROR)).
VIOLATION = encode_frame(FrameType.DATA, 0, 0, b"x" * 10)
DEBUG = b"DATA on stream 0"


def _goaway(received: bytes) -> tuple[int, bytes] | None:
    """The (code, debug) of the first whole GOAWAY frame in what a server sent."""
    buf = memoryview(received)[len(PREFACE) if received.startswith(PREFACE) else 0 :]
    while len(buf) >= HEADER_STRUCT.size:
        length, frame_type, _, _ = HEADER_STRUCT.unpack(buf[: HEADER_STRUCT.size])
        end = HEADER_STRUCT.size + length
        if len(buf) < end:
            return None
        if frame_type == FrameType.GOAWAY:
            _, code, debug = decode_goaway(bytes(buf[HEADER_STRUCT.size : end]))
            return code, debug
        buf = buf[end:]
    return None


async def _send_junk(sock: trio.SocketStream, total: float) -> None:
    """Send ``total`` junk bytes (inf: forever), until the connection breaks."""
    sent = 0
    try:
        while sent < total:
            await sock.send_all(JUNK)
            sent += len(JUNK)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass


async def _read_all(sock: trio.SocketStream) -> tuple[bytes, bool]:
    """Read until EOF; returns what came and whether it ended in a reset."""
    received = bytearray()
    try:
        while data := await sock.receive_some(65536):
            received += data
    except trio.BrokenResourceError:
        return bytes(received), True
    return bytes(received), False


async def _chatty_violation(port: int, junk: float) -> tuple[bytes, bool]:
    """Hello, a violation, then ``junk`` bytes while reading concurrently until EOF."""
    sock = await trio.open_tcp_stream("127.0.0.1", port)
    async with sock, trio.open_nursery() as nursery:
        await sock.send_all(HELLO + VIOLATION)
        nursery.start_soon(_send_junk, sock, junk)
        result = await _read_all(sock)
        nursery.cancel_scope.cancel()
    return result


async def _violation_behind_unread_bytes(port: int) -> tuple[bytes, bool]:
    """A peer with a tiny receive buffer asks for 8 KiB and does not read them;
    then it sends a violation and 512 KiB more, and only then reads. The
    server's GOAWAY sits in its send queue behind response bytes not yet sent."""
    raw = trio.socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    await raw.connect(("127.0.0.1", port))
    sock = trio.SocketStream(raw)
    async with sock:
        request = [(b":method", b"GET"), (b":path", b"/bytes/8192")]
        await sock.send_all(
            HELLO + encode_frame(FrameType.HEADERS, END_STREAM, 1, encode_headers(request))
        )
        await trio.sleep(0.05)  # the response fills our receive buffer
        try:
            await sock.send_all(VIOLATION)
        except trio.BrokenResourceError:
            pass
        await _send_junk(sock, 512 * KIB)
        return await _read_all(sock)


def _linger_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lifecycle, "LINGER", 0)


# ------------------------------------------------------------ reproductions


async def test_a_chatty_bad_peer_gets_the_goaway_and_a_clean_eof(harness: Harness) -> None:
    """The brief's reproduction: 4 MiB of junk after the violation, 20 times."""
    server = await harness.server(demo_app, ServerConfig(host="127.0.0.1", port=0))
    with trio.fail_after(20):
        for _ in range(20):
            received, reset = await _chatty_violation(server.port, 4 * MIB)
            assert _goaway(received) == (ErrorCode.PROTOCOL_ERROR, DEBUG)
            assert not reset


async def test_without_lingering_a_chatty_bad_peer_gets_a_reset(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Control: the same peer with the fix off sees ECONNRESET (about 1 run in 3 here)."""
    _linger_off(monkeypatch)
    server = await harness.server(demo_app, ServerConfig(host="127.0.0.1", port=0))
    resets = 0
    with trio.fail_after(20):
        for _ in range(60):
            resets += (await _chatty_violation(server.port, 4 * MIB))[1]
            if resets:
                break
    assert resets


async def test_a_goaway_behind_unread_bytes_is_not_destroyed(harness: Harness) -> None:
    server = await harness.server(demo_app, ServerConfig(host="127.0.0.1", port=0))
    with trio.fail_after(20):
        for _ in range(10):
            received, reset = await _violation_behind_unread_bytes(server.port)
            assert _goaway(received) == (ErrorCode.PROTOCOL_ERROR, DEBUG)
            assert not reset


async def test_without_lingering_a_goaway_behind_unread_bytes_is_lost(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Control: with the fix off the RST drops the GOAWAY from our send queue."""
    _linger_off(monkeypatch)
    server = await harness.server(demo_app, ServerConfig(host="127.0.0.1", port=0))
    lost = 0
    with trio.fail_after(20):
        for _ in range(10):
            received, _ = await _violation_behind_unread_bytes(server.port)
            lost += _goaway(received) is None
            if lost:
                break
    assert lost


# ------------------------------------------------------------ the linger's bounds


async def _bad_peer(
    harness: Harness, timeouts: ConnectionTimeouts | None = None
) -> tuple[trio.SocketStream, ConnectionDriver]:
    """A server-side driver and the raw client socket that said hello and broke the rules."""
    client, server_side = await tcp_pair()
    driver = await harness.drive(server_side, client_side=False, timeouts=timeouts)
    await client.send_all(HELLO + VIOLATION)
    return client, driver


async def _closed_within(driver: ConnectionDriver, seconds: float) -> float:
    """Wait for ``driver.run`` to finish; returns how long it took."""
    start = trio.current_time()
    with trio.fail_after(seconds):
        await driver.wait_closed()
    return trio.current_time() - start


def _runs_left(harness: Harness) -> int:
    """``ConnectionDriver.run`` tasks still alive in the harness nursery."""
    return sum("ConnectionDriver.run" in task.name for task in harness.nursery.child_tasks)


async def test_the_linger_ends_promptly_at_the_peers_eof(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lifecycle, "LINGER", 30.0)
    client, driver = await _bad_peer(harness)
    async with client:
        with trio.fail_after(5):
            received, reset = await _read_all(client)  # GOAWAY, then our half-close
        assert _goaway(received) == (ErrorCode.PROTOCOL_ERROR, DEBUG)
        assert not reset
        await trio.sleep(0.2)
        assert driver.is_closed
        assert _runs_left(harness) == 1  # still lingering: our side of the socket is open
        await client.send_eof()
        assert await _closed_within(driver, 5) < 1.0
    await trio.testing.wait_all_tasks_blocked()
    assert _runs_left(harness) == 0


async def test_the_linger_ends_after_linger_seconds_against_an_endless_sender(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lifecycle, "LINGER", 0.5)
    monkeypatch.setattr(lifecycle, "LINGER_BYTES", 2**40)
    client, driver = await _bad_peer(harness)
    async with client, trio.open_nursery() as nursery:
        nursery.start_soon(_send_junk, client, float("inf"))
        with trio.fail_after(5):
            received, _ = await _read_all(client)
        assert _goaway(received) == (ErrorCode.PROTOCOL_ERROR, DEBUG)
        elapsed = await _closed_within(driver, 5)
        assert 0.3 <= elapsed <= 3.0, elapsed
        nursery.cancel_scope.cancel()
    await trio.testing.wait_all_tasks_blocked()
    assert _runs_left(harness) == 0


async def test_the_linger_ends_after_linger_bytes(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lifecycle, "LINGER", 30.0)
    monkeypatch.setattr(lifecycle, "LINGER_BYTES", 256 * KIB)
    client, driver = await _bad_peer(harness)
    async with client, trio.open_nursery() as nursery:
        nursery.start_soon(_send_junk, client, float("inf"))
        assert await _closed_within(driver, 5) < 3.0
        nursery.cancel_scope.cancel()
    await trio.testing.wait_all_tasks_blocked()
    assert _runs_left(harness) == 0


async def test_no_linger_when_the_close_is_not_the_peers_fault(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An idle timeout (GOAWAY NO_ERROR) closes at once, though the peer stays connected."""
    monkeypatch.setattr(lifecycle, "LINGER", 30.0)
    client, server_side = await tcp_pair()
    driver = await harness.drive(
        server_side, client_side=False, timeouts=ConnectionTimeouts(idle=0.2)
    )
    async with client:
        await client.send_all(HELLO)
        assert await _closed_within(driver, 5) < 2.0


async def test_an_outside_cancellation_does_not_wait_for_the_linger(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(lifecycle, "LINGER", 30.0)
    client, server_side = await tcp_pair()
    async with client, trio.open_nursery() as nursery:
        harness = Harness(nursery)
        driver = await harness.drive(server_side, client_side=False)
        await client.send_all(HELLO + VIOLATION)
        with trio.fail_after(5):
            await _read_all(client)  # GOAWAY and EOF: the driver lingers now
        await trio.sleep(0.1)
        assert _runs_left(harness) == 1
        start = trio.current_time()
        nursery.cancel_scope.cancel()
    assert trio.current_time() - start < 1.0
    assert driver.is_closed


async def test_aclose_stops_the_linger(monkeypatch: pytest.MonkeyPatch, harness: Harness) -> None:
    monkeypatch.setattr(lifecycle, "LINGER", 30.0)
    client, driver = await _bad_peer(harness)
    async with client:
        with trio.fail_after(5):
            await _read_all(client)
        await trio.sleep(0.1)
        assert _runs_left(harness) == 1
        with trio.fail_after(1):
            await driver.aclose()


async def test_server_shutdown_does_not_wait_for_a_lingering_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bad peer that keeps sending forever: Server.shutdown finishes at once."""
    monkeypatch.setattr(lifecycle, "LINGER", 30.0)
    monkeypatch.setattr(lifecycle, "LINGER_BYTES", 2**40)
    done = trio.Event()
    async with trio.open_nursery() as nursery:

        async def run_server(task_status: trio.TaskStatus[Server]) -> None:
            await Server(demo_app, ServerConfig(host="127.0.0.1", port=0)).serve(
                task_status=task_status
            )
            done.set()

        server: Server = await nursery.start(run_server)
        sock = await trio.open_tcp_stream("127.0.0.1", server.port)
        async with sock:
            await sock.send_all(HELLO + VIOLATION)
            nursery.start_soon(_send_junk, sock, float("inf"))
            with trio.fail_after(5):
                received, _ = await _read_all(sock)
            assert _goaway(received) == (ErrorCode.PROTOCOL_ERROR, DEBUG)
            await trio.sleep(0.2)
            assert server.connection_count == 1  # lingering
            start = trio.current_time()
            server.shutdown()
            with trio.fail_after(5):
                await done.wait()
            assert trio.current_time() - start < 1.0
            assert server.connection_count == 0
        nursery.cancel_scope.cancel()
