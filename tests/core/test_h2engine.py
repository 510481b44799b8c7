"""H2Engine: handshake, event mapping, flow control, RFC 9113 (h2spec-class) cases."""

from __future__ import annotations

import pytest
from h2frames import (
    POST,
    REQUEST,
    continuation,
    data,
    goaway,
    parse,
    ping,
    priority,
    raw_frame,
    resets,
    rst,
    server,
    settings,
    window_update,
)
from hyperframe.frame import DataFrame, HeadersFrame, SettingsFrame, WindowUpdateFrame

from mux.core import events as ev
from mux.core.h2engine import H2Engine
from mux.core.h2guard import PREFACE, H2Limits
from mux.errors import ErrorCode, LocalFlowControlError, RemoteProtocolError


def _conn_error(engine: H2Engine, payload: bytes) -> tuple[ErrorCode | int, int]:
    with pytest.raises(RemoteProtocolError) as info:
        engine.receive_data(payload)
    frame = goaway(engine.data_to_send())
    assert frame is not None, "GOAWAY must be queued"
    assert frame.error_code == info.value.code
    return info.value.code, frame.last_stream_id


def test_H2Engine_initial_settings_and_window() -> None:
    """Our SETTINGS advertise the limits, and the connection window is raised."""
    limits = H2Limits(
        max_concurrent_streams=7,
        initial_stream_window=100_000,
        connection_window=1_000_000,
        max_frame_size=32_768,
    )
    engine = H2Engine(client_side=False, limits=limits)
    engine.initiate_connection()
    frames = parse(engine.data_to_send())
    assert isinstance(frames[0], SettingsFrame)
    assert frames[0].settings[SettingsFrame.MAX_CONCURRENT_STREAMS] == 7
    assert frames[0].settings[SettingsFrame.INITIAL_WINDOW_SIZE] == 100_000
    assert frames[0].settings[SettingsFrame.MAX_FRAME_SIZE] == 32_768
    assert frames[0].settings[SettingsFrame.ENABLE_CONNECT_PROTOCOL] == 0
    assert isinstance(frames[1], WindowUpdateFrame)
    assert frames[1].window_increment == 1_000_000 - 65_535


def test_H2Engine_client_server_pair_roundtrip() -> None:
    """A client engine and a server engine exchange a request, data and trailers."""
    client, srv = H2Engine(client_side=True), H2Engine(client_side=False)
    client.initiate_connection()
    srv.initiate_connection()
    srv.receive_data(client.data_to_send())
    client.receive_data(srv.data_to_send())
    srv.receive_data(client.data_to_send())
    sid = client.get_next_available_stream_id()
    client.send_headers(sid, [*POST, (b"te", b"trailers")])
    client.send_data(sid, b"ping")
    client.send_headers(sid, [(b"x-sum", b"1")], end_stream=True)
    events = srv.receive_data(client.data_to_send())
    kinds = [type(e) for e in events]
    assert kinds == [ev.RequestReceived, ev.DataReceived, ev.TrailersReceived, ev.StreamEnded]
    assert events[1] == ev.DataReceived(sid, b"ping", 4)
    srv.send_headers(sid, [(b":status", b"200"), (b"content-type", b"application/grpc")])
    srv.send_data(sid, b"pong")
    srv.send_headers(sid, [(b"grpc-status", b"0"), (b"grpc-message", b"ok")], end_stream=True)
    events = client.receive_data(srv.data_to_send())
    assert [type(e) for e in events] == [
        ev.ResponseReceived,
        ev.DataReceived,
        ev.TrailersReceived,
        ev.StreamEnded,
    ]
    assert events[2] == ev.TrailersReceived(sid, [(b"grpc-status", b"0"), (b"grpc-message", b"ok")])


