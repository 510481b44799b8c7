"""H2Engine against the HTTP/2 rows of threats.md: every flood ends in a clean GOAWAY."""

from __future__ import annotations

import pytest
from h2frames import (
    POST,
    continuation,
    data,
    goaway,
    ping,
    priority,
    raw_frame,
    resets,
    rst,
    server,
    settings,
    window_update,
)
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from mux.core import events as ev
from mux.core.h2engine import H2Engine
from mux.core.h2guard import PREFACE, H2Limits
from mux.errors import ErrorCode, LocalFlowControlError, RemoteProtocolError


def _calm(engine: H2Engine, chunks: list[bytes] | bytes) -> RemoteProtocolError:
    """Feed chunks until the engine raises; return the error (it must raise)."""
    if isinstance(chunks, bytes):
        chunks = [chunks]
    with pytest.raises(RemoteProtocolError) as info:
        for chunk in chunks:
            engine.receive_data(chunk)
    frame = goaway(engine.data_to_send())
    assert frame is not None and frame.error_code == info.value.code
    return info.value


def test_huge_length_prefix_rejected_on_header() -> None:
    """A 16 MiB length prefix fails on the 9 header bytes: nothing is buffered."""
    engine, _ = server()
    err = _calm(engine, raw_frame(0x0, 0, 1, b"", length=2**24 - 1))
    assert err.code == ErrorCode.FRAME_SIZE_ERROR


def test_continuation_flood() -> None:
    """An endless run of CONTINUATION frames is cut off after the frame budget."""
    engine, peer = server(H2Limits(max_continuation_frames=8))
    chunks = [peer.headers(1, end_headers=False)]
    chunks += [continuation(1, b"\x40\x01a\x01b")] * 20
    assert _calm(engine, chunks).code == ErrorCode.ENHANCE_YOUR_CALM


def test_continuation_byte_budget() -> None:
    """A header block larger than twice MAX_HEADER_LIST_SIZE is cut off by bytes."""
    engine, peer = server(H2Limits(max_header_list_size=4096, max_continuation_frames=100))
    chunks = [peer.headers(1, end_headers=False)]
    chunks += [continuation(1, b"\x00" * 3000)] * 5
    assert _calm(engine, chunks).code == ErrorCode.ENHANCE_YOUR_CALM


def test_empty_data_flood() -> None:
    """Consecutive empty DATA frames (CVE-2019-9518) end the connection."""
    engine, peer = server(H2Limits(max_consecutive_empty_frames=4))
    engine.receive_data(peer.headers(1, POST, end_stream=False))
    assert _calm(engine, [data(1, b"")] * 10).code == ErrorCode.ENHANCE_YOUR_CALM


def test_ping_flood_without_reading() -> None:
    """PINGs whose ACKs are never drained hit the induced-bytes budget."""
    engine, _ = server(H2Limits(max_induced_bytes=1700))
    assert _calm(engine, [ping()] * 200).code == ErrorCode.ENHANCE_YOUR_CALM


def test_ping_flood_with_reading_hits_control_budget() -> None:
    """Even when drained, PINGs without useful work exhaust the control budget."""
    engine, _ = server(H2Limits(control_frame_burst=50))
    with pytest.raises(RemoteProtocolError) as info:
        for _ in range(100):
            engine.receive_data(ping())
            engine.data_to_send()
    assert info.value.code == ErrorCode.ENHANCE_YOUR_CALM


def test_settings_flood_and_huge_settings_frame() -> None:
    """SETTINGS floods and SETTINGS frames with many entries are refused."""
    engine, _ = server(H2Limits(control_frame_burst=20))
    assert _calm(engine, [settings()] * 30).code == ErrorCode.ENHANCE_YOUR_CALM
    engine, _ = server()
    huge = raw_frame(0x4, 0, 0, b"\x00\x03\x00\x00\x00\x64" * 1000)
    assert _calm(engine, huge).code == ErrorCode.ENHANCE_YOUR_CALM


def test_priority_frames_are_dropped_and_budgeted() -> None:
    """PRIORITY frames (even a 120-deep chain) never build state and are budgeted."""
    engine, peer = server(H2Limits(control_frame_burst=500))
    chain = b"".join(priority(sid, sid - 2 if sid > 1 else 0) for sid in range(1, 241, 2))
    assert engine.receive_data(chain) == []
    assert isinstance(engine.receive_data(peer.headers(241))[0], ev.RequestReceived)
    idle = b"".join(priority(sid, 0) for sid in range(1001, 11_001, 2))
    assert _calm(engine, idle).code == ErrorCode.ENHANCE_YOUR_CALM


def test_unknown_frame_flood() -> None:
    """Unknown frame types are ignored but counted."""
    engine, _ = server(H2Limits(control_frame_burst=100))
    assert _calm(engine, raw_frame(0xEE, 0, 0, b"x") * 200).code == ErrorCode.ENHANCE_YOUR_CALM


def test_rapid_reset() -> None:
    """HEADERS + RST_STREAM pairs beyond the budget end with GOAWAY ENHANCE_YOUR_CALM."""
    engine, peer = server(H2Limits(reset_min_count=50))
    chunks = [peer.headers(sid, end_stream=False) + rst(sid) for sid in range(1, 400, 2)]
    err = _calm(engine, chunks)
    assert err.code == ErrorCode.ENHANCE_YOUR_CALM


