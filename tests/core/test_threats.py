"""One test per msgpack-framing row of threats.md section 2: what the core does."""

from __future__ import annotations

import tracemalloc

import msgpack
import pytest
from helpers import FrameFactory, handshaken_server, parse_frames

from mux.core import events as ev
from mux.core.codec import FrameDecoder
from mux.core.frames import PREFACE, FrameType, decode_goaway
from mux.core.limits import ProtocolLimits
from mux.core.settings import SettingId
from mux.errors import CalmDownError, ErrorCode, FrameSizeError, RemoteProtocolError

ff = FrameFactory()


def goaway_code(server: object) -> int:
    frames = parse_frames(server.data_to_send(), preface=False)  # type: ignore[attr-defined]
    return decode_goaway(frames[-1].payload)[1]


def test_huge_length_prefix_rejected_on_header() -> None:
    """A 0xFFFFFFFF length costs 10 bytes: FRAME_SIZE_ERROR before any payload."""
    server = handshaken_server()
    tracemalloc.start()
    try:
        with pytest.raises(FrameSizeError, match="4294967295"):
            server.receive_data(b"\xff\xff\xff\xff\x00\x00\x00\x00\x00\x01")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024
    assert goaway_code(server) == ErrorCode.FRAME_SIZE_ERROR


def test_slow_trickle_buffer_bounded_by_frame() -> None:
    """Slowloris: a frame trickled byte by byte is buffered once (O(n)); the core never
    waits on a clock, the driver's timeouts end it (threats.md 'Slowloris')."""
    decoder = FrameDecoder(65536)
    data = PREFACE + ff.data(1, b"s" * 65536)
    for i in range(len(data) - 1):
        decoder.receive_data(data[i : i + 1])
        assert decoder.next_frame() is None
    assert decoder.buffered == len(data) - 1 - len(PREFACE)


def test_nesting_depth_bomb() -> None:
    """0x91 repeated 60 000 times in HEADERS: PROTOCOL_ERROR, no recursion error."""
    server = handshaken_server()
    with pytest.raises(RemoteProtocolError) as info:
        server.receive_data(ff.raw(FrameType.HEADERS, 0, 1, b"\x91" * 60000))
    assert info.value.code == ErrorCode.PROTOCOL_ERROR
    server = handshaken_server()
    with pytest.raises(RemoteProtocolError):
        server.receive_data(ff.raw(FrameType.SETTINGS, 0, 0, b"\x81\x01" + b"\x91" * 60000))


@pytest.mark.parametrize(
    "payload",
    [b"\xdd\xff\xff\xff\xff", b"\x92\xc6\xff\xff\xff\xff", b"\x92\xdb\xff\xff\xff\xff"],
)
def test_container_length_claims(payload: bytes) -> None:
    """array32/bin32/str32 claiming 2^32-1 in a few bytes allocate nothing: PROTOCOL_ERROR."""
    server = handshaken_server()
    tracemalloc.start()
    try:
        with pytest.raises(RemoteProtocolError):
            server.receive_data(ff.raw(FrameType.HEADERS, 0, 1, payload))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024


@pytest.mark.parametrize(
    "payload",
    [
        msgpack.packb({"1": 5}),
        msgpack.packb({1.5: 5}),
        b"\x82\x01\x05\x01\x06",
        msgpack.packb({1: 2**64 - 1}),
        msgpack.packb({1: msgpack.ExtType(1, b"x")}),
        msgpack.packb({True: 1}),
    ],
)
def test_map_key_and_type_tricks(payload: bytes) -> None:
    """SETTINGS with str/float/bool keys, duplicates, ext or out-of-range values: rejected."""
    server = handshaken_server()
    with pytest.raises(RemoteProtocolError) as info:
        server.receive_data(ff.raw(FrameType.SETTINGS, 0, 0, payload))
    assert info.value.code == ErrorCode.PROTOCOL_ERROR


def test_settings_entry_flood() -> None:
    """More than 32 SETTINGS entries in one frame: PROTOCOL_ERROR (nghttp2 CVE-2020-11080)."""
    server = handshaken_server()
    with pytest.raises(RemoteProtocolError):
        server.receive_data(ff.settings({100 + i: 1 for i in range(33)}))


def test_window_overflow_and_zero_increment() -> None:
    """Increments to 2^31 and zero increments: stream or connection errors, never wrap."""
    server = handshaken_server()
    server.receive_data(ff.headers(1) + ff.headers(3))
    events = server.receive_data(ff.window_update(1, 2**31 - 1) + ff.window_update(3, 0))
    assert events == [
        ev.StreamReset(1, ErrorCode.FLOW_CONTROL_ERROR, False),
        ev.StreamReset(3, ErrorCode.PROTOCOL_ERROR, False),
    ]
    with pytest.raises(RemoteProtocolError) as info:
        server.receive_data(ff.window_update(0, 2**31 - 1))
    assert info.value.code == ErrorCode.FLOW_CONTROL_ERROR
    server = handshaken_server()
    server.receive_data(ff.headers(1))
    with pytest.raises(RemoteProtocolError) as info:  # settings delta overflowing a stream
        server.receive_data(
            ff.window_update(1, 2**31 - 262145)
            + ff.settings({SettingId.INITIAL_STREAM_WINDOW: 262146})
        )
    assert info.value.code == ErrorCode.FLOW_CONTROL_ERROR