def test_H2Engine_no_credit_until_acknowledged() -> None:
    """WINDOW_UPDATE is sent only after the application acknowledges consumed bytes."""
    engine, peer = server(H2Limits(initial_stream_window=65_535, connection_window=65_535))
    engine.receive_data(peer.headers(1, POST, end_stream=False))
    events = engine.receive_data(data(1, b"x" * 16_000) * 3)
    assert events == [ev.DataReceived(1, b"x" * 16_000, 16_000)] * 3
    assert engine.data_to_send() == b""
    engine.acknowledge_received_data(48_000, 1)
    updates = {f.stream_id: f.window_increment for f in parse(engine.data_to_send())}
    assert updates == {0: 48_000, 1: 48_000}


def test_H2Engine_send_data_respects_window_and_frame_size() -> None:
    """send_data splits by the peer's max frame size and refuses to exceed the window."""
    engine, peer = server()
    engine.receive_data(peer.headers(1))
    assert engine.local_flow_control_window(1) == 65_535
    with pytest.raises(LocalFlowControlError):
        engine.send_data(1, b"y" * 65_536)
    engine.send_headers(1, [(b":status", b"200")])
    engine.send_data(1, b"y" * 40_000, end_stream=True)
    frames = [f for f in parse(engine.data_to_send()) if isinstance(f, DataFrame)]
    assert [len(f.data) for f in frames] == [16_384, 16_384, 7_232]
    assert "END_STREAM" in frames[-1].flags
    assert engine.local_flow_control_window(1) == 0  # stream closed


def test_H2Engine_closed_streams_stay_bounded() -> None:
    """100k sequential streams leave h2's stream records bounded."""
    engine, peer = server(H2Limits(closed_stream_memory=64))
    for sid in range(1, 200_000, 2):
        engine.receive_data(peer.headers(sid))
        engine.send_headers(sid, [(b":status", b"204")], end_stream=True)
        engine.data_to_send()
    assert engine.tracked_streams <= 66
    assert engine.highest_inbound_stream_id == 199_999


def test_H2Engine_ping_and_goaway_events() -> None:
    """PING is answered and reported; GOAWAY becomes GoAwayReceived."""
    engine, _ = server()
    assert engine.receive_data(ping(b"abcdefgh")) == [ev.PingReceived(b"abcdefgh")]
    assert "ACK" in parse(engine.data_to_send())[0].flags
    from hyperframe.frame import GoAwayFrame

    events = engine.receive_data(GoAwayFrame(0, last_stream_id=0, error_code=0xB).serialize())
    assert events == [ev.GoAwayReceived(ErrorCode.ENHANCE_YOUR_CALM, 0, b"")]


# ---------------------------------------------------------------- h2spec-class


