"""MuxConnection: every frame type, error scopes, settings, GOAWAY, late frames."""

from __future__ import annotations

import pytest
from helpers import (
    REQUEST,
    RESPONSE,
    EnginePair,
    FrameFactory,
    handshaken_client,
    handshaken_server,
    parse_frames,
)

from mux.core import events as ev
from mux.core.connection import MuxConnection
from mux.core.frames import PREFACE, PREFACE_MAGIC, FrameType, decode_goaway, decode_u32
from mux.core.limits import ProtocolLimits
from mux.core.settings import SettingId
from mux.errors import (
    ErrorCode,
    FrameSizeError,
    LocalProtocolError,
    RemoteProtocolError,
    UnsupportedVersionError,
)

ff = FrameFactory()


def goaway_of(conn: MuxConnection, *, preface: bool = False) -> tuple[int, int, bytes]:
    frames = parse_frames(conn.data_to_send(), preface=preface)
    assert frames[-1].type == FrameType.GOAWAY
    return decode_goaway(frames[-1].payload)


def rst_codes(conn: MuxConnection) -> list[tuple[int, int]]:
    frames = parse_frames(conn.data_to_send(), preface=False)
    return [(f.stream_id, decode_u32(f.payload)) for f in frames if f.type == FrameType.RST_STREAM]


def test_MuxConnection_full_exchange_with_trailers() -> None:
    """Request with body and trailers, response with body and trailers, both ways."""
    pair = EnginePair()
    sid = pair.request(end_stream=False)
    pair.client.send_data(sid, b"body")
    pair.client.send_headers(sid, [(b"x-t", b"1")], end_stream=True)
    assert pair.to_server() == [
        ev.DataReceived(sid, b"body", 4),
        ev.TrailersReceived(sid, [(b"x-t", b"1")]),
        ev.StreamEnded(sid),
    ]
    pair.server.send_headers(sid, RESPONSE)
    pair.server.send_data(sid, b"ok")
    pair.server.send_headers(sid, [(b"grpc-status", b"0")], end_stream=True)
    assert pair.to_client() == [
        ev.ResponseReceived(sid, RESPONSE),
        ev.DataReceived(sid, b"ok", 2),
        ev.TrailersReceived(sid, [(b"grpc-status", b"0")]),
        ev.StreamEnded(sid),
    ]
    assert pair.client.open_outbound_streams == pair.server.open_inbound_streams == 0
    assert pair.server.highest_inbound_stream_id == sid


def test_MuxConnection_handshake_events() -> None:
    """Each side sees the peer's SETTINGS and then the ACK of its own."""
    pair = EnginePair(handshake=False)
    pair.client.initiate_connection()
    pair.server.initiate_connection()
    server_events, client_events = pair.pump()
    assert server_events == [ev.SettingsChanged({})]
    assert client_events == [ev.SettingsChanged({}), ev.SettingsAcknowledged()]
    server_events, _ = pair.pump()
    assert server_events == [ev.SettingsAcknowledged()]


def test_MuxConnection_server_answers_before_initiate() -> None:
    """A server fed bytes before initiate_connection sends its preface first."""
    server = MuxConnection(client_side=False)
    server.receive_data(PREFACE + ff.settings())
    data = server.data_to_send()
    assert data.startswith(PREFACE)
    assert [f.type for f in parse_frames(data)] == [FrameType.SETTINGS, FrameType.SETTINGS]


def test_MuxConnection_non_default_limits_advertised() -> None:
    """Only non-default limits go into the first SETTINGS."""
    limits = ProtocolLimits(max_concurrent_streams=7)
    assert limits.to_settings() == {SettingId.MAX_CONCURRENT_STREAMS: 7}
    pair = EnginePair(server_limits=limits)
    assert pair.client.max_outbound_streams == 7
    assert pair.server.local_settings.max_concurrent_streams == 7


