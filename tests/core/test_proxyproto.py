"""The PROXY protocol parser (mux.core.proxyproto) against an independent encoder."""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mux.core.proxyproto import (
    V1_MAX_LENGTH,
    V2_MAX_LENGTH,
    V2_SIGNATURE,
    ProxyHeader,
    ProxyProtocolError,
    parse,
    signature_state,
)

SIG = b"\x0d\x0a\x0d\x0a\x00\x0d\x0a\x51\x55\x49\x54\x0a"  # spelled out from the spec
FAMILY_BYTES = {"TCP4": 0x11, "UDP4": 0x12, "TCP6": 0x21, "UDP6": 0x22, "UNIX": 0x31}


# ------------------------------------------------------------------- encoder


def encode_v1(family: str, source: tuple[str, int], dest: tuple[str, int]) -> bytes:
    return f"PROXY {family} {source[0]} {dest[0]} {source[1]} {dest[1]}\r\n".encode()


def encode_v2(
    family: str,
    source: tuple[str, int] | str | None,
    dest: tuple[str, int] | str | None,
    tlvs: Sequence[tuple[int, bytes]] = (),
    *,
    command: int = 1,
) -> bytes:
    if family == "UNKNOWN":
        block = b""
        fam = 0x00
    elif family == "UNIX":
        assert isinstance(source, str) and isinstance(dest, str)
        block = source.encode().ljust(108, b"\0") + dest.encode().ljust(108, b"\0")
        fam = FAMILY_BYTES[family]
    else:
        assert isinstance(source, tuple) and isinstance(dest, tuple)
        block = (
            ipaddress.ip_address(source[0]).packed
            + ipaddress.ip_address(dest[0]).packed
            + struct.pack("!HH", source[1], dest[1])
        )
        fam = FAMILY_BYTES[family]
    block += b"".join(struct.pack("!BH", kind, len(value)) + value for kind, value in tlvs)
    return SIG + bytes([0x20 | command, fam]) + struct.pack("!H", len(block)) + block


# --------------------------------------------------------------- strategies

ports = st.integers(0, 65535)
ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(str)
tlv_lists = st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=40)), max_size=5)
unix_paths = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=100
)


@st.composite
def v2_headers(draw: st.DrawFn) -> tuple[ProxyHeader, bytes]:
    family = draw(st.sampled_from(["TCP4", "UDP4", "TCP6", "UDP6", "UNIX"]))
    tlvs = draw(tlv_lists)
    source: tuple[str, int] | str
    dest: tuple[str, int] | str
    if family == "UNIX":
        source, dest = draw(unix_paths), draw(unix_paths)
    else:
        addresses = ipv4 if family.endswith("4") else ipv6
        source = (draw(addresses), draw(ports))
        dest = (draw(addresses), draw(ports))
    header = ProxyHeader(2, "PROXY", family, source, dest, tuple(tlvs))  # type: ignore[arg-type]
    return header, encode_v2(family, source, dest, tlvs)


@st.composite
def v1_headers(draw: st.DrawFn) -> tuple[ProxyHeader, bytes]:
    family = draw(st.sampled_from(["TCP4", "TCP6"]))
    addresses = ipv4 if family == "TCP4" else ipv6
    source = (draw(addresses), draw(ports))
    dest = (draw(addresses), draw(ports))
    header = ProxyHeader(1, "PROXY", family, source, dest)  # type: ignore[arg-type]
    return header, encode_v1(family, source, dest)


any_header = st.one_of(v1_headers(), v2_headers())


# ---------------------------------------------------------------- round trip


@given(any_header, st.binary(max_size=64))
def test_round_trip_leaves_the_following_bytes(
    pair: tuple[ProxyHeader, bytes], after: bytes
) -> None:
    expected, encoded = pair
    result = parse(encoded + after)
    assert result == (expected, len(encoded))


@given(any_header)
def test_every_strict_prefix_needs_more(pair: tuple[ProxyHeader, bytes]) -> None:
    _, encoded = pair
    for cut in range(len(encoded)):
        assert parse(encoded[:cut]) is None


