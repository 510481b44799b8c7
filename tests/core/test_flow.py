"""Flow control: window arithmetic and its use by the engine (send and receive side)."""

from __future__ import annotations

import pytest
from helpers import RESPONSE, EnginePair, FrameFactory, handshaken_server, parse_frames

from mux.core import events as ev
from mux.core.flow import credit, outstanding, update_due
from mux.core.frames import MAX_WINDOW, FrameType, decode_u32
from mux.core.limits import ProtocolLimits
from mux.core.settings import SettingId
from mux.errors import ErrorCode, FlowControlError, LocalFlowControlError, LocalProtocolError

ff = FrameFactory()


def test_credit_refuses_overflow() -> None:
    """credit() returns None past 2^31-1 and the exact sum otherwise."""
    assert credit(MAX_WINDOW - 1, 1) == MAX_WINDOW
    assert credit(MAX_WINDOW, 1) is None
    assert credit(-5, 10) == 5


def test_update_due_at_half_window() -> None:
    """A WINDOW_UPDATE is due once unannounced bytes reach half the target."""
    assert not update_due(0, 0)
    assert not update_due(49, 100)
    assert update_due(50, 100)
    assert outstanding(100, 30, 20) == 50


def test_send_data_beyond_window_raises() -> None:
    """send_data larger than the window raises LocalFlowControlError and sends nothing."""
    pair = EnginePair()
    sid = pair.request()
    pair.server.send_headers(sid, RESPONSE)
    pair.server.data_to_send()
    window = pair.server.local_flow_control_window(sid)
    assert window == 262144
    with pytest.raises(LocalFlowControlError):
        pair.server.send_data(sid, b"x" * (window + 1))
    assert pair.server.data_to_send() == b""
    pair.server.send_data(sid, b"x" * window)
    assert pair.server.local_flow_control_window(sid) == 0


def test_send_data_split_by_peer_max_frame_size() -> None:
    """DATA is cut into frames no bigger than the peer's MAX_FRAME_SIZE."""
    pair = EnginePair(client_limits=ProtocolLimits(max_frame_size=1024))
    sid = pair.request()
    pair.server.send_headers(sid, RESPONSE)
    pair.server.send_data(sid, b"y" * 2500, end_stream=True)
    frames = parse_frames(pair.server.data_to_send(), preface=False)
    assert [(f.type, len(f.payload), f.flags) for f in frames] == [
        (FrameType.HEADERS, frames[0].payload.__len__(), 0),
        (FrameType.DATA, 1024, 0),
        (FrameType.DATA, 1024, 0),
        (FrameType.DATA, 452, 1),
    ]


def test_credit_returned_only_on_acknowledge() -> None:
    """Receiving DATA sends no WINDOW_UPDATE; acking half the window sends both updates."""
    pair = EnginePair()
    sid = pair.request(end_stream=False)
    pair.client.send_data(sid, b"a" * 131072)
    events = pair.to_server()
    # two 64 KiB frames in one read: one merged event with the summed length
    assert events == [ev.DataReceived(sid, b"a" * 131072, 131072)]
    sent = parse_frames(pair.server.data_to_send(), preface=False)
    assert [f.type for f in sent] == [FrameType.PING]  # the window tuner's BDP probe only
    pair.server.acknowledge_received_data(131071, sid)
    assert pair.server.data_to_send() == b""  # below half of the stream window
    pair.server.acknowledge_received_data(1, sid)
    update = pair.server.data_to_send()
    frames = parse_frames(update, preface=False)
    assert [(f.type, f.stream_id, decode_u32(f.payload)) for f in frames] == [
        (FrameType.WINDOW_UPDATE, sid, 131072)
    ]
    # connection credit (1 MiB window) is still below half: nothing yet for stream 0
    assert pair.client.local_flow_control_window(sid) == 131072
    client_events = pair.client.receive_data(update)
    assert client_events == [ev.WindowUpdated(sid, 131072)]
    assert pair.client.local_flow_control_window(sid) == 262144


def test_connection_window_update_at_half() -> None:
    """The connection window is refilled once half of it was consumed."""
    pair = EnginePair()
    for _ in range(3):
        sid = pair.request(end_stream=False)
        pair.client.send_data(sid, b"b" * 200000, end_stream=True)
        pair.to_server()
        pair.server.acknowledge_received_data(200000, sid)
    frames = parse_frames(pair.server.data_to_send(), preface=False)
    conn_updates = [
        decode_u32(f.payload)
        for f in frames
        if f.stream_id == 0 and f.type == FrameType.WINDOW_UPDATE
    ]
    assert conn_updates == [600000]