@pytest.mark.parametrize(
    ("first", "code"),
    [
        (ff.ping(), ErrorCode.PROTOCOL_ERROR),
        (ff.settings(ack=True), ErrorCode.PROTOCOL_ERROR),
        (ff.headers(1), ErrorCode.PROTOCOL_ERROR),
    ],
)
def test_MuxConnection_first_frame_must_be_settings(first: bytes, code: ErrorCode) -> None:
    """Anything but a non-ACK SETTINGS first is connection PROTOCOL_ERROR."""
    server = MuxConnection(client_side=False)
    server.initiate_connection()
    with pytest.raises(RemoteProtocolError) as info:
        server.receive_data(PREFACE + first)
    assert info.value.code == code
    assert goaway_of(server, preface=True)[:2] == (0, code)


def test_MuxConnection_bad_magic_gets_preface_and_goaway() -> None:
    """Wrong magic: our preface, then GOAWAY(0, PROTOCOL_ERROR)."""
    server = MuxConnection(client_side=False)
    with pytest.raises(RemoteProtocolError):
        server.receive_data(b"GET / HTTP/1.1\r\n\r\n")
    last, code, debug = goaway_of(server, preface=True)
    assert (last, code) == (0, ErrorCode.PROTOCOL_ERROR)
    assert b"bad preface" in debug


def test_MuxConnection_unsupported_version() -> None:
    """Version 2: preface (version 1) + GOAWAY(0, UNSUPPORTED_VERSION, text)."""
    server = MuxConnection(client_side=False)
    with pytest.raises(UnsupportedVersionError):
        server.receive_data(PREFACE_MAGIC + b"\x02")
    data = server.data_to_send()
    assert data.startswith(PREFACE)
    frames = parse_frames(data)
    assert [f.type for f in frames] == [FrameType.GOAWAY]
    assert decode_goaway(frames[0].payload) == (
        0,
        ErrorCode.UNSUPPORTED_VERSION,
        b"unsupported version 2; supported: 1",
    )


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (ff.data(0, b"x"), ErrorCode.PROTOCOL_ERROR),
        (ff.headers(0), ErrorCode.PROTOCOL_ERROR),
        (ff.rst(0), ErrorCode.PROTOCOL_ERROR),
        (ff.raw(FrameType.SETTINGS, 0, 1, b"\x80"), ErrorCode.PROTOCOL_ERROR),
        (ff.raw(FrameType.PING, 0, 1, b"12345678"), ErrorCode.PROTOCOL_ERROR),
        (ff.raw(FrameType.GOAWAY, 0, 1, b"\x00" * 8), ErrorCode.PROTOCOL_ERROR),
        (ff.raw(FrameType.RST_STREAM, 0, 1, b"\x00" * 5), ErrorCode.FRAME_SIZE_ERROR),
        (ff.raw(FrameType.PING, 0, 0, b"1234567"), ErrorCode.FRAME_SIZE_ERROR),
        (ff.raw(FrameType.GOAWAY, 0, 0, b"\x00" * 7), ErrorCode.FRAME_SIZE_ERROR),
        (ff.raw(FrameType.WINDOW_UPDATE, 0, 0, b"\x00" * 3), ErrorCode.FRAME_SIZE_ERROR),
        (ff.raw(FrameType.SETTINGS, 1, 0, b"\x80"), ErrorCode.FRAME_SIZE_ERROR),
        (ff.settings(ack=True), ErrorCode.PROTOCOL_ERROR),  # nothing awaits ACK
        (ff.raw(FrameType.SETTINGS, 0, 0, b""), ErrorCode.PROTOCOL_ERROR),
        (ff.settings({SettingId.MAX_FRAME_SIZE: 1023}), ErrorCode.PROTOCOL_ERROR),
        (ff.settings({SettingId.MAX_FRAME_SIZE: 2**24}), ErrorCode.PROTOCOL_ERROR),
        (ff.settings({SettingId.INITIAL_STREAM_WINDOW: 2**31}), ErrorCode.FLOW_CONTROL_ERROR),
        (ff.settings({SettingId.CONNECTION_WINDOW: 2**31}), ErrorCode.FLOW_CONTROL_ERROR),
        (ff.settings({SettingId.MAX_CONCURRENT_STREAMS: 2**31}), ErrorCode.PROTOCOL_ERROR),
        (ff.window_update(0, 0), ErrorCode.PROTOCOL_ERROR),
        (ff.data(5, b"x"), ErrorCode.PROTOCOL_ERROR),  # idle stream
        (ff.rst(5), ErrorCode.PROTOCOL_ERROR),
        (ff.window_update(5, 1), ErrorCode.PROTOCOL_ERROR),
        (ff.headers(2), ErrorCode.PROTOCOL_ERROR),  # even id from a client
        (ff.raw(FrameType.HEADERS, 0, 1, b"\x92\xc4\x01a"), ErrorCode.PROTOCOL_ERROR),
    ],
)
def test_MuxConnection_connection_errors(frame: bytes, code: ErrorCode) -> None:
    """Each connection-scoped violation queues GOAWAY(code) and raises."""
    server = handshaken_server()
    server.receive_data(ff.settings(ack=True))  # our initial SETTINGS acknowledged
    with pytest.raises(RemoteProtocolError) as info:
        server.receive_data(frame)
    assert info.value.code == code
    _last, goaway_code, debug = goaway_of(server)
    assert goaway_code == code and debug
    assert server.is_closed
    assert server.receive_data(ff.ping()) == []  # input after the error is ignored
    with pytest.raises(LocalProtocolError):
        server.ping(b"12345678")


