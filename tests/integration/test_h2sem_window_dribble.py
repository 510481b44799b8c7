"""Data dribble (CVE-2019-9511) over real sockets: 1-byte WINDOW_UPDATEs cost bounded work.

* A blind flood of 1-byte WINDOW_UPDATEs (the silly-window floor sends nothing
  for them) ends with GOAWAY(ENHANCE_YOUR_CALM).
* A peer that keeps its window at 1 byte and grants the next byte for each
  1-byte DATA frame gets tiny frames paced per connection (a burst, then a
  rate), not one wake-up and send per byte as fast as it can ask.
"""

from __future__ import annotations

import pytest
import trio
from hyperframe.frame import DataFrame, GoAwayFrame, SettingsFrame

import mux.driver.writer
from mux.config import ServerConfig
from mux.errors import ErrorCode
from mux.server.demo import app as demo_app
from mux.server.server import Server
from tests.conftest import Harness
from tests.integration.h2sem_peer import RawH2, window_update


@pytest.fixture
async def server(harness: Harness) -> Server:
    return await harness.server(demo_app, ServerConfig(host="127.0.0.1", port=0))


async def test_a_flood_of_one_byte_window_updates_gets_goaway(server: Server) -> None:
    peer = await RawH2.open(server.port)
    await peer.send(peer.headers(1, b"/bytes/10000000"))
    with trio.fail_after(5):
        received = 0
        while received < 65_535:  # the first windows drain
            frame = await peer.next_frame()
            assert frame is not None
            if isinstance(frame, DataFrame):
                received += len(frame.data)
    flood = (window_update(1, 1) + window_update(0, 1)) * 200
    with trio.move_on_after(5):
        while not peer.closed:
            await peer.send(flood)
    frames = await peer.collect(quiet=1)
    goaways = [f for f in frames if isinstance(f, GoAwayFrame)]
    assert goaways, "no GOAWAY: the flood was absorbed"
    assert goaways[0].error_code == ErrorCode.ENHANCE_YOUR_CALM


async def test_one_byte_window_ping_pong_is_paced(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mux.driver.writer, "TINY_BURST", 5.0)
    monkeypatch.setattr(mux.driver.writer, "TINY_RATE", 20.0)
    peer = await RawH2.open(server.port, {SettingsFrame.INITIAL_WINDOW_SIZE: 1})
    await peer.send(peer.headers(1, b"/bytes/100000"))
    frames = 0
    start = trio.current_time()
    with trio.fail_after(10):
        while frames < 25:
            frame = await peer.next_frame()
            assert frame is not None
            if isinstance(frame, DataFrame) and frame.data:
                assert len(frame.data) == 1
                frames += 1
                await peer.send(window_update(1, 1) + window_update(0, 1))
    # 5 at once, then 20 at 20 per second: about a second (before: ~25 round trips).
    assert trio.current_time() - start >= 0.8
    await peer.aclose()
