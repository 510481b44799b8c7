"""Protocol detection on the shared listener."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mux.core.h2guard import PREFACE
from mux.core.sniff import ALPN_PROTOCOLS, detect, protocol_for_alpn

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
    """HTTP/1.1 request lines (and other garbage) go to h11."""
    assert detect(b"GET / HTTP/1.1\r\n") == "http/1.1"
    assert detect(b"POST /x HTTP/1.1\r\nUpgrade: h2c\r\n") == "http/1.1"
    assert detect(b"PUT") == "http/1.1"
    assert detect(b"PRX") == "http/1.1"
    assert detect(b"\x16\x03\x01") == "http/1.1"  # TLS to a cleartext port: h11 answers 400


@given(st.binary(min_size=4))
def test_detect_always_decides_after_four_bytes(data: bytes) -> None:
    """Four bytes are always enough to decide."""
    assert detect(data) in ("mux", "h2", "http/1.1")


def test_alpn_mapping() -> None:
    """ALPN ids map to engines; no ALPN falls back to sniffing."""
    assert ALPN_PROTOCOLS == ("mux/1", "h2", "http/1.1")
    assert protocol_for_alpn("h2") == "h2"
    assert protocol_for_alpn("http/1.1") == "http/1.1"
    assert protocol_for_alpn("mux/1") == "mux"
    assert protocol_for_alpn(None) is None
    assert protocol_for_alpn("spdy/3") is None