def test_MuxConnection_stream_id_regression_is_connection_error() -> None:
    """A new stream id not above the highest opened one is PROTOCOL_ERROR... unless it is
    a closed stream, where HEADERS gets stream error STREAM_CLOSED."""
    server = handshaken_server()
    server.receive_data(ff.headers(5, end_stream=True))
    events = server.receive_data(ff.headers(3))  # never opened but below 5: closed
    assert events == []
    assert rst_codes(server) == [(3, ErrorCode.STREAM_CLOSED)]


def test_MuxConnection_client_rejects_server_headers_on_unopened_stream() -> None:
    """HEADERS from the server on a stream the client did not open: PROTOCOL_ERROR."""
    client = handshaken_client()
    with pytest.raises(RemoteProtocolError) as info:
        client.receive_data(ff.headers(1, RESPONSE))
    assert info.value.code == ErrorCode.PROTOCOL_ERROR
    client = handshaken_client()
    with pytest.raises(RemoteProtocolError):
        client.receive_data(ff.headers(2, RESPONSE))


@pytest.mark.parametrize(
    "headers",
    [
        [(b":path", b"/")],
        [(b":method", b"GET"), (b":path", b"/"), (b":status", b"200")],
        [(b":method", b"GET"), (b"x", b"1"), (b":path", b"/")],
        [(b":method", b"GET"), (b":path", b"/"), (b"X-Up", b"1")],
        [(b":method", b"GET"), (b":path", b"/"), (b"", b"1")],
        [(b":method", b"GET"), (b":method", b"GET"), (b":path", b"/")],
    ],
)
def test_MuxConnection_bad_request_headers_stream_error(headers: list[tuple[bytes, bytes]]) -> None:
    """Semantic header violations are stream errors PROTOCOL_ERROR; the connection lives."""
    server = handshaken_server()
    assert server.receive_data(ff.headers(1, headers)) == []
    assert rst_codes(server) == [(1, ErrorCode.PROTOCOL_ERROR)]
    assert server.receive_data(ff.headers(3, REQUEST))[0] == ev.RequestReceived(3, REQUEST)


def test_MuxConnection_bad_response_and_trailers() -> None:
    """Bad :status, trailers without END_STREAM, pseudo in trailers: stream errors."""
    for frame in (
        ff.headers(1, [(b":status", b"99")]),
        ff.headers(1, [(b":status", b"600")]),
        ff.headers(1, [(b"x", b"y")]),
        ff.data(1, b"early"),
    ):
        client = handshaken_client()
        client.send_headers(1, REQUEST)
        client.data_to_send()
        events = client.receive_data(frame)
        assert events == [ev.StreamReset(1, ErrorCode.PROTOCOL_ERROR, False)], frame
    server = handshaken_server()
    server.receive_data(ff.headers(1))
    assert server.receive_data(ff.headers(1, [(b"t", b"1")])) == [
        ev.StreamReset(1, ErrorCode.PROTOCOL_ERROR, False)
    ]
    server.receive_data(ff.headers(3))
    assert server.receive_data(ff.headers(3, [(b":path", b"/")], end_stream=True)) == [
        ev.StreamReset(3, ErrorCode.PROTOCOL_ERROR, False)
    ]


