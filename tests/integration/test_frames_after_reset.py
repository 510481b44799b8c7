"""mux: frames after our RST_STREAM are ignored, their credit returned (spec 7.3, 8.4).

Over a real socket: the application resets a request stream while the client is
still sending its body. The client, not having seen the reset yet, sends 2 MB more
on that stream: twice the connection window and eight times the stream window. The
server answers none of it with RST_STREAM(STREAM_CLOSED) (the RFC 9113 closed-state
rule, kept by spec 7.3 for recently reset streams), never applies the stream window
to the closed stream, and returns the connection credit, so the connection keeps
working: a PING afterwards is answered and a new request succeeds.
"""

from __future__ import annotations

import trio
from conftest import Harness

from mux.core.codec import FrameDecoder
from mux.core.frames import (
    PREFACE,
    Frame,
    FrameType,
    decode_u32,
    encode_frame,
    encode_headers,
)
from mux.errors import ErrorCode
from mux.server.app import Request, Response, Router

router = Router()


@router.route("/reset")
async def reset(request: Request) -> Response | None:
    request.stream.reset(ErrorCode.CANCEL)
    return None


@router.route("/ok")
async def ok(request: Request) -> Response:
    return Response(200, body=b"ok")


async def _until(
    stream: trio.SocketStream, decoder: FrameDecoder, frames: list[Frame], done: object
) -> None:
    while not any(done(f) for f in frames):  # type: ignore[operator]
        data = await stream.receive_some(65536)
        assert data, "server closed the connection"
        decoder.receive_data(data)
        while (frame := decoder.next_frame()) is not None:
            frames.append(frame)


async def test_late_data_after_our_reset_is_ignored_and_credited(harness: Harness) -> None:
    server = await harness.server(router)
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    post = encode_headers([(b":method", b"POST"), (b":path", b"/reset")])
    await stream.send_all(
        PREFACE
        + encode_frame(FrameType.SETTINGS, 0, 0, b"\x80")
        + encode_frame(FrameType.HEADERS, 0, 1, post)
        + encode_frame(FrameType.DATA, 0, 1, b"a" * 1000)
    )
    decoder = FrameDecoder(1 << 24)
    frames: list[Frame] = []
    with trio.fail_after(5):
        await _until(stream, decoder, frames, lambda f: f.type == FrameType.RST_STREAM)
    chunk = encode_frame(FrameType.DATA, 0, 1, b"b" * 16384)
    total = 2_000_000
    sent = 0
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:

            async def read_all() -> None:
                await _until(
                    stream,
                    decoder,
                    frames,
                    lambda f: f.type == FrameType.PING and f.flags & 1 and f.payload == b"done!!!!",
                )

            nursery.start_soon(read_all)
            while sent < total:
                await stream.send_all(chunk * 8)
                sent += 8 * 16384
            await stream.send_all(encode_frame(FrameType.PING, 0, 0, b"done!!!!"))
    resets = [
        (f.stream_id, decode_u32(f.payload)) for f in frames if f.type == FrameType.RST_STREAM
    ]
    assert resets == [(1, ErrorCode.CANCEL)]
    assert not [f for f in frames if f.type == FrameType.GOAWAY]
    credit = sum(
        decode_u32(f.payload)
        for f in frames
        if f.type == FrameType.WINDOW_UPDATE and not f.stream_id
    )
    assert credit >= sent - (1 << 20)  # all but at most the 1 MiB window came back

    # The connection still serves requests.
    get = encode_headers([(b":method", b"GET"), (b":path", b"/ok")])
    await stream.send_all(encode_frame(FrameType.HEADERS, 1, 3, get))
    with trio.fail_after(5):
        await _until(
            stream, decoder, frames, lambda f: f.type == FrameType.DATA and f.stream_id == 3
        )
    await stream.aclose()