def test_h2spec_3_5_invalid_preface() -> None:
    """3.5: an invalid connection preface is a connection error PROTOCOL_ERROR."""
    engine = H2Engine(client_side=False)
    engine.initiate_connection()
    engine.data_to_send()
    assert _conn_error(engine, b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n")[0] == ErrorCode.PROTOCOL_ERROR


def test_h2spec_3_5_first_frame_not_settings() -> None:
    """3.5: a PING (or anything but SETTINGS) as the first frame is PROTOCOL_ERROR."""
    engine = H2Engine(client_side=False)
    engine.initiate_connection()
    assert _conn_error(engine, PREFACE + ping())[0] == ErrorCode.PROTOCOL_ERROR


def test_h2spec_4_2_oversized_frame_header_rejected_before_payload() -> None:
    """4.2: a length above MAX_FRAME_SIZE fails on the 9-byte header alone."""
    engine, _ = server()
    header = raw_frame(0x0, 0, 1, b"", length=16_385)
    assert _conn_error(engine, header)[0] == ErrorCode.FRAME_SIZE_ERROR


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (data(1, b"test", "END_STREAM"), ErrorCode.PROTOCOL_ERROR),  # 5.1 idle DATA
        (rst(1), ErrorCode.PROTOCOL_ERROR),  # 5.1 idle RST_STREAM
        (window_update(1, 100), ErrorCode.PROTOCOL_ERROR),  # 5.1 idle WINDOW_UPDATE
        (window_update(0, 0), ErrorCode.PROTOCOL_ERROR),  # 6.9 increment 0 on connection
        (raw_frame(0x3, 0, 1, b"\0\0\0\0\0"), ErrorCode.FRAME_SIZE_ERROR),  # 6.4 length 5
        (raw_frame(0x8, 0, 0, b"\0\0\0"), ErrorCode.FRAME_SIZE_ERROR),  # 6.9 length 3
        (raw_frame(0x6, 0, 0, b"1234567"), ErrorCode.FRAME_SIZE_ERROR),  # 6.7 PING length 7
        (raw_frame(0x6, 0, 1, b"12345678"), ErrorCode.PROTOCOL_ERROR),  # 6.7 PING on stream
        (raw_frame(0x4, 0, 0, b"\0\0\0"), ErrorCode.FRAME_SIZE_ERROR),  # 6.5 SETTINGS len 3
        (raw_frame(0x4, 1, 0, b"\0\x03\0\0\0\0"), ErrorCode.FRAME_SIZE_ERROR),  # ACK + body
        (raw_frame(0x4, 0, 1, b""), ErrorCode.PROTOCOL_ERROR),  # 6.5 SETTINGS on stream
        (settings(ENABLE_PUSH=2), ErrorCode.PROTOCOL_ERROR),  # 6.5.2
        (settings(INITIAL_WINDOW_SIZE=2**31), ErrorCode.FLOW_CONTROL_ERROR),  # 6.5.2
        (settings(MAX_FRAME_SIZE=16_383), ErrorCode.PROTOCOL_ERROR),  # 6.5.2
        (raw_frame(0x0, 0, 0, b"x"), ErrorCode.PROTOCOL_ERROR),  # 6.1 DATA on stream 0
        (raw_frame(0x2, 0, 0, b"\0\0\0\1\x0f"), ErrorCode.PROTOCOL_ERROR),  # PRIORITY on 0
        (raw_frame(0x7, 0, 1, b"\0" * 8), ErrorCode.PROTOCOL_ERROR),  # 6.8 GOAWAY on stream
        (continuation(1, b"\x82", "END_HEADERS"), ErrorCode.PROTOCOL_ERROR),  # 5.1 idle CONT.
        (window_update(0, 2**31 - 1) * 2, ErrorCode.FLOW_CONTROL_ERROR),  # 6.9.1 overflow
    ],
)
def test_h2spec_connection_errors(payload: bytes, code: ErrorCode) -> None:
    """Each input is a connection error with the RFC 9113 code and a queued GOAWAY."""
    engine, _ = server()
    assert _conn_error(engine, payload)[0] == code


def test_h2spec_5_1_1_even_and_decreasing_stream_ids() -> None:
    """5.1.1: even client stream ids and ids lower than before are PROTOCOL_ERROR."""
    engine, peer = server()
    assert _conn_error(engine, peer.headers(2))[0] == ErrorCode.PROTOCOL_ERROR
    engine, peer = server()
    engine.receive_data(peer.headers(5))
    assert _conn_error(engine, peer.headers(3))[0] == ErrorCode.PROTOCOL_ERROR


def test_h2spec_5_1_half_closed_remote_data_is_stream_error() -> None:
    """5.1: DATA after END_STREAM from the peer: stream error STREAM_CLOSED."""
    engine, peer = server()
    engine.receive_data(peer.headers(1))
    events = engine.receive_data(data(1, b"test", "END_STREAM"))
    assert resets(engine.data_to_send()) == {1: ErrorCode.STREAM_CLOSED}
    assert events == [ev.StreamReset(1, ErrorCode.STREAM_CLOSED, remote=False)]


def test_h2spec_5_1_closed_after_end_stream_is_connection_error() -> None:
    """5.1: DATA after both sides ended the stream: connection error STREAM_CLOSED."""
    engine, peer = server()
    engine.receive_data(peer.headers(1))
    engine.send_headers(1, [(b":status", b"200")], end_stream=True)
    engine.data_to_send()
    assert _conn_error(engine, data(1, b"test", "END_STREAM"))[0] == ErrorCode.STREAM_CLOSED