def test_MuxConnection_frames_after_end_stream() -> None:
    """DATA or HEADERS after the peer's END_STREAM: stream error STREAM_CLOSED."""
    server = handshaken_server()
    server.receive_data(ff.headers(1, end_stream=True))
    assert server.receive_data(ff.data(1, b"x")) == [
        ev.StreamReset(1, ErrorCode.STREAM_CLOSED, False)
    ]
    server.receive_data(ff.headers(3, end_stream=True))
    assert server.receive_data(ff.headers(3, [(b"t", b"1")], end_stream=True)) == [
        ev.StreamReset(3, ErrorCode.STREAM_CLOSED, False)
    ]


def test_MuxConnection_late_frames_after_close_never_kill_connection() -> None:
    """Frames on streams we reset or closed are ignored or stream-reset, never fatal."""
    pair = EnginePair()
    sid = pair.request()
    pair.server.send_headers(sid, RESPONSE, end_stream=True)
    pair.to_client()
    server = pair.server
    assert server.receive_data(ff.window_update(sid, 5)) == []
    assert server.receive_data(ff.rst(sid)) == []
    assert server.receive_data(ff.data(sid, b"late")) == []
    assert rst_codes(server) == [(sid, ErrorCode.STREAM_CLOSED)]
    # after our RST the id is "recently reset": further late frames are silent
    assert server.receive_data(ff.data(sid, b"late") + ff.headers(sid)) == []
    assert rst_codes(server) == []
    assert not server.is_closed


def test_MuxConnection_peer_reset() -> None:
    """RST_STREAM from the peer closes the stream and reports the code (unknown kept)."""
    server = handshaken_server()
    server.receive_data(ff.headers(1) + ff.headers(3))
    events = server.receive_data(ff.rst(1, ErrorCode.CANCEL) + ff.rst(3, 0x1234))
    assert events == [ev.StreamReset(1, ErrorCode.CANCEL), ev.StreamReset(3, 0x1234)]
    assert server.open_inbound_streams == 0


def test_MuxConnection_ping_and_pong() -> None:
    """PING is answered with the same bytes; a PONG is reported."""
    pair = EnginePair()
    pair.client.ping(b"abcdefgh")
    server_events, client_events = pair.pump()
    assert server_events == [ev.PingReceived(b"abcdefgh")]
    assert client_events == [ev.PingAcknowledged(b"abcdefgh")]
    with pytest.raises(LocalProtocolError):
        pair.client.ping(b"short")


def test_MuxConnection_unknown_frame_ignored() -> None:
    """Unknown frame types and unknown flags are ignored."""
    server = handshaken_server()
    assert server.receive_data(ff.raw(0x77, 0xFF, 9, b"whatever")) == []
    assert server.receive_data(ff.raw(FrameType.PING, 0xFE, 0, b"12345678")) == [
        ev.PingReceived(b"12345678")
    ]


def test_MuxConnection_settings_unknown_ids_ignored_and_acked() -> None:
    """Unknown setting ids are ignored; every SETTINGS is ACKed."""
    server = handshaken_server()
    events = server.receive_data(ff.settings({0x99: 1, SettingId.KEEPALIVE_INTERVAL: 5000}))
    assert events == [ev.SettingsChanged({SettingId.KEEPALIVE_INTERVAL: 5000})]
    assert server.remote_settings.keepalive_interval_ms == 5000
    frames = parse_frames(server.data_to_send(), preface=False)
    assert [(f.type, f.flags, f.payload) for f in frames] == [(FrameType.SETTINGS, 1, b"")]


