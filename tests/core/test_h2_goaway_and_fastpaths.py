"""H2Engine: PING and in-flight streams after a peer GOAWAY (any error code),
the default stream limit, and the fast paths (memoised header work, O(1)
stream counters) giving exactly h2's results."""

from __future__ import annotations

from hpack import Decoder
from hyperframe.frame import GoAwayFrame, HeadersFrame, PingFrame

from mux.core import events as ev
from mux.errors import ErrorCode
from tests.core.h2frames import REQUEST, frame, parse, ping, resets, server


def _goaway(code: int, last: int = 0) -> bytes:
    f = GoAwayFrame(0)
    f.error_code, f.last_stream_id = code, last
    return frame(f)


def test_ping_after_peer_goaway_and_stream_finishes() -> None:
    engine, peer = server()
    engine.receive_data(peer.headers(1))
    got = engine.receive_data(_goaway(0, last=0))
    assert ev.GoAwayReceived(ErrorCode.NO_ERROR, 0, b"") in got
    engine.ping(b"abcdefgh")  # RFC 9113 §6.8: PING is still allowed
    engine.send_headers(1, [(b":status", b"200")])
    engine.send_data(1, b"ok", end_stream=True)
    frames = parse(engine.data_to_send())
    assert any(isinstance(f, PingFrame) and f.opaque_data == b"abcdefgh" for f in frames)
    assert any(isinstance(f, HeadersFrame) and f.stream_id == 1 for f in frames)


def test_unknown_goaway_code_then_ping_gets_ack() -> None:
    """h2spec http2/7/1: an unknown error code triggers nothing special."""
    engine, _peer = server()
    got = engine.receive_data(_goaway(0xFF) + ping(b"h2spec!!"))
    assert any(isinstance(e, ev.GoAwayReceived) for e in got)
    frames = parse(engine.data_to_send())
    acks = [f for f in frames if isinstance(f, PingFrame) and "ACK" in f.flags]
    assert [f.opaque_data for f in acks] == [b"h2spec!!"]
    assert not any(isinstance(f, GoAwayFrame) for f in frames)


def test_stream_beyond_default_limit_refused_others_work() -> None:
    """h2spec http2/5.1.2/1 with the default limit (100): streams stay open."""
    engine, peer = server()
    wire = b"".join(peer.headers(1 + 2 * i, end_stream=False) for i in range(101))
    got = engine.receive_data(wire)
    assert ev.StreamReset(201, ErrorCode.REFUSED_STREAM, remote=False) in got
    assert resets(engine.data_to_send()) == {201: ErrorCode.REFUSED_STREAM}
    assert engine.open_inbound_streams == 100
    engine.send_headers(199, [(b":status", b"200")], end_stream=True)
    assert engine.open_inbound_streams == 100  # 199 half-closed (local): still open
    engine.receive_data(peer.headers(1, [(b"x", b"y")], end_stream=True))  # trailers
    engine.send_headers(1, [(b":status", b"200")], end_stream=True)
    assert engine.open_inbound_streams == 99
    engine.receive_data(peer.headers(203))
    assert 203 not in resets(engine.data_to_send())


def test_repeated_headers_encode_like_h2_and_counts_match_scan() -> None:
    """Memoised inbound/outbound header work and counters equal h2's own."""
    engine, peer = server()
    decoder = Decoder()
    response = [(b":status", b"200"), (b"server", b"mux"), (b"set-cookie", b"a=b")]
    for sid in range(1, 200, 2):
        got = engine.receive_data(peer.headers(sid, [*REQUEST, (b"authorization", b"s3")]))
        request = next(e for e in got if isinstance(e, ev.RequestReceived))
        assert request.headers == [*REQUEST, (b"authorization", b"s3")]
        engine.send_headers(sid, response)
        if sid % 4 == 1:  # vary the table: the cache must notice
            engine.send_headers(sid, [(b"x-n", str(sid).encode())], end_stream=True)
        else:
            engine.send_data(sid, b"", end_stream=True)
        out = parse(engine.data_to_send())
        blocks = [f.data for f in out if isinstance(f, HeadersFrame)]
        assert [bytes(n) for n, _ in decoder.decode(blocks[0], raw=True)] == [
            b":status",
            b"server",
            b"set-cookie",
        ]
        for block in blocks[1:]:
            decoder.decode(block, raw=True)
    h2 = engine._h2
    scan = sum(1 for s in h2.streams.values() if s.open)
    assert engine.open_inbound_streams == scan == 0
    assert len(h2.streams) == 0
