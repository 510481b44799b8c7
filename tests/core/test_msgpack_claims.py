"""HEADERS decoding cost is linear in the payload (spec Section 11.3).

msgpack-python preallocates a list of the size an array header *claims*, so a
decoder that lets msgpack read nested ``array32(65535)`` headers spends memory
and CPU in proportion to the claims, not to the bytes received. These tests pin
the rule "a claim larger than the bytes remaining is malformed, and a nested
container is refused on its header": allocation (tracemalloc peak) stays a
small multiple of the payload, and the decoder agrees with a plain msgpack
decode on every well-formed list.
"""

from __future__ import annotations

import struct
import tracemalloc

import msgpack
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from mux.core.frames import decode_headers
from mux.errors import ErrorCode, RemoteProtocolError

FRAME = 65536


def _peak_while_decoding(payload: bytes) -> int:
    """Peak traced allocation (bytes) while decode_headers rejects ``payload``."""
    tracemalloc.start()
    try:
        with pytest.raises(RemoteProtocolError) as info:
            decode_headers(payload)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        assert info.value.code == ErrorCode.PROTOCOL_ERROR


_NESTED = b"\xdd\x00\x00\xff\xff"  # array32 claiming 65535 elements


@pytest.mark.parametrize(
    ("name", "payload"),
    [
        ("nested claims at the top", (_NESTED * (FRAME // 5 + 1))[:FRAME]),
        ("nested claims inside", b"\xdc\x33\x32" + (_NESTED * (FRAME // 5 + 1))[: FRAME - 3]),
        ("top-level claim over the rest", b"\xdd\xff\xff\xff\xff" + b"\xc4\x00" * 100),
        ("map claims inside", b"\x92" + b"\xdf\x00\x00\xff\xff" * 2),
        ("bin claim over the rest", b"\x92\xc6\x7f\xff\xff\xff" + b"a" * 1000),
    ],
)
def test_length_claims_cost_is_bounded_by_the_payload(name: str, payload: bytes) -> None:
    """Rejecting a hostile payload allocates a small multiple of its size, whatever it claims.

    Before the fix the first two payloads made msgpack allocate ~80 MiB
    (a 512 KiB list per nested claim, down to its nesting limit).
    """
    peak = _peak_while_decoding(payload)
    assert peak < 4 * len(payload) + 64 * 1024, (name, peak)


def test_claims_equal_to_the_rest_are_fine() -> None:
    """A claim exactly filling the payload is honoured (the bound is not off by one)."""
    payload = b"\xdc\x00\x02" + b"\xa0\xa0"
    assert decode_headers(payload) == [(b"", b"")]
    with pytest.raises(RemoteProtocolError):
        decode_headers(b"\xdc\x00\x03" + b"\xa0\xa0")  # odd count
    with pytest.raises(RemoteProtocolError):
        decode_headers(b"\xdc\x00\x04" + b"\xa0\xa0\xa0")  # claims 4 in 3 bytes


_OCTETS = st.binary(max_size=40)
_ELEMENT = st.one_of(
    _OCTETS,
    st.text(max_size=10),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.none(),
    st.booleans(),
    st.lists(_OCTETS, max_size=3),
    st.dictionaries(_OCTETS, _OCTETS, max_size=2),
)


def _reference(payload: bytes) -> list[tuple[bytes, bytes]] | None:
    """The shape rules of Section 5.1 applied to a plain (trusted) msgpack decode."""
    try:
        items = msgpack.unpackb(payload, raw=True, strict_map_key=False)
    except (ValueError, TypeError, msgpack.UnpackException):  # TypeError: a map key msgpack
        # cannot hash (b"\x81\x80\x00", a map keyed by a map): malformed for us too
        return None
    if type(items) is not list or len(items) % 2:
        return None
    if any(type(item) is not bytes for item in items):
        return None
    it = iter(items)
    return list(zip(it, it, strict=True))


def _decoded(payload: bytes) -> list[tuple[bytes, bytes]] | None:
    try:
        return decode_headers(payload)
    except RemoteProtocolError as exc:
        assert exc.code == ErrorCode.PROTOCOL_ERROR
        return None


@given(st.lists(_ELEMENT, max_size=12), st.sampled_from(["fix", "16", "32"]), st.binary(max_size=3))
def test_decoder_agrees_with_msgpack(items: list[object], form: str, trailer: bytes) -> None:
    """Any array (in any of the three array formats, with or without trailing
    bytes) decodes exactly as a trusted msgpack decode plus the shape rules say."""
    body = msgpack.packb(items, use_bin_type=True)
    # Re-encode the array header in the chosen format (msgpack picks fixarray).
    skip = 1 if len(items) < 16 else 3
    header = {
        "fix": bytes([0x90 | len(items)]) if len(items) < 16 else b"\xdc" + len(items).to_bytes(2),
        "16": b"\xdc" + struct.pack(">H", len(items)),
        "32": b"\xdd" + struct.pack(">I", len(items)),
    }[form]
    payload = header + body[skip:] + trailer
    assert _decoded(payload) == _reference(payload)


@given(st.binary(max_size=64))
@example(b"\x81\x80\x00")  # a map keyed by a map: msgpack raises TypeError
def test_decoder_agrees_with_msgpack_on_arbitrary_bytes(payload: bytes) -> None:
    """Arbitrary bytes: accepted exactly when they are a well-formed header list."""
    assert _decoded(payload) == _reference(payload)


@given(st.lists(_OCTETS, min_size=1, max_size=10).filter(lambda x: len(x) % 2 == 0), st.data())
def test_every_truncation_is_malformed(items: list[bytes], data: st.DataObject) -> None:
    """Cutting a well-formed list anywhere leaves a malformed payload."""
    payload = msgpack.packb(items, use_bin_type=True)
    cut = data.draw(st.integers(min_value=0, max_value=len(payload) - 1))
    assert _decoded(payload) is not None
    assert _decoded(payload[:cut]) is None
