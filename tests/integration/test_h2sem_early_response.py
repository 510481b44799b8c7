"""Early responses: the rest of the request body is discarded, boundedly, not reset at once.

The demo answers ``/missing`` (404) without reading the body. A client still
sending its body must see its stream end normally (HTTP/2, mux) or its
connection kept (HTTP/1.1); past the bounds (``DISCARD_BYTES``,
``DISCARD_TIME``) the stream is reset with NO_ERROR. Real sockets, real server.
"""

from __future__ import annotations

import pytest
import trio
from hyperframe.frame import DataFrame, HeadersFrame, PingFrame, RstStreamFrame

from mux.config import ServerConfig
from mux.core.h2engine import H2Engine
from mux.driver import ConnectionDriver
from mux.driver.lifecycle import DISCARD_BYTES, DISCARD_TIME
from mux.errors import ErrorCode, StreamReset
from mux.server.demo import app as demo_app
from mux.server.server import Server
from tests.conftest import Harness
from tests.integration.h2sem_peer import RawH2, data, ping

POST = [(b":method", b"POST"), (b":scheme", b"http"), (b":authority", b"x")]


@pytest.fixture
async def server(harness: Harness) -> Server:
    return await harness.server(demo_app, ServerConfig(host="127.0.0.1", port=0))


async def _h2(nursery: trio.Nursery, port: int) -> ConnectionDriver:
    transport = await trio.open_tcp_stream("127.0.0.1", port)
    driver = ConnectionDriver(transport, H2Engine(client_side=True))
    await nursery.start(driver.run)
    return driver


async def _early_404_then_body(driver: ConnectionDriver, body_size: int) -> None:
    stream = await driver.open_stream([*POST, (b":path", b"/missing")])
    await stream.send_data(b"a" * 1000)
    response = await stream.receive_headers()
    assert dict(response)[b":status"] == b"404"
    while await stream.receive_data():
        pass  # the 404 body, then END_STREAM: the response is complete
    await stream.send_data(b"b" * body_size, end_stream=True)


@pytest.mark.parametrize("protocol", ["h2", "mux"])
async def test_body_after_an_early_response_is_read_not_reset(
    protocol: str, server: Server, harness: Harness, nursery: trio.Nursery
) -> None:
    if protocol == "h2":
        driver = await _h2(nursery, server.port)
    else:
        driver = await harness.client(server.port)
    with trio.fail_after(10):
        # Before: RST_STREAM(NO_ERROR) as soon as the 404 was out, so this raised.
        await _early_404_then_body(driver, 600_000)
        # The connection is fine and the credit came back: another full request.
        extra = [(b":scheme", b"http"), (b":authority", b"x")]
        status, _, body = await harness.request(driver, "/echo", b"z" * 300_000, headers=extra)
    assert status == 200 and len(body) == 300_000
    await driver.aclose()


@pytest.mark.parametrize("protocol", ["h2", "mux"])
async def test_body_beyond_the_discard_bound_is_reset_with_no_error(
    protocol: str, server: Server, harness: Harness, nursery: trio.Nursery
) -> None:
    if protocol == "h2":
        driver = await _h2(nursery, server.port)
    else:
        driver = await harness.client(server.port)
    stream = await driver.open_stream([*POST, (b":path", b"/missing")])
    sent = 0
    with trio.fail_after(10), pytest.raises(StreamReset) as info:
        await stream.send_data(b"a" * 1000)
        while await stream.receive_data():
            pass  # the whole 404
        while True:  # until the reset: once it is sent, no more credit comes
            await stream.send_data(b"b" * 65536)
            sent += 65536
    assert info.value.code == ErrorCode.NO_ERROR
    assert sent >= DISCARD_BYTES - 65536  # the bound, not an early reset
    await driver.aclose()


async def test_a_client_that_stops_sending_is_reset_after_the_discard_time(
    server: Server,
) -> None:
    peer = await RawH2.open(server.port)
    await peer.send(peer.headers(1, b"/missing", method=b"POST", end_stream=False))
    await peer.send(data(1, b"x" * 100))
    with trio.fail_after(5):
        start = None
        frames = []
        while True:
            frame = await peer.next_frame()
            assert frame is not None
            frames.append(frame)
            if isinstance(frame, DataFrame) and "END_STREAM" in frame.flags:
                start = trio.current_time()  # the 404 is complete
                # The body goes on arriving for a while: still no reset.
                await peer.send(data(1, b"y" * 100) + ping())
            if isinstance(frame, RstStreamFrame):
                break
    assert start is not None
    assert frame.stream_id == 1 and frame.error_code == ErrorCode.NO_ERROR
    assert trio.current_time() - start >= DISCARD_TIME * 0.5  # before: at once
    assert any(isinstance(f, HeadersFrame) for f in frames)
    assert any(isinstance(f, PingFrame) and "ACK" in f.flags for f in frames)
    await peer.aclose()


async def test_http11_early_response_reads_the_body_then_keeps_the_connection(
    server: Server,
) -> None:
    """The rest of the body is read and dropped (bounded) after an early 404; once
    it ends, the connection serves the next request (keep-alive), instead of
    being closed (before: closed; before that: reset)."""
    sock = await trio.open_tcp_stream("127.0.0.1", server.port)
    head = b"POST /missing HTTP/1.1\r\nhost: x\r\ncontent-length: 200000\r\n\r\n"
    await sock.send_all(head + b"a" * 1000)
    received = b""
    with trio.fail_after(5):
        while not received.endswith(b"\r\n0\r\n\r\n"):  # the whole chunked 404
            chunk = await sock.receive_some(65536)
            assert chunk, "connection closed before the response"
            received += chunk
        assert received.startswith(b"HTTP/1.1 404")
        assert b"connection: close" not in received.lower()
        await trio.sleep(0.1)  # the server is done with the response
        await sock.send_all(b"b" * 199_000)  # the rest of the body
        await sock.send_all(b"GET /bytes/3 HTTP/1.1\r\nhost: x\r\n\r\n")
        second = b""
        while not second.endswith(b"\r\n\r\n\x00\x01\x02"):
            chunk = await sock.receive_some(65536)
            assert chunk, "connection closed after the discarded body"
            second += chunk
    assert second.startswith(b"HTTP/1.1 200")
    await sock.aclose()


async def test_http11_body_past_the_discard_bound_closes_cleanly(server: Server) -> None:
    """More body than DISCARD_BYTES after an early 404: the whole 404, then an
    orderly EOF (the rest read and dropped, no reset)."""
    sock = await trio.open_tcp_stream("127.0.0.1", server.port)
    total = 2 * DISCARD_BYTES
    head = b"POST /missing HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n" % total
    await sock.send_all(head)
    received = b""

    async def send_body() -> None:
        try:
            for _ in range(total // 65536):
                await sock.send_all(bytes(65536))
        except trio.BrokenResourceError:
            pass

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(send_body)
            while chunk := await sock.receive_some(65536):
                received += chunk
    assert received.startswith(b"HTTP/1.1 404") and b"not found" in received.lower()
    await sock.aclose()