def test_h2spec_5_1_data_after_rst_is_stream_error_and_credited() -> None:
    """5.1: DATA after the peer's RST_STREAM: RST STREAM_CLOSED; connection credit returned."""
    engine, peer = server(H2Limits(connection_window=65_535))
    engine.receive_data(peer.headers(1, POST, end_stream=False))
    assert engine.receive_data(rst(1)) == [ev.StreamReset(1, ErrorCode.CANCEL, remote=True)]
    engine.receive_data(data(1, b"z" * 16_000) * 3)
    frames = parse(engine.data_to_send())
    assert resets(b"".join(f.serialize() for f in frames)) == {1: ErrorCode.STREAM_CLOSED}
    assert any(isinstance(f, WindowUpdateFrame) and f.stream_id == 0 for f in frames)


def test_h2spec_5_1_2_excess_stream_refused_not_fatal() -> None:
    """5.1.2: a stream beyond MAX_CONCURRENT_STREAMS gets RST REFUSED_STREAM; others live."""
    engine, peer = server(H2Limits(max_concurrent_streams=2))
    engine.receive_data(peer.headers(1, end_stream=False) + peer.headers(3, end_stream=False))
    events = engine.receive_data(peer.headers(5, end_stream=False))
    assert events == [ev.StreamReset(5, ErrorCode.REFUSED_STREAM, remote=False)]
    assert resets(engine.data_to_send()) == {5: ErrorCode.REFUSED_STREAM}
    # HPACK stayed in sync: a later valid stream decodes fine once there is room.
    engine.send_headers(1, [(b":status", b"200")], end_stream=True)
    engine.receive_data(rst(1))
    events = engine.receive_data(peer.headers(7))
    assert isinstance(events[0], ev.RequestReceived) and events[0].headers == REQUEST


def test_h2spec_5_3_1_self_dependency_is_stream_error() -> None:
    """5.3.1: HEADERS or PRIORITY depending on its own stream: stream error PROTOCOL_ERROR."""
    engine, peer = server()
    events = engine.receive_data(peer.headers(1, depends_on=1, stream_weight=15))
    assert events == [ev.StreamReset(1, ErrorCode.PROTOCOL_ERROR, remote=False)]
    assert resets(engine.data_to_send()) == {1: ErrorCode.PROTOCOL_ERROR}
    engine.receive_data(priority(3, 3))
    assert resets(engine.data_to_send()) == {3: ErrorCode.PROTOCOL_ERROR}
    events = engine.receive_data(peer.headers(5))  # HPACK still in sync
    assert isinstance(events[0], ev.RequestReceived)


def test_h2spec_6_3_priority_wrong_length_is_stream_error() -> None:
    """6.3: PRIORITY with a length other than 5 is a stream error FRAME_SIZE_ERROR."""
    engine, _ = server()
    engine.receive_data(raw_frame(0x2, 0, 1, b"\0\0\0\0"))
    assert resets(engine.data_to_send()) == {1: ErrorCode.FRAME_SIZE_ERROR}


def test_h2spec_6_9_window_update_zero_on_stream() -> None:
    """6.9: WINDOW_UPDATE with increment 0 on a stream is a stream error PROTOCOL_ERROR."""
    engine, peer = server()
    engine.receive_data(peer.headers(1))
    events = engine.receive_data(window_update(1, 0))
    assert events == [ev.StreamReset(1, ErrorCode.PROTOCOL_ERROR, remote=False)]
    assert resets(engine.data_to_send()) == {1: ErrorCode.PROTOCOL_ERROR}


def test_h2spec_6_9_1_stream_window_overflow() -> None:
    """6.9.1: a stream window beyond 2^31-1 is a stream error FLOW_CONTROL_ERROR."""
    engine, peer = server()
    engine.receive_data(peer.headers(1))
    engine.receive_data(window_update(1, 2**31 - 1))
    assert resets(engine.data_to_send()) == {1: ErrorCode.FLOW_CONTROL_ERROR}


