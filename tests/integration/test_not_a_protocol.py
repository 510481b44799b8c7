"""Bytes that are no protocol the shared port speaks: the connection is closed, not
answered; a malformed HTTP/1.x request still gets a 400; nothing shows a repr."""

from __future__ import annotations

import logging
import re

import pytest
from conftest import Harness

from mux.server.demo import app as demo_app
from tests.loopback import exchange

BYTES_REPR = re.compile(r"""bytearray\(|(?<![\\\w])b['"]|StreamInputs|ConnectionState|in state""")


@pytest.mark.parametrize(
    "garbage",
    [
        b"INVALID CONNECTION PREFACE\r\n\r\n",
        b"\x00" * 100,
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(32),
        b"SSH-2.0-OpenSSH_9.6\r\n",
    ],
    ids=["h2spec-invalid-preface", "zeros", "tls-client-hello", "ssh"],
)
async def test_not_a_protocol_is_closed_without_a_reply(
    harness: Harness, garbage: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """No HTTP/1.1 400 to bytes that are no request line: just the close."""
    server = await harness.server(demo_app)
    with caplog.at_level(logging.DEBUG, logger="mux"):
        assert await exchange(server.port, garbage) == b""
    for record in caplog.records:
        assert not BYTES_REPR.search(record.getMessage()), record.getMessage()


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"INVALID CONNECTION PREFACE HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nbad header line\r\n\r\n",
        b"GET / HTTP/1.1\r\nhost: x\r\nx: \x00\r\n\r\n",
        b"GET /\x7f\x80 HTTP/1.1\r\nhost: x\r\n\r\n",
    ],
    ids=["bad-request-line", "bad-header-line", "nul-in-value", "bad-target"],
)
async def test_malformed_http1_request_gets_a_plain_400(
    harness: Harness, request_bytes: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """A malformed request carrying HTTP/1.x still gets a 400 whose body is plain words."""
    server = await harness.server(demo_app)
    with caplog.at_level(logging.DEBUG, logger="mux"):
        reply = await exchange(server.port, request_bytes)
    assert reply.startswith(b"HTTP/1.1 400 "), reply[:80]
    body = reply.split(b"\r\n\r\n", 1)[1].decode("latin-1")
    assert body.startswith("400 Bad Request: "), body
    assert not BYTES_REPR.search(body), body
    for record in caplog.records:
        assert not BYTES_REPR.search(record.getMessage()), record.getMessage()


async def test_h2_state_error_goaway_names_the_reason_over_a_socket(harness: Harness) -> None:
    """DATA on an idle stream: GOAWAY PROTOCOL_ERROR whose debug data says why, in words."""
    server = await harness.server(demo_app)
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes((0, 0, 0, 4, 0, 0, 0, 0, 0))
    data_on_idle = bytes((0, 0, 1, 0, 1, 0, 0, 0, 1)) + b"x"
    reply = await exchange(server.port, preface + data_on_idle)
    goaway = reply.rfind(bytes((7, 0, 0, 0, 0, 0)))  # type GOAWAY, flags 0, stream 0
    assert goaway >= 3, reply
    length = int.from_bytes(reply[goaway - 3 : goaway], "big")
    payload = reply[goaway + 6 : goaway + 6 + length]
    assert int.from_bytes(payload[4:8], "big") == 1  # PROTOCOL_ERROR
    debug = payload[8:].decode()
    assert debug == "unexpected DATA frame at this point"


async def test_invalid_mux_timeout_400_body_quotes_the_value_as_text(harness: Harness) -> None:
    """The framework's own 400 bodies quote offending bytes as text, never as b'...'."""
    server = await harness.server(demo_app)
    reply = await exchange(
        server.port,
        b"GET /echo HTTP/1.1\r\nhost: x\r\nmux-timeout: soon\r\nconnection: close\r\n\r\n",
    )
    assert reply.startswith(b"HTTP/1.1 400 "), reply[:80]
    body = reply.split(b"\r\n\r\n", 1)[1].decode("latin-1")
    assert 'invalid mux-timeout "soon"' in body, body
    assert not BYTES_REPR.search(body), body
