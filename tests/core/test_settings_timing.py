"""When our own window settings take effect (spec 6.2, 8.3, 8.5 as resolved in revision 1.1).

A raised INITIAL_STREAM_WINDOW is in force from the moment we send it, a lowered one
from its ACK; while a change awaits its ACK the window's "current size" for the
WINDOW_UPDATE rule is the larger value. The real state machine, fed raw frames.
"""

from __future__ import annotations

from helpers import FrameFactory, handshaken_server, parse_frames

from mux.core import events as ev
from mux.core.connection import MuxConnection
from mux.core.frames import FrameType, decode_u32
from mux.core.settings import SettingId
from mux.errors import ErrorCode

F = FrameFactory()
POST = [(b":method", b"POST"), (b":path", b"/sink")]


def _server() -> MuxConnection:
    server = handshaken_server()
    server.receive_data(F.settings(ack=True))  # the first SETTINGS is acknowledged
    return server


def _resets(out: bytes) -> list[tuple[int, int]]:
    frames = parse_frames(out, preface=False)
    return [(f.stream_id, decode_u32(f.payload)) for f in frames if f.type == FrameType.RST_STREAM]


def _updates(out: bytes) -> list[tuple[int, int]]:
    frames = parse_frames(out, preface=False)
    return [
        (f.stream_id, decode_u32(f.payload)) for f in frames if f.type == FrameType.WINDOW_UPDATE
    ]


def test_raised_stream_window_applies_when_sent() -> None:
    server = _server()
    server.update_settings({SettingId.INITIAL_STREAM_WINDOW: 400_000})
    server.data_to_send()
    events = server.receive_data(F.headers(1, POST) + F.data(1, b"x" * 65536) * 5)
    assert sum(e.flow_controlled_length for e in events if isinstance(e, ev.DataReceived)) == 327680
    assert _resets(server.data_to_send()) == []


def test_lowered_stream_window_applies_at_the_ack() -> None:
    server = _server()
    server.update_settings({SettingId.INITIAL_STREAM_WINDOW: 1024})
    server.data_to_send()
    server.receive_data(F.headers(1, POST) + F.data(1, b"x" * 2000))
    assert _resets(server.data_to_send()) == []  # the old 256 KiB still holds
    server.receive_data(F.settings(ack=True) + F.headers(3, POST) + F.data(3, b"x" * 1025))
    assert _resets(server.data_to_send()) == [(3, ErrorCode.FLOW_CONTROL_ERROR)]


def test_current_size_while_pending_is_the_larger_value() -> None:
    server = _server()
    server.update_settings({SettingId.INITIAL_STREAM_WINDOW: 1024})
    server.data_to_send()
    server.receive_data(F.headers(1, POST) + F.data(1, b"x" * 600))
    server.acknowledge_received_data(600, 1)
    # 600 is half of 1024 but far from half of 262144: no stream credit yet.
    assert [u for u in _updates(server.data_to_send()) if u[0]] == []
    server.receive_data(F.settings(ack=True) + F.headers(3, POST) + F.data(3, b"x" * 600))
    server.acknowledge_received_data(600, 3)
    assert [u for u in _updates(server.data_to_send()) if u[0]] == [(3, 600)]
