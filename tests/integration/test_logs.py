"""Log lines: time, level, peer address, protocol and stream; peer protocol errors at
DEBUG with a periodic INFO summary (mux.logs), over real sockets."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator

import pytest
import trio
from conftest import Harness
from hpack import Encoder

from mux.config import ServerConfig
from mux.logs import PEER_ERRORS, QUIET_LIBRARIES, setup_logging
from mux.server.app import Request, Response, Router
from tests.loopback import exchange

LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR) \S+")


@pytest.fixture
def log_lines(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """What setup_logging writes (to a captured stderr), at DEBUG."""
    out = io.StringIO()
    monkeypatch.setattr("sys.stderr", out)
    root = logging.getLogger()
    level = root.level
    quiet = {name: logging.getLogger(name).level for name in QUIET_LIBRARIES}
    handler = setup_logging("DEBUG")
    PEER_ERRORS.flush()
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        for name, old in quiet.items():
            logging.getLogger(name).setLevel(old)


def app() -> Router:
    router = Router()

    @router.route("/log")
    async def log(request: Request) -> Response:
        logging.getLogger("mux.test").warning("handler says hi")
        return Response(200, body=b"ok")

    return router


async def test_handler_lines_carry_time_level_peer_protocol_and_stream(
    harness: Harness, log_lines: io.StringIO
) -> None:
    server = await harness.server(app())
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    local = stream.socket.getsockname()
    await stream.send_all(b"GET /log HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
    with trio.fail_after(5):
        while await stream.receive_some(65536):
            pass
    await stream.aclose()
    lines = [line for line in log_lines.getvalue().splitlines() if "handler says hi" in line]
    assert len(lines) == 1, log_lines.getvalue()
    assert LINE.match(lines[0]), lines[0]
    assert f"[127.0.0.1:{local[1]} http/1.1 stream 1]" in lines[0]
    assert " WARNING mux.test " in lines[0]


async def test_peer_protocol_errors_are_debug_and_summarised(
    harness: Harness, log_lines: io.StringIO
) -> None:
    server = await harness.server(app())
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes((0, 0, 0, 4, 0, 0, 0, 0, 0))
    data_on_idle = bytes((0, 0, 1, 0, 1, 0, 0, 0, 1)) + b"x"
    for _ in range(3):
        await exchange(server.port, preface + data_on_idle)
    await exchange(server.port, b"INVALID CONNECTION PREFACE\r\n\r\n")
    text = log_lines.getvalue()
    errors = [line for line in text.splitlines() if "peer error" in line]
    assert len(errors) == 3, text
    for line in errors:
        assert " DEBUG mux.driver [127.0.0.1:" in line and " h2] " in line, line
        assert "PROTOCOL_ERROR: unexpected DATA frame at this point" in line, line
    assert any(
        " DEBUG " in line and "not an HTTP/1.x request line" in line for line in text.splitlines()
    )
    assert " INFO " not in text  # nothing above DEBUG until the summary
    summary = PEER_ERRORS.flush(60)
    assert summary == (
        "4 connections closed for peer protocol errors in the last 60 s: "
        "3 PROTOCOL_ERROR, 1 not a protocol"
    )
    info = [line for line in log_lines.getvalue().splitlines() if " INFO mux.peer " in line]
    assert info and info[-1].endswith(summary)
    assert PEER_ERRORS.flush(60) is None  # nothing new: no line


async def test_debug_level_keeps_library_byte_dumps_out(
    harness: Harness, log_lines: io.StringIO
) -> None:
    """At DEBUG, hpack's header dumps (byte reprs of every header) stay out of the log."""
    server = await harness.server(app())
    block = Encoder().encode(
        [(":method", "GET"), (":scheme", "http"), (":path", "/log"), (":authority", "x")]
    )
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes((0, 0, 0, 4, 0, 0, 0, 0, 0))
    headers = len(block).to_bytes(3, "big") + bytes((1, 5, 0, 0, 0, 1)) + block
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    await stream.send_all(preface + headers)
    received = b""
    with trio.fail_after(5):  # until the response HEADERS (stream 1) arrive
        while b"\x01\x04\x00\x00\x00\x01" not in received:
            received += await stream.receive_some(65536)
    await stream.aclose()
    assert "handler says hi" in log_lines.getvalue()
    text = log_lines.getvalue()
    assert "hpack" not in text and "b'" not in text, text


async def test_parked_and_resumed_connection_keeps_its_peer_in_log_lines(
    harness: Harness, log_lines: io.StringIO
) -> None:
    """A connection parked between requests resumes in a new task: its lines still
    name the peer (the resumed task sets the context again)."""
    server = await harness.server(app(), ServerConfig(host="127.0.0.1", port=0, park_delay=0.05))
    client = await harness.client(server.port)
    local_port = client.transport.socket.getsockname()[1]  # type: ignore[attr-defined]
    for _ in range(2):
        status, _, _ = await harness.request(client, "/log", method="GET")
        assert status == 200
        for _ in range(500):  # idle: the connection parks (bounded wait)
            if server.parked_count:
                break
            await trio.sleep(0.01)
        assert server.parked_count == 1
    assert server.parked_total >= 2
    lines = [line for line in log_lines.getvalue().splitlines() if "handler says hi" in line]
    assert len(lines) == 2, log_lines.getvalue()
    for line in lines:
        assert f"[127.0.0.1:{local_port} mux stream " in line, line
