"""A connection on which every stream is held at a zero window is closed with GOAWAY.

Zero-window hold (CVE-2016-1546): resetting each held stream after the
send-stall timeout is not enough when the peer holds *everything* (it just
opens new streams); then the connection is closed with
GOAWAY(ENHANCE_YOUR_CALM). One held stream among live ones is only reset.
Real server, raw HTTP/2 client over loopback.
"""

from __future__ import annotations

import pytest
import trio
from hyperframe.frame import GoAwayFrame, PingFrame, RstStreamFrame, SettingsFrame

from mux.config import ServerConfig
from mux.errors import ErrorCode
from mux.server.demo import app as demo_app
from mux.server.server import Server
from tests.conftest import Harness
from tests.integration.h2sem_peer import RawH2, ping

STALL = 0.5


@pytest.fixture
async def server(harness: Harness) -> Server:
    config = ServerConfig(host="127.0.0.1", port=0, send_stall_timeout=STALL)
    return await harness.server(demo_app, config)


async def test_every_stream_held_closes_the_connection_with_goaway(server: Server) -> None:
    peer = await RawH2.open(server.port, {SettingsFrame.INITIAL_WINDOW_SIZE: 0})
    await peer.send(peer.headers(1, b"/bytes/100000") + peer.headers(3, b"/bytes/100000"))
    with trio.fail_after(STALL * 8):
        frames = await peer.collect(quiet=STALL * 4)
    goaways = [f for f in frames if isinstance(f, GoAwayFrame)]
    assert peer.closed and len(goaways) == 1  # before: two RST_STREAMs, connection left open
    assert goaways[0].error_code == ErrorCode.ENHANCE_YOUR_CALM
    assert b"zero send window" in goaways[0].additional_data
    await peer.aclose()


async def test_one_held_stream_among_live_ones_is_only_reset(server: Server) -> None:
    peer = await RawH2.open(server.port, {SettingsFrame.INITIAL_WINDOW_SIZE: 0})
    # Stream 3's handler waits for its request body: not held by our window.
    await peer.send(peer.headers(1, b"/bytes/100000"))
    await peer.send(peer.headers(3, b"/echo", method=b"POST", end_stream=False))
    rst, before = await peer.until(RstStreamFrame, limit=STALL * 8)
    assert rst.stream_id == 1 and rst.error_code == ErrorCode.CANCEL
    await peer.send(ping())
    after = await peer.collect(quiet=STALL * 2)
    assert not peer.closed
    assert not [f for f in before + after if isinstance(f, GoAwayFrame)]
    assert any(isinstance(f, PingFrame) and "ACK" in f.flags for f in after)
    await peer.aclose()