def test_h2spec_6_10_interleaved_frame_in_header_block() -> None:
    """6.10: a frame other than CONTINUATION inside a header block is PROTOCOL_ERROR."""
    engine, peer = server()
    payload = peer.headers(1, end_headers=False) + data(1, b"x")
    assert _conn_error(engine, payload)[0] == ErrorCode.PROTOCOL_ERROR


def test_h2spec_6_10_continuation_completes_block() -> None:
    """6.10: HEADERS + CONTINUATION frames make one request."""
    engine, peer = server()
    block = peer.block(REQUEST)
    first = HeadersFrame(1, data=block[:2], flags=["END_STREAM"]).serialize()
    events = engine.receive_data(first + continuation(1, block[2:], "END_HEADERS"))
    assert isinstance(events[0], ev.RequestReceived) and events[0].headers == REQUEST


def test_h2spec_5_5_unknown_frames_ignored() -> None:
    """5.5: unknown frame types (also inside no header block) are ignored."""
    engine, peer = server()
    assert engine.receive_data(raw_frame(0xFF, 0, 0, b"hello")) == []
    assert isinstance(engine.receive_data(peer.headers(1))[0], ev.RequestReceived)


@pytest.mark.parametrize(
    "headers",
    [
        [(b":method", b"GET"), (b":path", b"/"), (b":authority", b"x")],  # missing :scheme
        [*REQUEST, (b":foo", b"bar")],  # unknown pseudo
        [(b":method", b"GET"), (b"x", b"y"), (b":scheme", b"http"), (b":path", b"/")],
        [*REQUEST, (b"connection", b"keep-alive")],  # connection-specific
        [*REQUEST, (b"te", b"gzip")],
        [*REQUEST, (b"UPPER", b"x")],
        [*REQUEST, (b":path", b"/again")],  # duplicated pseudo
        [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b""), (b":authority", b"x")],
    ],
)
def test_h2spec_8_1_2_malformed_request_is_stream_error(headers: list[tuple[bytes, bytes]]) -> None:
    """8.1.2: malformed requests are stream errors PROTOCOL_ERROR; the connection lives."""
    engine, peer = server()
    events = engine.receive_data(peer.headers(1, headers))
    assert events == [ev.StreamReset(1, ErrorCode.PROTOCOL_ERROR, remote=False)]
    assert resets(engine.data_to_send()) == {1: ErrorCode.PROTOCOL_ERROR}
    assert isinstance(engine.receive_data(peer.headers(3))[0], ev.RequestReceived)


def test_h2spec_8_1_2_6_content_length_mismatch_is_stream_error() -> None:
    """8.1.2.6: DATA not matching content-length: stream error PROTOCOL_ERROR, credit back."""
    engine, peer = server()
    engine.receive_data(peer.headers(1, [*POST, (b"content-length", b"1")], end_stream=False))
    events = engine.receive_data(data(1, b"test", "END_STREAM"))
    assert events == [ev.StreamReset(1, ErrorCode.PROTOCOL_ERROR, remote=False)]
    assert resets(engine.data_to_send()) == {1: ErrorCode.PROTOCOL_ERROR}


def test_h2spec_8_1_trailers_with_pseudo_header_is_stream_error() -> None:
    """8.1: trailers carrying a pseudo-header are malformed: stream error PROTOCOL_ERROR."""
    engine, peer = server()
    engine.receive_data(peer.headers(1, POST, end_stream=False))
    events = engine.receive_data(peer.headers(1, [(b":status", b"200")]))
    assert events == [ev.StreamReset(1, ErrorCode.PROTOCOL_ERROR, remote=False)]


def test_H2Engine_late_frames_after_local_reset_do_not_kill() -> None:
    """Late DATA, WINDOW_UPDATE, RST_STREAM and PRIORITY after we reset a stream are harmless."""
    engine, peer = server()
    engine.receive_data(peer.headers(1, POST, end_stream=False))
    engine.reset_stream(1)
    engine.data_to_send()
    engine.receive_data(data(1, b"late") + window_update(1, 10) + rst(1) + priority(1, 0))
    assert isinstance(engine.receive_data(peer.headers(3))[0], ev.RequestReceived)