@given(v2_headers())
def test_client_is_the_source_for_ip_families(pair: tuple[ProxyHeader, bytes]) -> None:
    header, encoded = pair
    result = parse(encoded)
    assert result is not None
    if header.family == "UNIX":
        assert result[0].client is None and result[0].source == header.source
    else:
        assert result[0].client == header.source


def test_haproxy_send_proxy_v2_bytes() -> None:
    # What haproxy sent in a capture: TCP4 172.19.0.1:42578 -> 172.19.0.3:80, then GET.
    raw = bytes.fromhex("0d0a0d0a000d0a515549540a2111000cac130001ac130003a6520050") + b"GET "
    result = parse(raw)
    assert result is not None
    header, used = result
    assert (header.family, header.source, header.dest) == (
        "TCP4",
        ("172.19.0.1", 42578),
        ("172.19.0.3", 80),
    )
    assert raw[used:] == b"GET "


# ----------------------------------------------------------- address-less kinds


def test_v1_unknown_ignores_the_rest_of_the_line() -> None:
    for line in (b"PROXY UNKNOWN\r\n", b"PROXY UNKNOWN ffff::1 \xff anything 1 2\r\n"):
        result = parse(line + b"GET")
        assert result is not None
        assert result[0].family == "UNKNOWN" and result[0].client is None
        assert result[1] == len(line)


@given(v2_headers())
def test_v2_local_ignores_the_address_block(pair: tuple[ProxyHeader, bytes]) -> None:
    header, _ = pair
    encoded = encode_v2(header.family, header.source, header.dest, list(header.tlvs), command=0)
    result = parse(encoded)
    assert result == (ProxyHeader(2, "LOCAL", "UNKNOWN"), len(encoded))
    assert result[0].client is None


@pytest.mark.parametrize("fam", [0x00, 0x10, 0x20, 0x30, 0x01, 0x02])
def test_v2_unspec_family_or_transport_is_unknown(fam: int) -> None:
    block = b"\x01\x02\x03 some address bytes of unknown layout"
    raw = SIG + bytes([0x21, fam]) + struct.pack("!H", len(block)) + block
    assert parse(raw) == (ProxyHeader(2, "PROXY", "UNKNOWN"), len(raw))


def test_v2_unix_abstract_name() -> None:
    raw = encode_v2("UNIX", "\0abstract", "/run/x.sock")
    result = parse(raw)
    assert result is not None
    assert (result[0].source, result[0].dest) == ("@abstract", "/run/x.sock")


# ------------------------------------------------------------------- refusals


def refused(data: bytes, match: str) -> None:
    with pytest.raises(ProxyProtocolError, match=match):
        parse(data)


