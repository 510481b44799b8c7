"""HTTP/1.1 on ``mux serve``: ``100 Continue`` and requests that arrive as a drain begins.

* A request with ``Expect: 100-continue`` gets ``100 Continue`` before the client
  sent any body (curl waits ~1 s for it before sending a body over 1 MB), and
  never after the final response (engine level: h11 would refuse it).
* A connection accepted before a graceful shutdown whose request is read only
  after the shutdown began is answered (with ``Connection: close``), then
  closed: never dropped unanswered.
"""

from __future__ import annotations

import h11
import trio
from conftest import Harness

from mux.config import ServerConfig
from mux.core import events as ev
from mux.core.h11engine import H11Engine
from mux.server.demo import app as demo_app
from mux.server.server import Server

POST = b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\nexpect: 100-continue\r\n\r\n"


async def _server(harness: Harness) -> Server:
    return await harness.server(demo_app, ServerConfig(host="127.0.0.1", port=0))


async def _read_until(sock: trio.SocketStream, end: bytes, received: bytes = b"") -> bytes:
    while end not in received:
        chunk = await sock.receive_some(65536)
        assert chunk, f"connection closed; got {received!r}"
        received += chunk
    return received


async def test_100_continue_arrives_before_any_body_is_sent(harness: Harness) -> None:
    server = await _server(harness)
    sock = await trio.open_tcp_stream("127.0.0.1", server.port)
    await sock.send_all(POST)  # the head only, as curl does
    with trio.fail_after(5):
        interim = await _read_until(sock, b"\r\n\r\n")
        # (/echo streams: its 200 head may follow at once, before the body.)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        await sock.send_all(b"hello")
        response = await _read_until(sock, b"hello", interim)
    assert response.count(b"100 Continue") == 1
    assert response[len(b"HTTP/1.1 100 Continue\r\n\r\n") :].startswith(b"HTTP/1.1 200")
    await sock.aclose()


def test_no_100_after_the_final_response() -> None:
    """An early final response: the 100 went out first, nothing follows it."""
    engine = H11Engine()
    events = engine.receive_data(POST)
    assert isinstance(events[0], ev.RequestReceived)
    engine.send_headers(1, [(b":status", b"404"), (b"content-length", b"0")], end_stream=True)
    out = engine.data_to_send()
    assert out.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 ")
    assert out.count(b"100 Continue") == 1
    engine.receive_data(b"hello")  # the body still comes, and ends
    assert engine.data_to_send() == b""
    assert not engine.must_close  # early response, body ended: the connection is reusable


def test_no_100_without_expect() -> None:
    engine = H11Engine()
    engine.receive_data(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\n")
    assert engine.data_to_send() == b""


async def test_request_read_as_the_drain_begins_is_answered(harness: Harness) -> None:
    server = await _server(harness)
    sock = await trio.open_tcp_stream("127.0.0.1", server.port)
    with trio.fail_after(5):
        while server.connection_count < 1:  # noqa: ASYNC110 (accepted, sniffing: no byte yet)
            await trio.sleep(0.01)
    server.shutdown()
    await sock.send_all(b"GET /bytes/3 HTTP/1.1\r\nhost: x\r\n\r\n")
    received = b""
    with trio.fail_after(10):
        while chunk := await sock.receive_some(65536):
            received += chunk
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method="GET", target="/bytes/3", headers=[("host", "x")]))
    client.receive_data(received)
    response = client.next_event()
    assert isinstance(response, h11.Response) and response.status_code == 200
    assert (b"connection", b"close") in [(n, v.lower()) for n, v in response.headers]
    assert client.next_event() == h11.Data(data=b"\x00\x01\x02")
    await sock.aclose()
