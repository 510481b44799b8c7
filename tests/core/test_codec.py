"""FrameDecoder: whole input, split at every offset, one byte at a time, failures."""

from __future__ import annotations

import pytest

from mux.core.codec import DATA_PIECE, FrameDecoder
from mux.core.frames import PREFACE, PREFACE_MAGIC, Frame, encode_frame
from mux.errors import (
    ErrorCode,
    FrameSizeError,
    RemoteProtocolError,
    UnsupportedVersionError,
)

FRAMES = [
    Frame(3, 0, 0, b"\x80"),
    Frame(1, 1, 1, b"\x92\xc4\x01a\xc4\x01b"),
    Frame(0, 0, 1, b"x" * 300),
    Frame(0, 1, 3, b""),
    Frame(0x42, 0xFF, 7, b"unknown type kept raw"),
]
STREAM = PREFACE + b"".join(f.encode() for f in FRAMES)


def decode_chunks(chunks: list[bytes], max_frame_size: int = 1024) -> list[Frame]:
    decoder = FrameDecoder(max_frame_size)
    out: list[Frame] = []
    for chunk in chunks:
        decoder.receive_data(chunk)
        while (frame := decoder.next_frame()) is not None:
            out.append(frame)
    assert decoder.buffered == 0
    assert decoder.peer_version == 1
    return out


def test_FrameDecoder_whole_input() -> None:
    """All frames come out of one chunk in order."""
    assert decode_chunks([STREAM]) == FRAMES


def test_FrameDecoder_split_at_every_offset() -> None:
    """Splitting the input in two anywhere changes nothing."""
    for cut in range(len(STREAM) + 1):
        assert decode_chunks([STREAM[:cut], STREAM[cut:]]) == FRAMES, cut


def test_FrameDecoder_one_byte_at_a_time() -> None:
    """Feeding one byte at a time changes nothing."""
    assert decode_chunks([STREAM[i : i + 1] for i in range(len(STREAM))]) == FRAMES


def test_FrameDecoder_without_preface() -> None:
    """With expect_preface=False frames start at byte 0."""
    decoder = FrameDecoder(1024, expect_preface=False)
    decoder.receive_data(FRAMES[1].encode())
    assert decoder.next_frame() == FRAMES[1]
    assert decoder.next_frame() is None


def test_FrameDecoder_reserved_stream_bit_ignored() -> None:
    """The high bit of the stream id is masked off."""
    decoder = FrameDecoder(1024, expect_preface=False)
    decoder.receive_data(encode_frame(0, 0, 0x80000005, b"a"))
    assert decoder.next_frame() == Frame(0, 0, 5, b"a")


@pytest.mark.parametrize(
    ("data", "error", "code"),
    [
        (b"GET / HTTP/1.1\r\n", RemoteProtocolError, ErrorCode.PROTOCOL_ERROR),
        (b"PRI * HTTP/2.0", RemoteProtocolError, ErrorCode.PROTOCOL_ERROR),
        (b"\x89MUX\r\n\x00\x01", RemoteProtocolError, ErrorCode.PROTOCOL_ERROR),
        (PREFACE_MAGIC + b"\x02", UnsupportedVersionError, ErrorCode.UNSUPPORTED_VERSION),
        (PREFACE_MAGIC + b"\x00", UnsupportedVersionError, ErrorCode.UNSUPPORTED_VERSION),
        (PREFACE + b"\xff\xff\xff\xff\x00\x00\x00\x00\x00\x01", FrameSizeError, None),
        (PREFACE + encode_frame(0, 0, 1, b"x" * 1025), FrameSizeError, None),
    ],
)
def test_FrameDecoder_failures(
    data: bytes, error: type[RemoteProtocolError], code: ErrorCode | None
) -> None:
    """Bad prefaces and oversized frames raise the right error, whole or bytewise."""
    for chunks in ([data], [data[i : i + 1] for i in range(len(data))]):
        decoder = FrameDecoder(1024)
        with pytest.raises(error) as info:
            for chunk in chunks:
                decoder.receive_data(chunk)
                while decoder.next_frame() is not None:
                    pass
        assert info.value.code == (code or ErrorCode.FRAME_SIZE_ERROR)
        with pytest.raises(error):  # the decoder stays poisoned
            decoder.next_frame()


def test_FrameDecoder_bad_magic_detected_on_first_byte() -> None:
    """A wrong first byte fails at once, without waiting for 8 bytes."""
    decoder = FrameDecoder(1024)
    decoder.receive_data(b"G")
    with pytest.raises(RemoteProtocolError):
        decoder.next_frame()


