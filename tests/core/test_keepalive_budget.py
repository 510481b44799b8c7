"""Keepalive PINGs within the peer's KEEPALIVE_INTERVAL never count as a flood (spec 9.3).

The real state machine with an injected clock: a peer that advertised
KEEPALIVE_INTERVAL = 1000 ms and pings once a second for far longer than the
control-frame budget stays connected; the same PINGs without the advertisement,
or a burst of them, still trip ENHANCE_YOUR_CALM.
"""

from __future__ import annotations

import pytest
from helpers import FrameFactory

from mux.core.connection import MuxConnection
from mux.core.frames import PREFACE
from mux.core.limits import ProtocolLimits
from mux.core.settings import SettingId
from mux.errors import CalmDownError, ErrorCode

F = FrameFactory()
BUDGET = 5


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _server(keepalive_ms: int) -> tuple[MuxConnection, FakeClock]:
    clock = FakeClock()
    conn = MuxConnection(
        client_side=False,
        limits=ProtocolLimits(max_control_frames_without_progress=BUDGET),
        clock=clock,
    )
    settings = {SettingId.KEEPALIVE_INTERVAL: keepalive_ms} if keepalive_ms else {}
    conn.receive_data(PREFACE + F.settings(settings))
    conn.data_to_send()
    return conn, clock


def test_pings_at_the_interval_are_never_counted() -> None:
    conn, clock = _server(1000)
    for i in range(10 * BUDGET):
        clock.now += 1.0
        conn.receive_data(F.ping(i.to_bytes(8)))
    assert not conn.is_closed
    assert conn.data_to_send().count(b"\x04\x01\x00\x00\x00\x00") == 10 * BUDGET  # PING ACKs


def test_jitter_of_under_half_the_interval_is_allowed() -> None:
    conn, clock = _server(1000)
    for i in range(10 * BUDGET):
        clock.now += 0.6 if i % 2 else 1.4
        conn.receive_data(F.ping(i.to_bytes(8)))
    assert not conn.is_closed


def test_a_burst_still_counts() -> None:
    conn, clock = _server(1000)
    clock.now += 1.0
    with pytest.raises(CalmDownError):
        for i in range(BUDGET + 2):  # the first is a keepalive; the rest are a flood
            conn.receive_data(F.ping(i.to_bytes(8)))
    assert conn.is_closed
    out = conn.data_to_send()
    assert ErrorCode.ENHANCE_YOUR_CALM.to_bytes(4) in out


def test_without_the_advertisement_every_ping_counts() -> None:
    conn, clock = _server(0)
    with pytest.raises(CalmDownError):
        for i in range(BUDGET + 1):
            clock.now += 1.0
            conn.receive_data(F.ping(i.to_bytes(8)))


def test_ping_acks_count() -> None:
    """Only PINGs are keepalives: unsolicited ACKs at the interval still count."""
    conn, clock = _server(1000)
    with pytest.raises(CalmDownError):
        for i in range(BUDGET + 1):
            clock.now += 1.0
            conn.receive_data(F.ping(i.to_bytes(8), ack=True))
