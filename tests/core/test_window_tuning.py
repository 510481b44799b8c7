"""Receive-window auto-tuning (mux.core.flow.WindowTuner) on two real cores back to back."""

from __future__ import annotations

from helpers import RESPONSE, EnginePair
from hypothesis import given, settings
from hypothesis import strategies as st

from mux.core import events as ev
from mux.core.flow import grown_target
from mux.core.limits import ProtocolLimits

MIB = 2**20


def _target(pair: EnginePair, sid: int) -> int:
    return pair.server._stream_target(sid)


def _upload(pair: EnginePair, sid: int, rounds: int, consume: list[float]) -> int:
    """Client streams as fast as windows allow; the server app consumes a fraction.

    ``consume[i % len(consume)]`` is the share of what it holds that the
    application consumes in round i. Returns the most bytes ever buffered
    (delivered to the server application, not consumed) minus the window granted.
    """
    held = 0
    worst = -(2**62)
    for i in range(rounds):
        window = pair.client.local_flow_control_window(sid)
        if window:
            pair.client.send_data(sid, b"u" * window)
        for event in pair.to_server():
            if isinstance(event, ev.DataReceived):
                held += event.flow_controlled_length
        worst = max(worst, held - _target(pair, sid))
        eat = int(held * consume[i % len(consume)])
        if eat:
            pair.server.acknowledge_received_data(eat, sid)
            held -= eat
        pair.to_client()
    return worst


def _open_upload(limits: ProtocolLimits | None = None) -> tuple[EnginePair, int]:
    pair = EnginePair(server_limits=limits)
    sid = pair.request(end_stream=False)
    pair.server.send_headers(sid, RESPONSE)
    pair.to_client()
    return pair, sid


def test_grown_target_rule() -> None:
    """Doubles only when a round trip carried 2/3 of the window and little is buffered."""
    assert grown_target(100, 70, 0, 1000) == 200
    assert grown_target(100, 60, 0, 1000) == 100  # the window was not the bottleneck
    assert grown_target(100, 100, 50, 1000) == 100  # the application lags
    assert grown_target(600, 600, 0, 1000) == 1000  # capped
    assert grown_target(1000, 1000, 0, 1000) == 1000


def test_fast_consumer_grows_windows_up_to_the_caps() -> None:
    """A reader that consumes everything at once gets its windows doubled up to the caps."""
    limits = ProtocolLimits(max_stream_window=4 * MIB, max_connection_window=8 * MIB)
    pair, sid = _open_upload(limits)
    assert _target(pair, sid) == 256 * 1024
    _upload(pair, sid, 40, [1.0])
    assert _target(pair, sid) == 4 * MIB
    assert pair.server._connection_target() == 8 * MIB
    # the client really may send the grown window now
    assert pair.client.local_flow_control_window(sid) == 4 * MIB


def test_stream_window_never_above_the_connection_budget() -> None:
    """max_stream_window above max_connection_window is cut to the connection budget."""
    limits = ProtocolLimits(max_stream_window=64 * MIB, max_connection_window=2 * MIB)
    pair, sid = _open_upload(limits)
    _upload(pair, sid, 40, [1.0])
    assert _target(pair, sid) == 2 * MIB
    assert pair.server._connection_target() == 2 * MIB


def test_slow_consumer_never_grows_the_window() -> None:
    """A reader that consumes a little at a time keeps the initial windows."""
    pair, sid = _open_upload()
    _upload(pair, sid, 60, [0.0, 0.0, 0.25])
    assert _target(pair, sid) == 256 * 1024
    assert pair.server._connection_target() == 1 * MIB


def test_disabled_when_caps_equal_initial_windows() -> None:
    """Caps not above the configured windows: no BDP PING, no growth."""
    limits = ProtocolLimits(max_stream_window=0, max_connection_window=0)
    pair, sid = _open_upload(limits)
    _upload(pair, sid, 20, [1.0])
    assert _target(pair, sid) == 256 * 1024
    assert pair.server._tuner is None


def test_bdp_ping_ack_is_not_reported_but_other_acks_are() -> None:
    """The tuner's PING ACK is consumed by the core; the application's own PINGs still report."""
    pair, sid = _open_upload()
    pair.client.send_data(sid, b"x" * 100_000)
    pair.to_server()
    pair.server.ping(b"12345678")
    pair.to_client()
    events = pair.to_server()
    assert events == [ev.PingAcknowledged(b"12345678")]


def test_closed_grown_streams_are_forgotten() -> None:
    """Tuning state of finished streams is pruned (bounded memory)."""
    pair = EnginePair()
    for _ in range(30):
        sid = pair.request(end_stream=False)
        pair.server.send_headers(sid, RESPONSE)
        pair.to_client()
        _upload(pair, sid, 6, [1.0])
        pair.client.end_stream(sid)
        pair.to_server()
        pair.server.end_stream(sid)
        pair.to_client()
    tuner = pair.server._tuner
    assert tuner is not None
    assert len(tuner.stream_extra) <= 1


@settings(max_examples=60, deadline=None)
@given(
    consume=st.lists(st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]), min_size=1, max_size=12),
    rounds=st.integers(1, 30),
)
def test_buffered_never_exceeds_granted_window(consume: list[float], rounds: int) -> None:
    """Whatever the consume pattern, buffered bytes stay within the granted window and cap."""
    limits = ProtocolLimits(max_stream_window=2 * MIB, max_connection_window=4 * MIB)
    pair, sid = _open_upload(limits)
    assert _upload(pair, sid, rounds, consume) <= 0
    assert _target(pair, sid) <= 2 * MIB
    assert pair.server._connection_target() <= 4 * MIB