def test_MuxConnection_update_settings_validated() -> None:
    """update_settings rejects out-of-range values locally."""
    pair = EnginePair()
    with pytest.raises(LocalProtocolError):
        pair.client.update_settings({SettingId.MAX_FRAME_SIZE: 10})
    pair.client.update_settings({SettingId.MAX_FRAME_SIZE: 2**20})
    server_events, client_events = pair.pump()
    assert server_events == [ev.SettingsChanged({SettingId.MAX_FRAME_SIZE: 2**20})]
    assert client_events == [ev.SettingsAcknowledged()]
    assert pair.client.local_settings.max_frame_size == 2**20


def test_MuxConnection_concurrency_limit_refuses() -> None:
    """Streams beyond MAX_CONCURRENT_STREAMS are refused (REFUSED_STREAM), others live."""
    server = handshaken_server(ProtocolLimits(max_concurrent_streams=2))
    server.receive_data(ff.settings(ack=True))
    events = server.receive_data(ff.headers(1) + ff.headers(3) + ff.headers(5) + ff.data(5, b"x"))
    assert [type(e) for e in events] == [ev.RequestReceived, ev.RequestReceived]
    assert rst_codes(server) == [(5, ErrorCode.REFUSED_STREAM)]
    assert server.highest_inbound_stream_id == 5


def test_MuxConnection_client_respects_peer_concurrency() -> None:
    """The client refuses to open more streams than the server allows."""
    pair = EnginePair(server_limits=ProtocolLimits(max_concurrent_streams=1))
    pair.request(end_stream=False)
    with pytest.raises(LocalProtocolError):
        pair.client.send_headers(3, REQUEST)


def test_MuxConnection_header_list_too_large() -> None:
    """HEADERS bigger than MAX_HEADER_LIST_SIZE: stream error HEADER_LIST_TOO_LARGE."""
    server = handshaken_server(ProtocolLimits(max_header_list_size=100))
    server.receive_data(ff.settings(ack=True))
    big = [*REQUEST, (b"x", b"v" * 200)]
    assert server.receive_data(ff.headers(1, big)) == []
    assert rst_codes(server) == [(1, ErrorCode.HEADER_LIST_TOO_LARGE)]
    pair = EnginePair(server_limits=ProtocolLimits(max_header_list_size=100))
    with pytest.raises(LocalProtocolError):
        pair.client.send_headers(1, big)


def test_MuxConnection_goaway_two_step() -> None:
    """GOAWAY(2^31-1), PING/PONG, final GOAWAY(last processed); later ids refused."""
    pair = EnginePair()
    sid = pair.request(end_stream=False)
    pair.server.close_connection(last_stream_id=2**31 - 1)
    pair.server.ping(b"drain---")
    _, client_events = pair.pump()
    assert client_events[0] == ev.GoAwayReceived(ErrorCode.NO_ERROR, 2**31 - 1)
    assert client_events[1] == ev.PingReceived(b"drain---")
    assert pair.to_server() == [ev.PingAcknowledged(b"drain---")]
    with pytest.raises(LocalProtocolError):
        pair.client.send_headers(pair.client.get_next_available_stream_id(), REQUEST)
    late = pair.server.receive_data(ff.headers(3))  # raced the first GOAWAY: still served
    assert late[0] == ev.RequestReceived(3, REQUEST)
    pair.server.close_connection()
    assert pair.server.goaway_sent
    frames = parse_frames(pair.server.data_to_send(), preface=False)
    assert decode_goaway(frames[-1].payload) == (3, 0, b"")
    assert pair.server.receive_data(ff.headers(5)) == []
    assert rst_codes(pair.server) == [(5, ErrorCode.REFUSED_STREAM)]
    pair.server.close_connection(last_stream_id=99)  # never raises last_stream_id
    assert decode_goaway(parse_frames(pair.server.data_to_send(), preface=False)[0].payload)[0] == 3
    pair.server.send_headers(sid, RESPONSE, end_stream=True)  # open streams continue