def test_made_you_reset_counts_server_resets() -> None:
    """Streams we reset because of the peer (WINDOW_UPDATE 0) count toward the budget."""
    engine, peer = server(H2Limits(reset_min_count=50))
    chunks = [
        peer.headers(sid, end_stream=False) + window_update(sid, 0) for sid in range(1, 400, 2)
    ]
    assert _calm(engine, chunks).code == ErrorCode.ENHANCE_YOUR_CALM


def test_normal_cancellations_are_tolerated() -> None:
    """A client that cancels a minority of its streams is not punished."""
    engine, peer = server(H2Limits(reset_min_count=50))
    for sid in range(1, 2000, 2):
        engine.receive_data(peer.headers(sid, end_stream=False))
        if sid % 6 == 1:
            engine.receive_data(rst(sid))
        else:
            engine.receive_data(data(sid, b"x", "END_STREAM"))
            engine.acknowledge_received_data(1, sid)
            engine.send_headers(sid, [(b":status", b"200")], end_stream=True)
        engine.data_to_send()


def test_hpack_bomb() -> None:
    """A header block that decodes past MAX_HEADER_LIST_SIZE is ENHANCE_YOUR_CALM."""
    engine, peer = server(H2Limits(max_header_list_size=8192))
    big = [(b"x-big", b"a" * 4000)]
    engine.receive_data(peer.headers(1, [*POST, *big], end_stream=False))
    bomb = peer.headers(3, [*POST] + big * 50)  # indexed references: tiny on the wire
    assert _calm(engine, bomb).code == ErrorCode.ENHANCE_YOUR_CALM


def test_zero_window_hold_never_buffers() -> None:
    """With the peer's window at 0, send_data refuses instead of buffering."""
    engine, peer = server()
    engine.receive_data(settings(INITIAL_WINDOW_SIZE=0))
    engine.receive_data(peer.headers(1))
    engine.send_headers(1, [(b":status", b"200")])
    assert engine.local_flow_control_window(1) == 0
    with pytest.raises(LocalFlowControlError):
        engine.send_data(1, b"x")


def test_too_many_streams_refused_not_goaway() -> None:
    """Streams beyond the limit are refused one by one; earlier streams survive."""
    engine, peer = server(H2Limits(max_concurrent_streams=3))
    for sid in (1, 3, 5):
        engine.receive_data(peer.headers(sid, end_stream=False))
    for sid in (7, 9):
        assert engine.receive_data(peer.headers(sid)) == [
            ev.StreamReset(sid, ErrorCode.REFUSED_STREAM, remote=False)
        ]
    assert resets(engine.data_to_send()) == {
        7: ErrorCode.REFUSED_STREAM,
        9: ErrorCode.REFUSED_STREAM,
    }
    assert engine.open_inbound_streams == 3


def test_internal_error_becomes_goaway(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unexpected exception inside h2 becomes GOAWAY INTERNAL_ERROR, never escapes raw."""
    engine, peer = server()

    def boom(*_: object) -> None:
        raise KeyError("h2 bug")

    # The dispatch table looks handlers up on the connection, so this reaches it.
    monkeypatch.setattr(engine._h2, "_receive_headers_frame", boom)
    assert _calm(engine, peer.headers(1)).code == ErrorCode.INTERNAL_ERROR
    with pytest.raises(RemoteProtocolError):
        engine.receive_data(peer.headers(3))


_PRELUDE = PREFACE + settings()


@hsettings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.integers(min_value=1, max_value=50))
def test_fuzz_only_events_or_remote_protocol_error(noise: bytes, step: int) -> None:
    """Any bytes, in any chunking: events or RemoteProtocolError, never another exception."""
    engine = H2Engine(client_side=False)
    engine.initiate_connection()
    payload = _PRELUDE + noise
    try:
        for i in range(0, len(payload), step):
            engine.receive_data(payload[i : i + step])
    except RemoteProtocolError:
        assert goaway(engine.data_to_send()) is not None


_FRAMES = st.sampled_from(
    [
        data(1, b"abc"),
        data(1, b"", "END_STREAM"),
        rst(1),
        rst(3),
        priority(1, 1),
        priority(3, 0),
        ping(),
        settings(),
        raw_frame(0x8, 0, 1, b"\0\0\0\0"),
        raw_frame(0x8, 0, 1, b"\0\0\0\x10"),
        raw_frame(0x9, 4, 1, b"\x82"),
        raw_frame(0xAB, 0, 0, b""),
        raw_frame(0x3, 0, 5, b"\0\0\0\x08"),
    ]
)


@hsettings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(_FRAMES, st.integers(min_value=0, max_value=3)), max_size=30))
def test_fuzz_frame_orderings(script: list[bytes | int]) -> None:
    """Any ordering of valid-looking frames (including late ones) stays clean."""
    engine, peer = server()
    try:
        for step in script:
            if isinstance(step, int):
                sid = engine.highest_inbound_stream_id + 2 if step else 1
                engine.receive_data(peer.headers(sid, end_stream=step % 2 == 0))
                if step == 3 and engine.local_flow_control_window(sid):
                    engine.send_headers(sid, [(b":status", b"200")], end_stream=True)
            else:
                engine.receive_data(step)
            engine.data_to_send()
    except RemoteProtocolError:
        pass
