"""The receive-window tuner's PING payload (flow.BDP_PING) is reserved on mux/msgpack.

The tuner consumes the ACK of a PING carrying BDP_PING while a sample is in
flight, so an application PING with those 8 bytes would lose its
PingAcknowledged: MuxConnection.ping refuses exactly that payload. Every other
payload, including the driver's keepalive and shutdown ones, is acknowledged,
even while a sample is in flight. HTTP/2 has no tuner and reserves nothing.
"""

from __future__ import annotations

import pytest
from h2frames import parse
from h2frames import server as h2_server
from helpers import RESPONSE, EnginePair
from hyperframe.frame import PingFrame
from hypothesis import given, settings
from hypothesis import strategies as st

from mux.core import events as ev
from mux.core.flow import BDP_PING
from mux.core.h2engine import H2Engine
from mux.driver.tuning import KEEPALIVE_PING, SHUTDOWN_PING
from mux.errors import LocalProtocolError


def _sampling_pair() -> tuple[EnginePair, int]:
    """A pair whose server has a BDP sample in flight (its PING not yet answered)."""
    pair = EnginePair()
    sid = pair.request(end_stream=False)
    pair.server.send_headers(sid, RESPONSE)
    pair.to_client()
    pair.client.send_data(sid, b"x" * 100_000)  # over 1/8 of the 256 KiB stream window
    pair.to_server()
    assert pair.server._tuner is not None and pair.server._tuner.sampling
    return pair, sid


@pytest.mark.parametrize("side", ["client", "server"])
def test_reserved_payload_is_refused_and_nothing_is_queued(side: str) -> None:
    pair = EnginePair()
    engine = getattr(pair, side)
    with pytest.raises(LocalProtocolError, match="reserved for window tuning"):
        engine.ping(BDP_PING)
    assert engine.data_to_send() == b""


def test_reserved_payload_is_refused_during_a_sample_and_the_sample_completes() -> None:
    pair, _ = _sampling_pair()
    with pytest.raises(LocalProtocolError, match="reserved for window tuning"):
        pair.server.ping(BDP_PING)
    pair.to_client()
    assert pair.to_server() == []  # the tuner's own ACK: consumed, not reported
    assert pair.server._tuner is not None and not pair.server._tuner.sampling


@pytest.mark.parametrize(
    "payload",
    [b"\x00mux-bdq", b"\x01mux-bdp", b"mux-bdp\x00", b"\x00" * 8, KEEPALIVE_PING, SHUTDOWN_PING],
)
def test_other_payloads_are_acknowledged(payload: bytes) -> None:
    pair = EnginePair()
    pair.server.ping(payload)
    assert pair.to_client() == [ev.PingReceived(payload)]
    assert pair.to_server() == [ev.PingAcknowledged(payload)]


@settings(max_examples=50, deadline=None)
@given(payload=st.binary(min_size=8, max_size=8).filter(lambda p: p != BDP_PING))
def test_any_other_8_bytes_are_acknowledged(payload: bytes) -> None:
    pair = EnginePair()
    pair.client.ping(payload)
    assert pair.to_server() == [ev.PingReceived(payload)]
    assert pair.to_client() == [ev.PingAcknowledged(payload)]


@pytest.mark.parametrize("payload", [b"12345678", KEEPALIVE_PING, SHUTDOWN_PING])
def test_application_ping_during_a_sample_gets_its_ack(payload: bytes) -> None:
    pair, _ = _sampling_pair()
    pair.server.ping(payload)  # queued behind the tuner's BDP PING
    assert pair.to_client() == [ev.PingReceived(BDP_PING), ev.PingReceived(payload)]
    assert pair.to_server() == [ev.PingAcknowledged(payload)]
    assert pair.server._tuner is not None and not pair.server._tuner.sampling


def test_driver_payloads_are_not_the_reserved_one() -> None:
    # The driver pings with these (keepalive, graceful shutdown): a clash would
    # make its ping() raise, or, before the guard, lose the ACK it waits for.
    assert BDP_PING not in (KEEPALIVE_PING, SHUTDOWN_PING)
    assert len(KEEPALIVE_PING) == len(SHUTDOWN_PING) == len(BDP_PING) == 8


def test_http2_engine_has_no_tuner_and_reserves_nothing() -> None:
    engine: H2Engine
    engine, _ = h2_server()
    engine.ping(BDP_PING)
    [frame] = parse(engine.data_to_send())
    assert isinstance(frame, PingFrame) and frame.opaque_data == BDP_PING
    ack = PingFrame(0, flags=["ACK"], opaque_data=BDP_PING).serialize()
    assert engine.receive_data(ack) == [ev.PingAcknowledged(BDP_PING)]