def test_MuxConnection_goaway_refuses_unprocessed_streams() -> None:
    """Client streams above the GOAWAY's last_stream_id are reset REFUSED_STREAM."""
    client = handshaken_client()
    for sid in (1, 3, 5):
        client.send_headers(sid, REQUEST)
    events = client.receive_data(ff.goaway(1, 0))
    assert events == [
        ev.GoAwayReceived(ErrorCode.NO_ERROR, 1),
        ev.StreamReset(3, ErrorCode.REFUSED_STREAM),
        ev.StreamReset(5, ErrorCode.REFUSED_STREAM),
    ]
    assert client.goaway_received and client.open_outbound_streams == 1
    with pytest.raises(RemoteProtocolError):
        client.receive_data(ff.goaway(3, 0))  # a later GOAWAY raised last_stream_id


def test_MuxConnection_goaway_with_error_closes() -> None:
    """A GOAWAY with an error code ends the connection: later frames ignored."""
    client = handshaken_client()
    events = client.receive_data(ff.goaway(0, ErrorCode.ENHANCE_YOUR_CALM, b"x") + ff.ping())
    assert events == [ev.GoAwayReceived(ErrorCode.ENHANCE_YOUR_CALM, 0, b"x")]
    assert client.is_closed
    with pytest.raises(LocalProtocolError):
        client.send_headers(1, REQUEST)


def test_MuxConnection_eof() -> None:
    """receive_data(b"") reports ConnectionClosed once."""
    server = handshaken_server()
    assert server.receive_data(b"") == [ev.ConnectionClosed()]
    assert server.is_closed and server.receive_data(b"") == []


def test_MuxConnection_local_errors_change_nothing() -> None:
    """Illegal commands raise LocalProtocolError."""
    pair = EnginePair()
    client, server = pair.client, pair.server
    with pytest.raises(LocalProtocolError):
        server.get_next_available_stream_id()
    with pytest.raises(LocalProtocolError):
        client.send_headers(2, REQUEST)
    with pytest.raises(LocalProtocolError):
        client.send_headers(1, [(b":path", b"/")])
    with pytest.raises(LocalProtocolError):
        client.send_data(1, b"x")
    sid = pair.request(end_stream=True)
    with pytest.raises(LocalProtocolError):
        client.send_data(sid, b"x")
    with pytest.raises(LocalProtocolError):
        server.send_headers(sid, [(b":status", b"1000")])
    with pytest.raises(LocalProtocolError):
        server.send_data(sid, b"x")  # no response headers yet
    server.send_headers(sid, RESPONSE)
    with pytest.raises(LocalProtocolError):
        server.send_headers(sid, [(b"t", b"1")])  # trailers need end_stream
    with pytest.raises(LocalProtocolError):
        MuxConnection(client_side=True).send_headers(1, REQUEST)
    server.reset_stream(999)  # unknown: no-op
    server.reset_stream(sid)
    assert pair.to_client() == [
        ev.ResponseReceived(sid, RESPONSE),
        ev.StreamReset(sid, ErrorCode.CANCEL),
    ]
    with pytest.raises(LocalProtocolError):
        server.local_flow_control_window(sid)


def test_MuxConnection_close_with_error_refuses_work() -> None:
    """close_connection(error) sends GOAWAY and refuses further commands."""
    pair = EnginePair()
    pair.client.close_connection(ErrorCode.INTERNAL_ERROR, debug_data=b"bug")
    assert pair.client.is_closed
    server_events, _ = pair.pump()
    assert server_events == [ev.GoAwayReceived(ErrorCode.INTERNAL_ERROR, 0, b"bug")]
    with pytest.raises(LocalProtocolError):
        pair.client.send_headers(1, REQUEST)


def test_MuxConnection_frame_too_large_for_our_limit() -> None:
    """A frame above our MAX_FRAME_SIZE is FRAME_SIZE_ERROR before its payload arrives."""
    server = handshaken_server()
    with pytest.raises(FrameSizeError):
        server.receive_data(b"\x00\x01\x00\x01\x00\x00\x00\x00\x00\x01")


# ----------------------------------------------------- merged DATA (one read)


def test_data_frames_of_one_read_merge_into_one_event() -> None:
    """Several DATA frames of a stream in one read: one event, summed length, END last."""
    pair = EnginePair()
    sid = pair.request(end_stream=False)
    wire = (
        ff.data(sid, b"ab")
        + ff.data(sid, b"")
        + ff.data(sid, b"cde")
        + ff.data(sid, b"f", end_stream=True)
    )
    events = pair.server.receive_data(wire)
    assert events == [ev.DataReceived(sid, b"abcdef", 6, True), ev.StreamEnded(sid)]
    assert type(events[0].data) is bytes  # never a view of the read
    pair.server.acknowledge_received_data(6, sid)  # the summed credit is accepted whole