def test_H2Engine_late_frames_after_response_do_not_kill() -> None:
    """WINDOW_UPDATE and RST_STREAM after a finished exchange (even forgotten) are ignored."""
    engine, peer = server(H2Limits(closed_stream_memory=1))
    engine.receive_data(peer.headers(1))
    engine.send_headers(1, [(b":status", b"204")], end_stream=True)
    for sid in (3, 5, 7):
        engine.receive_data(peer.headers(sid))
        engine.send_headers(sid, [(b":status", b"204")], end_stream=True)
    engine.data_to_send()
    assert engine.receive_data(window_update(1, 5) + rst(1) + rst(3) + priority(1, 0)) == []
    assert goaway(engine.data_to_send()) is None


def test_H2Limits_from_protocol_limits() -> None:
    """Shared ProtocolLimits map onto the HTTP/2 engine's limits."""
    from mux.core.limits import ProtocolLimits

    limits = H2Limits.from_protocol_limits(ProtocolLimits(max_concurrent_streams=9))
    assert limits.max_concurrent_streams == 9
    assert 16_384 <= limits.max_frame_size <= 2**24 - 1


def test_h2spec_4_3_invalid_hpack_is_compression_error() -> None:
    """4.3: an undecodable header block is a connection error COMPRESSION_ERROR."""
    engine, _ = server()
    bad = HeadersFrame(1, data=b"\xff\xff\xff\xff\x0f", flags=["END_HEADERS"]).serialize()
    assert _conn_error(engine, bad)[0] == ErrorCode.COMPRESSION_ERROR


def test_h2spec_7_ping_after_peer_goaway_is_answered() -> None:
    """7/6.8: after the peer's GOAWAY (even with an unknown code) PING is still answered."""
    from hyperframe.frame import GoAwayFrame

    engine, peer = server()
    engine.receive_data(peer.headers(1, POST, end_stream=False))
    events = engine.receive_data(GoAwayFrame(0, last_stream_id=0, error_code=0xFF).serialize())
    assert events == [ev.GoAwayReceived(0xFF, 0, b"")]
    assert engine.receive_data(ping()) == [ev.PingReceived(b"12345678")]
    assert engine.receive_data(data(1, b"x", "END_STREAM"))[0] == ev.DataReceived(1, b"x", 1, True)
    engine.send_headers(1, [(b":status", b"200")], end_stream=True)
    assert goaway(engine.data_to_send()) is None


def test_H2Engine_graceful_goaway_lets_inflight_streams_finish() -> None:
    """After our GOAWAY, in-flight streams complete and new streams are refused."""
    engine, peer = server()
    engine.receive_data(peer.headers(1, POST, end_stream=False))
    engine.close_connection(last_stream_id=2**31 - 1)
    assert goaway(engine.data_to_send()) is not None
    events = engine.receive_data(data(1, b"body", "END_STREAM"))
    assert events[0] == ev.DataReceived(1, b"body", 4, True)
    assert engine.receive_data(peer.headers(3)) == [
        ev.StreamReset(3, ErrorCode.REFUSED_STREAM, remote=False)
    ]
    engine.send_headers(1, [(b":status", b"200")])
    engine.send_data(1, b"done", end_stream=True)
    frames = parse(engine.data_to_send())
    assert any(isinstance(f, DataFrame) and f.data == b"done" for f in frames)


def test_H2Engine_client_cannot_open_after_goaway() -> None:
    """A client engine refuses to open streams after the server's GOAWAY."""
    client, srv = H2Engine(client_side=True), H2Engine(client_side=False)
    client.initiate_connection()
    srv.initiate_connection()
    srv.receive_data(client.data_to_send())
    srv.close_connection()
    client.receive_data(srv.data_to_send())
    from mux.errors import LocalProtocolError

    with pytest.raises(LocalProtocolError):
        client.send_headers(1, REQUEST)