@pytest.mark.parametrize(
    ("frame", "budget"),
    [
        (ff.ping(), "max_control_frames_without_progress"),
        (ff.settings(), "max_control_frames_without_progress"),
        (ff.window_update(0, 1), "max_control_frames_without_progress"),
        (ff.raw(0x55, 0, 0, b"junk"), "max_unknown_frames"),
        (ff.data(1), "max_empty_frames"),
    ],
)
def test_frame_floods(frame: bytes, budget: str) -> None:
    """Floods of cheap frames end in ENHANCE_YOUR_CALM once their budget is spent."""
    limits = ProtocolLimits(**{budget: 50})
    server = handshaken_server(limits)
    server.receive_data(ff.headers(1))
    with pytest.raises(CalmDownError):
        for _ in range(60):
            server.receive_data(frame)
            server.data_to_send()  # the driver drains: only the flood budget binds
    assert goaway_code(server) == ErrorCode.ENHANCE_YOUR_CALM


def test_progress_resets_control_budget() -> None:
    """Pings interleaved with real requests never trip the control budget."""
    server = handshaken_server(ProtocolLimits(max_control_frames_without_progress=5))
    for i in range(50):
        server.receive_data(ff.ping() * 4 + ff.headers(2 * i + 1, end_stream=True))
        server.data_to_send()


def test_undrained_induced_frames_bounded() -> None:
    """A peer that pings while never reading: induced PONGs queue up to a budget."""
    server = handshaken_server(ProtocolLimits(max_queued_control_frames=100))
    with pytest.raises(CalmDownError, match="not drained"):
        for _ in range(20):
            server.receive_data(ff.ping() * 10)  # driver cannot drain: peer not reading
    assert len(server.data_to_send()) < 200 * 18


def test_stream_open_flood_refused_then_calm() -> None:
    """Opens beyond MAX_CONCURRENT_STREAMS get REFUSED_STREAM; past the budget, GOAWAY."""
    server = handshaken_server(ProtocolLimits(max_concurrent_streams=4, max_refused_streams=20))
    server.receive_data(ff.settings(ack=True))
    opened = server.receive_data(b"".join(ff.headers(i) for i in range(1, 9, 2)))
    assert len(opened) == 4
    with pytest.raises(CalmDownError):
        server.receive_data(b"".join(ff.headers(i) for i in range(9, 99, 2)))
    assert server.open_inbound_streams == 4


def test_rapid_reset_budget() -> None:
    """HEADERS + RST_STREAM pairs: premature resets past the budget end the connection."""
    server = handshaken_server(ProtocolLimits(max_premature_resets=30))
    with pytest.raises(CalmDownError, match="premature"):
        for sid in range(1, 200, 2):
            server.receive_data(ff.headers(sid) + ff.rst(sid))
            server.data_to_send()
    assert server.open_inbound_streams == 0


def test_made_you_reset_counted() -> None:
    """Resets we are tricked into sending (zero WINDOW_UPDATE) count toward the same budget."""
    server = handshaken_server(ProtocolLimits(max_premature_resets=30))
    with pytest.raises(CalmDownError):
        for sid in range(1, 200, 2):
            server.receive_data(ff.headers(sid) + ff.window_update(sid, 0))
            server.data_to_send()


@pytest.mark.parametrize(
    "frames",
    [
        [ff.headers(5), ff.headers(3)],  # 3 is below 5 but never opened: closed, not reusable
        [ff.headers(1, end_stream=True), ff.headers(1)],  # reuse of a half-closed stream
        [ff.headers(4)],  # even id from a client
    ],
)
def test_stream_id_reuse_and_regression(frames: list[bytes]) -> None:
    """Ids never go back: a reused or lower id never opens a new stream."""
    server = handshaken_server()
    opened = 0
    try:
        for frame in frames:
            opened += sum(isinstance(e, ev.RequestReceived) for e in server.receive_data(frame))
    except RemoteProtocolError as exc:
        assert exc.code == ErrorCode.PROTOCOL_ERROR
    assert opened <= 1


def test_stream_id_exhaustion_client_side() -> None:
    """The client stops at 2^31-1 and asks for a new connection."""
    from helpers import REQUEST

    from mux.core.connection import MuxConnection
    from mux.errors import LocalProtocolError

    client = MuxConnection(client_side=True)
    client.initiate_connection()
    client.send_headers(2**31 - 1, REQUEST, end_stream=True)
    with pytest.raises(LocalProtocolError, match="exhausted"):
        client.get_next_available_stream_id()


def test_decode_cost_bounded_by_header_limit() -> None:
    """Decode-cost asymmetry: HEADERS above MAX_HEADER_LIST_SIZE are never decoded."""
    server = handshaken_server(ProtocolLimits(max_header_list_size=1024))
    server.receive_data(ff.settings(ack=True))
    events = server.receive_data(ff.raw(FrameType.HEADERS, 0, 1, b"\x91" * 5000))
    assert events == []  # stream error HEADER_LIST_TOO_LARGE, connection alive
    assert not server.is_closed