def test_data_runs_break_at_other_streams_and_events() -> None:
    """Merging keeps wire order: another stream's DATA or any other event ends a run."""
    pair = EnginePair()
    one = pair.request(end_stream=False)
    two = pair.request(end_stream=False)
    wire = (
        ff.data(one, b"a")
        + ff.data(one, b"b")
        + ff.data(two, b"x")
        + ff.data(one, b"c")
        + ff.ping(b"12345678")
        + ff.data(one, b"d")
        + ff.data(one, b"e")
    )
    events = pair.server.receive_data(wire)
    assert events == [
        ev.DataReceived(one, b"ab", 2),
        ev.DataReceived(two, b"x", 1),
        ev.DataReceived(one, b"c", 1),
        ev.PingReceived(b"12345678"),
        ev.DataReceived(one, b"de", 2),
    ]


def test_data_split_across_reads_is_not_merged_across_calls() -> None:
    """A run never spans receive_data calls; a frame completed by a later read still delivers."""
    pair = EnginePair()
    sid = pair.request(end_stream=False)
    wire = ff.data(sid, b"abc") + ff.data(sid, b"defg")
    first = pair.server.receive_data(wire[:15])  # frame one whole, frame two partly
    second = pair.server.receive_data(wire[15:])
    assert first == [ev.DataReceived(sid, b"abc", 3)]
    assert second == [ev.DataReceived(sid, b"defg", 4)]


def test_merge_data_off_keeps_one_event_per_frame() -> None:
    class PerFrame(MuxConnection):
        merge_data = False

    server = PerFrame(client_side=False)
    client = MuxConnection(client_side=True)
    client.initiate_connection()
    server.initiate_connection()
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    server.receive_data(client.data_to_send())
    sid = client.get_next_available_stream_id()
    client.send_headers(sid, REQUEST, end_stream=False)
    client.send_data(sid, b"ab")
    client.send_data(sid, b"cd")
    events = server.receive_data(client.data_to_send())
    assert events[1:] == [ev.DataReceived(sid, b"ab", 2), ev.DataReceived(sid, b"cd", 2)]


def test_data_frame_is_delivered_piece_by_piece_as_it_arrives() -> None:
    pair = EnginePair()
    sid = pair.request(end_stream=False)
    wire = ff.data(sid, b"abcdefgh", end_stream=True)
    stream = pair.server._streams[sid]
    window = stream.recv_window
    first = pair.server.receive_data(wire[:13])  # header + "abc"
    # The whole frame is debited at its header, the payload handed out as it comes.
    assert stream.recv_window == window - 8
    middle_piece = wire[13:16]
    assert first == [ev.DataReceived(sid, b"abc", 3)]
    middle = pair.server.receive_data(middle_piece)
    assert middle == [ev.DataReceived(sid, b"def", 3)]
    assert isinstance(middle[0], ev.DataReceived)
    assert middle[0].data is middle_piece  # a read inside a payload is not copied
    last = pair.server.receive_data(wire[16:])
    assert last == [ev.DataReceived(sid, b"gh", 2, True), ev.StreamEnded(sid)]


def test_pieces_of_a_frame_on_a_reset_stream_are_credited_back() -> None:
    pair = EnginePair()
    sid = pair.request(end_stream=False)
    wire = ff.data(sid, b"x" * 5000)
    assert pair.server.receive_data(wire[:1010]) == [ev.DataReceived(sid, b"x" * 1000, 1000)]
    pair.server.reset_stream(sid)
    pair.server.data_to_send()
    assert pair.server.receive_data(wire[1010:]) == []
    # The 4000 undelivered bytes go back to the connection window.
    pair.server.acknowledge_received_data(1000, sid)
    server = pair.server
    assert server._recv_window + server._recv_unannounced == server._local.connection_window
