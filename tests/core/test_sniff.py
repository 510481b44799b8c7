"""Protocol detection on the shared listener."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mux.core.h2guard import PREFACE
from mux.core.sniff import (
    ALPN_PROTOCOLS,
    MAX_METHOD,
    MAX_REQUEST_LINE,
    NotAProtocol,
    detect,
    protocol_for_alpn,
)

MUX_PREFACE = b"\x89MUX\r\n\x1a\x01"


def test_detect_mux_from_first_byte() -> None:
    """The mux preface is recognised from its first byte."""
    assert detect(MUX_PREFACE[:1]) == "mux"
    assert detect(MUX_PREFACE + b"rest") == "mux"


def test_detect_h2_preface_and_its_prefixes() -> None:
    """Strict prefixes of "PRI " need more bytes; "PRI " commits to HTTP/2."""
    assert detect(b"") is None
    for n in range(1, 4):
        assert detect(PREFACE[:n]) is None
    for n in range(4, len(PREFACE) + 1):
        assert detect(PREFACE[:n]) == "h2"


def test_detect_near_miss_preface_is_h2() -> None:
    """A preface that diverges after "PRI " goes to HTTP/2 (GOAWAY), not HTTP/1.1 (400)."""
    assert detect(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n") == "h2"
    assert detect(b"PRI / HTTP/1.1\r\n") == "h2"


def test_detect_http11_requests() -> None:
    """Request lines carrying HTTP/1.x go to h11, malformed or not (it answers 400)."""
    assert detect(b"GET / HTTP/1.1\r\n") == "http/1.1"
    assert detect(b"POST /x HTTP/1.1\r\nUpgrade: h2c\r\n") == "http/1.1"
    assert detect(b"GET / HTTP/1.0") == "http/1.1"  # decided before the line ends
    assert detect(b"GET /\x00\xff HTTP/1.1\r\n") == "http/1.1"  # malformed: h11's 400
    assert detect(b"get  HTTP/1.1\r\n") == "http/1.1"


def test_detect_waits_while_a_request_line_may_still_arrive() -> None:
    """A method, or a method and a target without the line's end, need more bytes."""
    assert detect(b"PUT") is None
    assert detect(b"GET /very/long") is None
    assert detect(b"GET /" + b"a" * (MAX_REQUEST_LINE - 10)) is None
    assert detect(b"GET /" + b"a" * MAX_REQUEST_LINE) == "http/1.1"  # h11 answers 431


@pytest.mark.parametrize(
    "data",
    [
        b"INVALID CONNECTION PREFACE\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # TLS ClientHello
        b"\x00" * 100,
        b"SSH-2.0-OpenSSH_9.6\r\n",
        b"GET /\r\n",  # HTTP/0.9
        b"A" * (MAX_METHOD + 1),
        b"GET\t/ HTTP/1.1\r\n",
    ],
)
def test_detect_rejects_what_is_no_protocol(data: bytes) -> None:
    """Bytes that are no request line, HTTP/2 or mux preface: close the connection."""
    outcome = detect(data)
    assert isinstance(outcome, NotAProtocol)
    assert "\\x" not in outcome.reason and "b'" not in outcome.reason


@given(st.binary(min_size=1))
def test_detect_decides_without_http1_only_when_sure(data: bytes) -> None:
    """Whatever the bytes, detect either waits or decides; HTTP/1.1 needs "HTTP/1." on
    the first line (or an overlong line); a decision never changes with more bytes."""
    outcome = detect(data)
    if outcome == "http/1.1":
        first_line = data.split(b"\n", 1)[0]
        assert b"HTTP/1." in first_line[:MAX_REQUEST_LINE] or len(data) >= MAX_REQUEST_LINE
    if outcome is not None:
        assert detect(data + b"more\r\n") == outcome


@given(st.binary(min_size=3), st.binary())
def test_detect_always_decides_once_a_line_ended(line: bytes, rest: bytes) -> None:
    """Once the first line has ended, detect decides."""
    assert detect(line + b"\n" + rest) is not None


def test_alpn_mapping() -> None:
    """ALPN ids map to engines; no ALPN falls back to sniffing."""
    assert ALPN_PROTOCOLS == ("mux/1", "h2", "http/1.1")
    assert protocol_for_alpn("h2") == "h2"
    assert protocol_for_alpn("http/1.1") == "http/1.1"
    assert protocol_for_alpn("mux/1") == "mux"
    assert protocol_for_alpn(None) is None
    assert protocol_for_alpn("spdy/3") is None
