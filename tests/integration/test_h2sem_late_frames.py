"""Frames after our RST_STREAM are ignored (RFC 9113 §5.1, "closed"), credit returned.

A real server-side driver over a loopback socket resets a request stream at
once; a raw client, which has not seen the reset yet, keeps sending DATA. The
server must not answer each late frame with another RST_STREAM, must return
the connection credit the frames consumed, and must keep serving.
"""

from __future__ import annotations

import trio
from hyperframe.frame import DataFrame, HeadersFrame, PingFrame, RstStreamFrame

from mux.core.h2engine import H2Engine
from mux.driver import ConnectionDriver, Stream
from mux.errors import ErrorCode
from tests.integration.h2sem_peer import RawH2, credit, data, ping

CHUNK = 16_384
LATE_FRAMES = 40  # 640 KiB: past half the 1 MiB connection window


async def _server(nursery: trio.Nursery) -> int:
    async def on_stream(stream: Stream) -> None:
        if stream.headers is not None and dict(stream.headers)[b":path"] == b"/reset":
            stream.reset(ErrorCode.CANCEL)
            return
        await stream.receive_trailers()  # the whole request body first
        await stream.send_headers([(b":status", b"200")])
        await stream.send_data(b"ok", end_stream=True)

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port: int = listeners[0].socket.getsockname()[1]

    async def accept_one() -> None:
        transport = await listeners[0].accept()
        await listeners[0].aclose()
        driver = ConnectionDriver(transport, H2Engine(client_side=False), on_stream=on_stream)
        await driver.run()

    nursery.start_soon(accept_one)
    return port


async def test_late_data_after_our_reset_is_ignored_and_credited(nursery: trio.Nursery) -> None:
    port = await _server(nursery)
    peer = await RawH2.open(port)
    await peer.send(peer.headers(1, b"/reset", method=b"POST", end_stream=False))
    rst, _ = await peer.until(RstStreamFrame)
    assert rst.stream_id == 1 and rst.error_code == ErrorCode.CANCEL
    for _ in range(LATE_FRAMES):
        await peer.send(data(1, b"x" * CHUNK))
    await peer.send(ping() + peer.headers(3, b"/after"))
    frames = await peer.collect(quiet=0.5)
    late_resets = [f for f in frames if isinstance(f, RstStreamFrame)]
    assert late_resets == []  # before: one RST_STREAM(STREAM_CLOSED) per DATA frame
    # The connection window got back what the late frames consumed (h2 returns
    # credit in WINDOW_UPDATEs once half the window is used).
    assert credit(frames) >= 512 * 1024
    assert any(isinstance(f, PingFrame) and "ACK" in f.flags for f in frames)
    assert any(isinstance(f, HeadersFrame) and f.stream_id == 3 for f in frames)
    assert any(isinstance(f, DataFrame) and f.stream_id == 3 and f.data == b"ok" for f in frames)
    await peer.aclose()


async def test_data_after_the_peers_reset_is_still_a_stream_error(nursery: trio.Nursery) -> None:
    """Only *our* reset makes late frames harmless: after the peer's own
    RST_STREAM, its DATA is a stream error (STREAM_CLOSED, RFC 9113 §5.1)."""
    port = await _server(nursery)
    peer = await RawH2.open(port)
    rst = RstStreamFrame(1)
    rst.error_code = ErrorCode.CANCEL
    await peer.send(peer.headers(1, b"/slow", method=b"POST", end_stream=False))
    await peer.send(rst.serialize() + data(1, b"y" * 100))
    answer, _ = await peer.until(RstStreamFrame)
    assert answer.stream_id == 1 and answer.error_code == ErrorCode.STREAM_CLOSED
    await peer.aclose()
