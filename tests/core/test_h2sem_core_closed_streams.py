"""The engine ignores frames on a stream it reset (RFC 9113 §5.1), boundedly.

Late DATA still returns its connection credit and a late header block is still
decoded (HPACK stays in sync); a stream the peer reset, or one no longer
remembered, keeps its RFC answer.
"""

from __future__ import annotations

from hyperframe.frame import WindowUpdateFrame

from mux.core import events as ev
from mux.core.h2guard import H2Limits
from mux.errors import ErrorCode, RemoteProtocolError
from tests.core.h2frames import POST, REQUEST, data, parse, resets, rst, server


def test_late_data_and_trailers_after_our_reset_are_dropped_with_credit() -> None:
    engine, peer = server()
    engine.receive_data(peer.headers(1, POST, end_stream=False))
    engine.reset_stream(1, ErrorCode.CANCEL)
    assert resets(engine.data_to_send()) == {1: ErrorCode.CANCEL}
    out = b""
    events: list[ev.Event] = []
    for _ in range(40):  # 640 KiB: more than half the 1 MiB connection window
        events += engine.receive_data(data(1, b"x" * 16_384))
        out += engine.data_to_send()
    # Trailers on the reset stream: decoded, dropped; the next request still decodes.
    events += engine.receive_data(peer.headers(1, [(b"x-t", b"1")], end_stream=True))
    events += engine.receive_data(peer.headers(3, REQUEST))
    out += engine.data_to_send()
    assert resets(out) == {}
    credit = sum(
        f.window_increment
        for f in parse(out)
        if isinstance(f, WindowUpdateFrame) and f.stream_id == 0
    )
    assert credit >= 512 * 1024
    requests = [e for e in events if isinstance(e, ev.RequestReceived)]
    assert [r.stream_id for r in requests] == [3]
    assert (b":path", b"/") in requests[0].headers
    assert not [e for e in events if isinstance(e, ev.DataReceived)]


def test_data_after_the_peers_reset_is_a_stream_error() -> None:
    engine, peer = server()
    engine.receive_data(peer.headers(1, POST, end_stream=False) + rst(1, ErrorCode.CANCEL))
    engine.data_to_send()
    engine.receive_data(data(1, b"late"))
    assert resets(engine.data_to_send()) == {1: ErrorCode.STREAM_CLOSED}


def test_a_forgotten_reset_stream_is_no_longer_excused() -> None:
    """The record is bounded (closed_stream_memory): once stream 1 is
    forgotten, its DATA is answered as for any closed stream."""
    engine, peer = server(H2Limits(closed_stream_memory=2))
    engine.receive_data(peer.headers(1, POST, end_stream=False))
    engine.reset_stream(1, ErrorCode.CANCEL)
    for sid in (3, 5, 7):
        engine.receive_data(peer.headers(sid, REQUEST))
        engine.send_headers(sid, [(b":status", b"200")], end_stream=True)
    engine.data_to_send()
    try:
        engine.receive_data(data(1, b"late"))
    except RemoteProtocolError:
        return  # a connection error is allowed for an unknown closed stream
    assert 1 in resets(engine.data_to_send())
