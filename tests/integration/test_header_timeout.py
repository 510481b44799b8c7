"""A header block left unfinished closes the connection after the header timeout
(not the frame, handshake or idle timeout), over real sockets."""

from __future__ import annotations

import trio
from conftest import Harness

from mux.config import ServerConfig
from mux.core.frames import PREFACE as MUX_PREFACE
from mux.core.frames import FrameType, decode_goaway
from mux.core.h2guard import PREFACE as H2_PREFACE
from mux.errors import ErrorCode
from mux.server.demo import app as demo_app
from tests.core.helpers import FrameFactory, parse_frames

HEADER_TIMEOUT = 0.3
#: Every other timer far away, so only the header timeout can close the connection.
CONFIG = ServerConfig(
    host="127.0.0.1",
    port=0,
    header_timeout=HEADER_TIMEOUT,
    frame_timeout=60.0,
    handshake_timeout=60.0,
    settings_timeout=60.0,
    idle_timeout=300.0,
)


def h2_frame(ftype: int, flags: int, sid: int, payload: bytes) -> bytes:
    header = len(payload).to_bytes(3, "big") + bytes((ftype, flags)) + sid.to_bytes(4, "big")
    return header + payload


H2_HELLO = H2_PREFACE + h2_frame(0x4, 0, 0, b"") + h2_frame(0x4, 1, 0, b"")  # SETTINGS + ACK
#: :method GET, :scheme http, :path /, :authority x (HPACK), without END_HEADERS.
H2_HEADERS_OPEN = h2_frame(0x1, 0x1, 1, b"\x82\x86\x84\x41\x01x")


