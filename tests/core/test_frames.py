"""Payload codecs of mux/core/frames.py: round trips and malformed input."""

from __future__ import annotations

import msgpack
import pytest

from mux.core.frames import (
    FRAME_HEADER_SIZE,
    PREFACE,
    Flag,
    Frame,
    FrameType,
    decode_goaway,
    decode_headers,
    decode_settings,
    decode_u32,
    encode_frame,
    encode_goaway,
    encode_headers,
    encode_settings,
    encode_u32,
)
from mux.errors import ErrorCode, RemoteProtocolError


def test_constants() -> None:
    """The preface, header size and flag values match the draft contract."""
    assert PREFACE == b"\x89MUX\r\n\x1a\x01"
    assert FRAME_HEADER_SIZE == 10
    assert int(Flag.END_STREAM) == int(Flag.ACK) == 1
    assert [t.value for t in FrameType] == list(range(7))


def test_encode_frame_layout() -> None:
    """The header is u32 length, u8 type, u8 flags, u32 stream id, big-endian."""
    data = encode_frame(FrameType.HEADERS, 1, 3, b"ab")
    assert data == b"\x00\x00\x00\x02\x01\x01\x00\x00\x00\x03ab"
    assert Frame(1, 1, 3, b"ab").encode() == data


def test_headers_round_trip_as_bin() -> None:
    """Headers encode as a flat array of bin and decode back to byte pairs."""
    headers = [(b":method", b"GET"), (b"x-a", b"\xff\x00")]
    payload = encode_headers(headers)
    assert payload[0] == 0x94 and payload[1] == 0xC4  # fixarray(4), bin8
    assert decode_headers(payload) == headers


def test_headers_str_elements_accepted_as_octets() -> None:
    """msgpack str elements are accepted and returned as bytes."""
    payload = msgpack.packb([":path", "/é"], use_bin_type=True)
    assert decode_headers(payload) == [(b":path", "/é".encode())]


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        msgpack.packb({"a": "b"}),
        msgpack.packb([b"a"]),
        msgpack.packb([b"a", 1]),
        msgpack.packb([b"a", [b"b"]]),
        msgpack.packb([b"a", b"b"]) + b"\x00",
        b"\x92\xc4\x05ab",
        b"\xdd\xff\xff\xff\xff",
        b"\x91" * 5000,
        b"\x92\xc4\x01a\xd4\x01\x01",
        b"\xc1",
    ],
)
def test_decode_headers_malformed(payload: bytes) -> None:
    """Anything but a flat even array of bin/str is PROTOCOL_ERROR."""
    with pytest.raises(RemoteProtocolError) as info:
        decode_headers(payload)
    assert info.value.code == ErrorCode.PROTOCOL_ERROR


def test_settings_round_trip() -> None:
    """Settings encode as a msgpack map of uints."""
    assert decode_settings(encode_settings({1: 10, 0x99: 7})) == {1: 10, 0x99: 7}
    assert decode_settings(encode_settings({})) == {}


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        msgpack.packb([1, 2]),
        msgpack.packb({i: 1 for i in range(33)}),
        msgpack.packb({1: -1}),
        msgpack.packb({-1: 1}),
        msgpack.packb({1: True}),
        msgpack.packb({"a": 1}),
        msgpack.packb({1: [1]}),
        msgpack.packb({1: 1.5}),
        b"\x82\x01\x01\x01\x02",  # duplicate key
        msgpack.packb({1: 1}) + b"\x00",
        b"\xdf\xff\xff\xff\xff",
    ],
)
def test_decode_settings_malformed(payload: bytes) -> None:
    """Non-maps, >32 entries, non-uint entries, duplicates, trailing bytes: PROTOCOL_ERROR."""
    with pytest.raises(RemoteProtocolError) as info:
        decode_settings(payload)
    assert info.value.code == ErrorCode.PROTOCOL_ERROR


def test_goaway_round_trip_and_short() -> None:
    """GOAWAY carries last id, code and debug; < 8 bytes is FRAME_SIZE_ERROR."""
    assert decode_goaway(encode_goaway(7, 0xB, b"calm")) == (7, 0xB, b"calm")
    assert decode_goaway(encode_goaway(0x80000007, 0))[0] == 7
    with pytest.raises(RemoteProtocolError) as info:
        decode_goaway(b"\x00" * 7)
    assert info.value.code == ErrorCode.FRAME_SIZE_ERROR


def test_u32_round_trip_and_size() -> None:
    """u32 payloads are exactly 4 bytes."""
    assert decode_u32(encode_u32(2**32 - 1)) == 2**32 - 1
    with pytest.raises(RemoteProtocolError):
        decode_u32(b"\x00\x00\x00")
