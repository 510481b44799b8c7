"""The cap on streams per connection (spec 11.2) ends in a graceful GOAWAY, over real sockets.

The stream that reaches the cap is served; GOAWAY(NO_ERROR, its id) follows, higher
ids are refused, and the server closes the connection once its streams are done.
The SDK moves on to a new connection without the caller noticing.
"""

from __future__ import annotations

import trio
from conftest import Harness

import mux_client
from mux.config import ServerConfig
from mux.core.codec import FrameDecoder
from mux.core.frames import (
    PREFACE,
    Frame,
    FrameType,
    decode_goaway,
    decode_u32,
    encode_frame,
    encode_headers,
)
from mux.core.limits import endpoint_limits
from mux.errors import ErrorCode
from mux.server.app import Request, Response, Router

CAP = 3

router = Router()


@router.route("/id")
async def stream_id(request: Request) -> Response:
    """The request's stream id: ids restart at 1 on every new connection."""
    await request.body()
    return Response(200, body=str(request.stream.stream_id).encode())


def _config() -> ServerConfig:
    return ServerConfig(
        host="127.0.0.1", port=0, limits=endpoint_limits(max_streams_per_connection=CAP)
    )


async def test_sdk_reconnects_transparently(harness: Harness) -> None:
    server = await harness.server(router, _config())
    ids = []
    async with mux_client.connect(f"127.0.0.1:{server.port}") as client:
        for _ in range(4 * CAP):
            resp = await client.request("GET", "/id", timeout=5)
            assert resp.status == 200
            ids.append(int(resp.body))
    # Every connection served exactly CAP streams (ids 1, 3, 5) before the next one.
    assert ids == [1, 3, 5] * 4


async def test_sdk_concurrent_requests_all_succeed(harness: Harness) -> None:
    """Calls above the GOAWAY's last id are retried on a new connection (each call has
    3 attempts by default, so twice the cap in flight at once is plenty)."""
    server = await harness.server(router, _config())
    statuses: list[int] = []
    async with mux_client.connect(f"127.0.0.1:{server.port}") as client:

        async def one() -> None:
            statuses.append((await client.request("GET", "/id", timeout=5)).status)

        async with trio.open_nursery() as nursery:
            for _ in range(2 * CAP):
                nursery.start_soon(one)
    assert statuses == [200] * (2 * CAP)


async def test_wire_goaway_names_the_last_stream_and_the_server_closes(harness: Harness) -> None:
    server = await harness.server(router, _config())
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    request = encode_headers([(b":method", b"GET"), (b":path", b"/id")])
    out = PREFACE + encode_frame(FrameType.SETTINGS, 0, 0, b"\x80")
    for sid in (1, 3, 5, 7):  # 7 is past the cap
        out += encode_frame(FrameType.HEADERS, 1, sid, request)
    await stream.send_all(out)
    decoder = FrameDecoder(1 << 24)
    frames: list[Frame] = []
    with trio.fail_after(5):
        while data := await stream.receive_some(65536):  # until the server closes
            decoder.receive_data(data)
            while (frame := decoder.next_frame()) is not None:
                frames.append(frame)
    goaways = [decode_goaway(f.payload) for f in frames if f.type == FrameType.GOAWAY]
    assert goaways[0][:2] == (5, ErrorCode.NO_ERROR)
    assert all(last <= 5 and code == ErrorCode.NO_ERROR for last, code, _ in goaways)
    refused = [
        f.stream_id
        for f in frames
        if f.type == FrameType.RST_STREAM and decode_u32(f.payload) == ErrorCode.REFUSED_STREAM
    ]
    assert refused == [7]
    answered = {f.stream_id for f in frames if f.type == FrameType.HEADERS}
    assert answered == {1, 3, 5}