async def _held_until_closed(port: int, data: bytes, *, limit: float = 10.0) -> tuple[bytes, float]:
    """Send ``data``, keep the connection open; return what came back and when it closed."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    started = trio.current_time()
    await stream.send_all(data)
    received = b""
    with trio.fail_after(limit):
        try:
            while chunk := await stream.receive_some(65536):
                received += chunk
        except trio.BrokenResourceError:
            pass
    await stream.aclose()
    return received, trio.current_time() - started


def _h2_frames(data: bytes) -> list[tuple[int, int, bytes]]:
    """(type, stream id, payload) of every frame the server sent."""
    pos, found = 0, []
    while pos + 9 <= len(data):
        length = int.from_bytes(data[pos : pos + 3], "big")
        sid = int.from_bytes(data[pos + 5 : pos + 9], "big")
        found.append((data[pos + 3], sid, data[pos + 9 : pos + 9 + length]))
        pos += 9 + length
    return found


def _h2_goaways(data: bytes) -> list[tuple[int, bytes]]:
    return [
        (int.from_bytes(payload[4:8], "big"), payload[8:])
        for ftype, _, payload in _h2_frames(data)
        if ftype == 0x7
    ]


async def test_h2_headers_without_end_headers_get_goaway_after_header_timeout(
    harness: Harness,
) -> None:
    """HEADERS without END_HEADERS and no CONTINUATION: GOAWAY naming the reason, close."""
    server = await harness.server(demo_app, CONFIG)
    reply, elapsed = await _held_until_closed(server.port, H2_HELLO + H2_HEADERS_OPEN)
    assert HEADER_TIMEOUT * 0.9 <= elapsed < 5.0
    goaways = _h2_goaways(reply)
    assert goaways, reply
    code, debug = goaways[-1]
    assert code == ErrorCode.PROTOCOL_ERROR
    assert b"unfinished header block" in debug


async def test_h2_header_block_trickled_in_continuations_is_still_bounded(
    harness: Harness,
) -> None:
    """CONTINUATION frames that keep coming but never end the block do not stretch it."""
    server = await harness.server(demo_app, CONFIG)
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    started = trio.current_time()
    await stream.send_all(H2_HELLO + H2_HEADERS_OPEN)
    received = b""
    with trio.fail_after(10):
        try:
            while True:
                with trio.move_on_after(HEADER_TIMEOUT / 3):
                    chunk = await stream.receive_some(65536)
                    if not chunk:
                        break
                    received += chunk
                    continue
                # an empty CONTINUATION (no END_HEADERS) every third of the timeout:
                # the 16-frame CONTINUATION cap would take 1.6 s to trip
                await stream.send_all(h2_frame(0x9, 0, 1, b""))
        except trio.BrokenResourceError:
            pass
    elapsed = trio.current_time() - started
    await stream.aclose()
    assert elapsed < 5.0
    goaways = _h2_goaways(received)
    assert goaways and b"unfinished header block" in goaways[-1][1], received


async def test_complete_h2_request_is_not_affected(harness: Harness) -> None:
    """A header block completed in a CONTINUATION is served; the connection then stays
    open well past the header timeout."""
    server = await harness.server(demo_app, CONFIG)
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    headers_open = h2_frame(0x1, 0x1, 1, b"\x82\x86")  # END_STREAM, block continues
    continuation = h2_frame(0x9, 0x4, 1, b"\x84\x41\x01x")  # END_HEADERS
    await stream.send_all(H2_HELLO + headers_open)
    await trio.sleep(HEADER_TIMEOUT / 3)
    await stream.send_all(continuation)
    received = b""
    with trio.move_on_after(HEADER_TIMEOUT * 3):
        while chunk := await stream.receive_some(65536):
            received += chunk
    await stream.aclose()
    assert not _h2_goaways(received), received
    assert (0x1, 1) in [(ftype, sid) for ftype, sid, _ in _h2_frames(received)]  # answered


async def test_http1_head_never_completing_is_closed_after_header_timeout(
    harness: Harness,
) -> None:
    """An HTTP/1.1 request head without its blank line: closed after the header timeout."""
    server = await harness.server(demo_app, CONFIG)
    reply, elapsed = await _held_until_closed(server.port, b"GET / HTTP/1.1\r\nhost: x\r\n")
    assert HEADER_TIMEOUT * 0.9 <= elapsed < 5.0
    assert b"HTTP/1.1 2" not in reply


async def test_http1_keepalive_between_requests_is_not_a_header_block(
    harness: Harness,
) -> None:
    """After a complete exchange, an idle keep-alive connection outlives the header timeout."""
    server = await harness.server(demo_app, CONFIG)
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    await stream.send_all(b"GET /echo HTTP/1.1\r\nhost: x\r\n\r\n")
    with trio.fail_after(5):
        first = await stream.receive_some(65536)
    assert first.startswith(b"HTTP/1.1 200"), first
    with trio.move_on_after(HEADER_TIMEOUT * 3) as idle:
        assert await stream.receive_some(65536) != b""  # not closed
    assert idle.cancelled_caught
    await stream.send_all(b"GET /echo HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
    with trio.fail_after(5):
        second = await stream.receive_some(65536)
    assert second.startswith(b"HTTP/1.1 200"), second
    await stream.aclose()


async def test_mux_headers_frame_never_completing_is_the_frame_timer(
    harness: Harness,
) -> None:
    """mux has no CONTINUATION: a HEADERS frame cut short is bounded by the frame timer."""
    config = ServerConfig(host="127.0.0.1", port=0, frame_timeout=HEADER_TIMEOUT)
    server = await harness.server(demo_app, config)
    factory = FrameFactory()
    headers = factory.headers(1, end_stream=True)
    hello = MUX_PREFACE + factory.settings() + factory.settings(ack=True)
    reply, elapsed = await _held_until_closed(server.port, hello + headers[:-2])
    assert HEADER_TIMEOUT * 0.9 <= elapsed < 5.0
    goaways = [f for f in parse_frames(reply) if f.type == FrameType.GOAWAY]
    assert goaways, reply
    assert decode_goaway(goaways[-1].payload)[1] == ErrorCode.PROTOCOL_ERROR