@pytest.mark.parametrize(
    ("line", "match"),
    [
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "lone LF"),
        (b"PROXY TCP4 1.2.3.4\r5.6.7.8 1 2\r\n", "lone CR"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n", "lone CR"),
        (b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", "source address"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.256 1 2\r\n", "destination address"),
        (b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n", "source address"),
        (b"PROXY TCP6 ::ffff:1.2.3.4 ::1 1 2\r\n", "not an IPv6"),
        (b"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", "not an IPv6"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", "source port"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n", "destination port"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", "source port"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", "5 fields"),
        (b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", "5 fields"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "5 fields"),
        (b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", "TCP4, TCP6 or UNKNOWN"),
        (b"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", "TCP4, TCP6 or UNKNOWN"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.\xb2 1 2\r\n", "US-ASCII"),
        (b"GET / HTTP/1.1\r\n", "not a PROXY protocol header"),
        (b"PROXYTCP4\r\n", "not a PROXY protocol header"),
    ],
)
def test_v1_refusals(line: bytes, match: str) -> None:
    refused(line, match)


def test_v1_line_is_bounded_to_107_bytes() -> None:
    longest = b"PROXY UNKNOWN " + b"f" * (V1_MAX_LENGTH - 16) + b"\r\n"
    assert len(longest) == V1_MAX_LENGTH and parse(longest) is not None
    no_crlf = b"PROXY UNKNOWN " + b"f" * 200
    assert parse(no_crlf[: V1_MAX_LENGTH - 1]) is None
    refused(no_crlf[:V1_MAX_LENGTH], "without CRLF in its first 107 bytes")
    refused(b"PROXY UNKNOWN " + b"f" * (V1_MAX_LENGTH - 15) + b"\r\n", "without CRLF")


@pytest.mark.parametrize(
    ("fixed", "match"),
    [
        (bytes([0x11]), "version 1"),
        (bytes([0x31]), "version 3"),
        (bytes([0x22]), "command 0x2"),
        (bytes([0x2F]), "command 0xf"),
        (bytes([0x21, 0x41]), "address family 0x4"),
        (bytes([0x21, 0x13]), "transport protocol 0x3"),
    ],
)
def test_v2_fixed_header_refused_as_soon_as_seen(fixed: bytes, match: str) -> None:
    refused(SIG + fixed, match)


def test_v2_length_is_bounded_before_waiting_for_the_body() -> None:
    refused(SIG + b"\x21\x11" + struct.pack("!H", V2_MAX_LENGTH + 1), "exceeds the limit")
    with pytest.raises(ProxyProtocolError, match="exceeds the limit 100"):
        parse(SIG + b"\x21\x11" + struct.pack("!H", 101), max_length=100)
    assert parse(SIG + b"\x21\x11" + struct.pack("!H", V2_MAX_LENGTH)) is None


@pytest.mark.parametrize(
    ("fam", "block", "match"),
    [
        (0x11, bytes(11), "family TCP4 needs 12 bytes, got 11"),
        (0x21, bytes(12), "family TCP6 needs 36 bytes, got 12"),
        (0x31, bytes(215), "family UNIX needs 216 bytes"),
        (0x11, bytes(12) + b"\x04\x00", "TLV at offset 0 is truncated"),
        (0x11, bytes(12) + b"\x04\x00\x05abcd", "TLV type 0x04 claims 5 bytes, only 4"),
        (0x11, bytes(12) + b"\x04\x00\x00\x01", "TLV at offset 3 is truncated"),
    ],
)
def test_v2_block_refusals(fam: int, block: bytes, match: str) -> None:
    refused(SIG + bytes([0x21, fam]) + struct.pack("!H", len(block)) + block, match)


# --------------------------------------------------------------------- garbage


@given(st.binary(max_size=300))
def test_garbage_raises_only_the_parser_error(data: bytes) -> None:
    _parse_or_refuse(data)


@given(st.sampled_from([SIG, b"PROXY "]), st.binary(max_size=300))
def test_garbage_after_a_signature_raises_only_the_parser_error(
    signature: bytes, data: bytes
) -> None:
    _parse_or_refuse(signature + data)


@given(st.binary(min_size=2, max_size=2), st.binary(max_size=300))
def test_garbage_v2_body_raises_only_the_parser_error(fam: bytes, data: bytes) -> None:
    _parse_or_refuse(SIG + b"\x21" + fam[:1] + struct.pack("!H", len(data)) + data)


def _parse_or_refuse(data: bytes) -> None:
    try:
        result = parse(data)
    except ProxyProtocolError as exc:
        assert str(exc)
        return
    if result is not None:
        header, used = result
        assert 0 < used <= len(data)
        assert header.version in (1, 2)


# ------------------------------------------------------------ signature_state


@pytest.mark.parametrize(
    ("data", "state"),
    [
        (b"", None),
        (b"P", None),
        (b"PROXY", None),
        (b"PROXY ", True),
        (b"PROXY TCP4", True),
        (b"PRI * HTTP/2.0", False),
        (b"GET /", False),
        (b"\r\n", None),
        (b"\r\nGET", False),
        (SIG[:11], None),
        (SIG, True),
        (b"\x89MUX", False),
    ],
)
def test_signature_state(data: bytes, state: bool | None) -> None:
    assert signature_state(data) is state
    assert V2_SIGNATURE == SIG
