"""A DATA payload trickled a byte at a time is bounded by the frame timer, over a real socket.

Large DATA frames are delivered piece by piece, and each piece used to restart the
incomplete-frame timer, so a peer sending one payload byte every 100 ms (or every
second) held its connection and stream forever. The timer now restarts only on
real progress (a new frame, or 4 KiB more of it): the trickler is closed after one
frame timeout, while a slow but real upload, in 8 KiB pieces, still completes.
"""

from __future__ import annotations

import json

import pytest
import trio
from conftest import Harness

from mux.config import ServerConfig
from mux.core.codec import FrameDecoder
from mux.core.frames import (
    HEADER_STRUCT,
    PREFACE,
    Frame,
    FrameType,
    decode_goaway,
    encode_frame,
    encode_headers,
)
from mux.errors import ErrorCode
from mux.server.demo import app as demo_app

FRAME_TIMEOUT = 0.5
POST_SINK = encode_headers([(b":method", b"POST"), (b":path", b"/sink")])
START = PREFACE + encode_frame(FrameType.SETTINGS, 0, 0, b"\x80")


async def _server(harness: Harness) -> int:
    config = ServerConfig(host="127.0.0.1", port=0, frame_timeout=FRAME_TIMEOUT, park_delay=None)
    return (await harness.server(demo_app, config)).port


async def _read_all(stream: trio.SocketStream, frames: list[Frame]) -> None:
    """Collect frames until the server closes the connection."""
    decoder = FrameDecoder(1 << 24)
    while data := await stream.receive_some(65536):
        decoder.receive_data(data)
        while (frame := decoder.next_frame()) is not None:
            frames.append(frame)


@pytest.mark.parametrize("length", [60_000, 200_000])
async def test_payload_trickled_a_byte_at_a_time_is_cut_off(harness: Harness, length: int) -> None:
    """A DATA frame announced, then trickled: under 64 KiB still to come the driver reads
    as usual (each byte an event: the timer restarted on every one); above, it asks
    for the rest in one aligned bulk read, which holds the bytes back until enough came."""
    stream = await trio.open_tcp_stream("127.0.0.1", await _server(harness))
    await stream.send_all(
        START
        + encode_frame(FrameType.HEADERS, 0, 1, POST_SINK)
        + HEADER_STRUCT.pack(length, FrameType.DATA, 0, 1)
        + b"x" * 100
    )
    frames: list[Frame] = []
    closed_after = None
    with trio.move_on_after(10 * FRAME_TIMEOUT):
        async with trio.open_nursery() as nursery:

            async def trickle() -> None:
                while True:
                    await trio.sleep(FRAME_TIMEOUT / 5)
                    try:
                        await stream.send_all(b"x")
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        return

            started = trio.current_time()
            nursery.start_soon(trickle)
            await _read_all(stream, frames)
            closed_after = trio.current_time() - started
            nursery.cancel_scope.cancel()
    assert closed_after is not None, "the trickling peer was never cut off"
    assert closed_after < 4 * FRAME_TIMEOUT
    goaway = [decode_goaway(f.payload) for f in frames if f.type == FrameType.GOAWAY]
    assert goaway and goaway[-1][1] == ErrorCode.PROTOCOL_ERROR
    assert b"incomplete frame" in goaway[-1][2]


async def test_slow_real_progress_is_not_cut_off(harness: Harness) -> None:
    """8 KiB every 0.6 frame timeouts: slower than one frame timeout per frame, yet fine."""
    stream = await trio.open_tcp_stream("127.0.0.1", await _server(harness))
    piece, pieces = 8192, 6
    body = bytes(range(256)) * (piece * pieces // 256)
    frame = encode_frame(FrameType.DATA, 1, 1, body)
    await stream.send_all(START + encode_frame(FrameType.HEADERS, 0, 1, POST_SINK) + frame[:10])
    for i in range(pieces):
        await trio.sleep(FRAME_TIMEOUT * 0.6)
        await stream.send_all(frame[10 + i * piece : 10 + (i + 1) * piece])
    await stream.send_all(encode_frame(FrameType.GOAWAY, 0, 0, bytes(8)))
    frames: list[Frame] = []
    with trio.fail_after(5):
        decoder = FrameDecoder(1 << 24)
        while not any(f.type == FrameType.DATA and f.flags & 1 for f in frames):
            data = await stream.receive_some(65536)
            assert data, f"closed early: {frames}"
            decoder.receive_data(data)
            while (f := decoder.next_frame()) is not None:
                frames.append(f)
    # Not cut off: the only GOAWAY allowed is the server's graceful answer to ours,
    # after the response (RFC 9113 6.8 / spec 9.1), never a frame-timeout error.
    end = next(i for i, f in enumerate(frames) if f.type == FrameType.DATA and f.flags & 1)
    for i, f in enumerate(frames):
        if f.type == FrameType.GOAWAY:
            assert i > end and int.from_bytes(f.payload[4:8], "big") == 0, frames
    answer = b"".join(f.payload for f in frames if f.type == FrameType.DATA)
    assert json.loads(answer)["bytes"] == len(body)
    await stream.aclose()