def test_over_acknowledge_raises() -> None:
    """Acknowledging more than was delivered is the caller's bug."""
    server = handshaken_server()
    with pytest.raises(LocalProtocolError):
        server.acknowledge_received_data(1, 1)
    with pytest.raises(LocalProtocolError):
        server.acknowledge_received_data(-1, 1)


def test_data_on_reset_stream_credited_automatically() -> None:
    """DATA on a stream we reset is dropped and its bytes return to the connection window."""
    server = handshaken_server()
    server.receive_data(ff.headers(1))
    server.reset_stream(1)
    server.data_to_send()
    for _ in range(9):
        assert server.receive_data(ff.data(1, b"z" * 60000)) == []
    frames = parse_frames(server.data_to_send(), preface=False)
    assert [(f.stream_id, decode_u32(f.payload)) for f in frames] == [(0, 540000)]


def test_stream_window_exceeded_is_stream_error() -> None:
    """DATA beyond the stream window (within the connection's) resets only that stream."""
    server = handshaken_server(ProtocolLimits(initial_stream_window=1000))
    server.receive_data(ff.settings(ack=True))
    server.receive_data(ff.headers(1))
    events = server.receive_data(ff.data(1, b"q" * 1001))
    assert events == [ev.StreamReset(1, ErrorCode.FLOW_CONTROL_ERROR, False)]
    assert not server.is_closed


def test_connection_window_exceeded_is_connection_error() -> None:
    """DATA beyond the connection window is connection FLOW_CONTROL_ERROR."""
    server = handshaken_server(ProtocolLimits(connection_window=1000, max_frame_size=2**20))
    server.receive_data(ff.settings(ack=True))
    server.receive_data(ff.headers(1))
    with pytest.raises(FlowControlError):
        server.receive_data(ff.data(1, b"q" * 1001))
    assert server.is_closed


def test_settings_delta_may_make_window_negative() -> None:
    """Lowering INITIAL_STREAM_WINDOW moves open stream send windows below zero."""
    pair = EnginePair()
    sid = pair.request()
    pair.server.send_headers(sid, RESPONSE)
    pair.server.send_data(sid, b"x" * 200000)
    pair.pump()
    pair.client.update_settings({SettingId.INITIAL_STREAM_WINDOW: 1000})
    server_events, _ = pair.pump()
    server_events = [e for e in server_events if not isinstance(e, ev.PingReceived)]  # BDP probe
    assert server_events == [ev.SettingsChanged({SettingId.INITIAL_STREAM_WINDOW: 1000})]
    assert pair.server.local_flow_control_window(sid) == 0
    stream = pair.server._streams[sid]
    assert stream.send_window == 262144 - 200000 - 261144 < 0


def test_lowered_local_window_enforced_only_after_ack() -> None:
    """Until the peer ACKs a lowered window, the old one still admits DATA."""
    server = handshaken_server()
    server.receive_data(ff.settings(ack=True))  # ACK of the initial SETTINGS
    server.update_settings({SettingId.INITIAL_STREAM_WINDOW: 100})
    server.receive_data(ff.headers(1))
    assert server.receive_data(ff.data(1, b"d" * 5000))[0] == ev.DataReceived(1, b"d" * 5000, 5000)
    server.receive_data(ff.settings(ack=True))
    server.receive_data(ff.headers(3))
    events = server.receive_data(ff.data(3, b"d" * 101))
    assert events == [ev.StreamReset(3, ErrorCode.FLOW_CONTROL_ERROR, False)]


def test_window_update_overflow() -> None:
    """Overflow past 2^31-1: stream error on a stream, connection error on stream 0."""
    server = handshaken_server()
    server.receive_data(ff.headers(1))
    events = server.receive_data(ff.window_update(1, MAX_WINDOW))
    assert events == [ev.StreamReset(1, ErrorCode.FLOW_CONTROL_ERROR, False)]
    with pytest.raises(FlowControlError):
        server.receive_data(ff.window_update(0, MAX_WINDOW))


def test_window_update_on_closed_stream_ignored() -> None:
    """WINDOW_UPDATE on a closed stream is ignored."""
    pair = EnginePair()
    sid = pair.request()
    pair.server.send_headers(sid, RESPONSE, end_stream=True)
    pair.to_client()
    assert pair.server.receive_data(ff.window_update(sid, 10)) == []