def test_FrameDecoder_size_checked_on_header_before_payload() -> None:
    """A 4 GB length prefix fails on its 10 header bytes: nothing is buffered."""
    decoder = FrameDecoder(65536)
    decoder.receive_data(PREFACE + b"\xff\xff\xff\xff\x00\x00\x00\x00\x00\x01")
    with pytest.raises(FrameSizeError, match="4294967295"):
        decoder.next_frame()


def test_FrameDecoder_max_frame_size_is_settable() -> None:
    """Raising max_frame_size later admits bigger frames."""
    decoder = FrameDecoder(1024, expect_preface=False)
    decoder.max_frame_size = 4096
    decoder.receive_data(encode_frame(0, 0, 1, b"y" * 4096))
    frame = decoder.next_frame()
    assert frame is not None and len(frame.payload) == 4096


def test_FrameDecoder_partial_frame_waits() -> None:
    """A frame missing its last byte yields None until the byte arrives."""
    data = encode_frame(0, 0, 1, b"abc")
    decoder = FrameDecoder(1024, expect_preface=False)
    decoder.receive_data(data[:-1])
    assert decoder.next_frame() is None
    assert decoder.buffered == len(data) - 1
    decoder.receive_data(data[-1:])
    assert decoder.next_frame() == Frame(0, 0, 1, b"abc")


def test_FrameDecoder_split_in_three_everywhere_without_draining_between() -> None:
    """Any three-way split, fed with or without draining between feeds, decodes the same
    (covers a completed frame waiting while the rest of a read is kept aside)."""
    for cut1 in range(0, len(STREAM) + 1, 7):
        for cut2 in range(cut1, len(STREAM) + 1, 5):
            parts = [STREAM[:cut1], STREAM[cut1:cut2], STREAM[cut2:]]
            assert decode_chunks(parts) == FRAMES, (cut1, cut2)
            decoder = FrameDecoder(1024)
            out: list[Frame] = []
            decoder.receive_data(parts[0])
            decoder.receive_data(parts[1])  # may complete a frame, keeping a tail
            decoder.receive_data(parts[2])  # arrives before that tail is parsed
            assert decoder.buffered == len(STREAM)
            while (frame := decoder.next_frame()) is not None:
                out.append(frame)
            assert out == FRAMES and decoder.buffered == 0, (cut1, cut2)


def test_FrameDecoder_bulk_read_completing_a_frame_copies_only_that_frame() -> None:
    """A read that completes a split frame keeps the rest of itself uncopied."""
    big = [Frame(0, 0, 1, bytes([i]) * 1000) for i in range(8)]
    wire = b"".join(f.encode() for f in big)
    decoder = FrameDecoder(1024, expect_preface=False)
    decoder.receive_data(wire[:500])
    assert decoder.next_frame() is None
    decoder.receive_data(wire[500:])
    assert decoder.next_frame() == big[0]
    assert len(decoder._buf) == 1010  # only the completed frame was buffered
    assert [decoder.next_frame() for _ in big[1:]] == big[1:]
    assert decoder.next_frame() is None and decoder.buffered == 0


def test_FrameDecoder_next_view_hands_out_data_payloads_as_views() -> None:
    """DATA payloads of a bytes input come as zero-copy views; other types as bytes."""
    data = encode_frame(0, 0, 1, b"hello") + encode_frame(6, 0, 0, b"12345678")
    decoder = FrameDecoder(1024, expect_preface=False)
    decoder.receive_data(data)
    first = decoder.next_view()
    assert first is not None and type(first[3]) is memoryview and first[3] == b"hello"
    second = decoder.next_view()
    assert second == (6, 0, 0, b"12345678") and type(second[3]) is bytes
    decoder.receive_data(encode_frame(0, 0, 1, b"again"))
    raw = decoder.next_raw()  # next_raw always copies into bytes
    assert raw == (0, 0, 1, b"again") and type(raw[3]) is bytes


def test_FrameDecoder_partial_data_fed_twice_without_draining() -> None:
    """Two reads inside a partly handed-out DATA payload, the second completing it.

    The buffered payload bytes must not be read as a frame header: here they
    look like a 30-byte frame's header, which once split the read and stalled
    the rest of the payload (and every later frame) forever.
    """
    payload = (30).to_bytes(4, "big") + bytes(96)
    wire = encode_frame(0, 1, 1, payload) + encode_frame(4, 0, 0, b"12345678")
    decoder = FrameDecoder(1024, expect_preface=False)
    decoder.partial_data = True
    decoder.receive_data(wire[:10])
    first = decoder.next_view()
    assert first is not None and first[0] == 0 and decoder.data_left == 100
    decoder.receive_data(wire[10:30])
    decoder.receive_data(wire[30:])
    rest = []
    while (raw := decoder.next_view()) is not None:
        rest.append((raw[0], bytes(raw[3])))
    assert rest == [(DATA_PIECE, payload), (4, b"12345678")]
    assert decoder.buffered == 0 and decoder.data_left == 0
