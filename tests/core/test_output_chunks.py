"""Large DATA payloads are queued by reference and drained as chunks, in order."""

from __future__ import annotations

from helpers import REQUEST, RESPONSE, EnginePair, handshaken_client, parse_frames

from mux.core import events as ev
from mux.core.connection import BY_REFERENCE
from mux.core.frames import FrameType


def test_big_payload_is_not_copied_and_order_is_kept() -> None:
    """Frame headers, a control frame and 2.5 frames of payload come out in order."""
    client = handshaken_client()
    sid = client.get_next_available_stream_id()
    client.send_headers(sid, REQUEST)
    body = bytes(range(256)) * 640  # 160 KiB: 3 frames at the 64 KiB max frame size
    client.send_data(sid, body)
    client.ping(b"pingpong")
    chunks = client.data_to_send_chunks()
    views = [c for c in chunks if isinstance(c, memoryview)]
    assert views and all(v.obj is body for v in views)  # by reference, not copied
    frames = parse_frames(b"".join(chunks), preface=False)
    kinds = [f.type for f in frames]
    assert kinds == [FrameType.HEADERS, *[FrameType.DATA] * 3, FrameType.PING]
    assert b"".join(f.payload for f in frames[1:4]) == body
    assert client.data_to_send_chunks() == []
    assert client.data_to_send() == b""


def test_small_or_mutable_payloads_are_copied() -> None:
    client = handshaken_client()
    sid = client.get_next_available_stream_id()
    client.send_headers(sid, REQUEST)
    client.send_data(sid, b"x" * (BY_REFERENCE - 1))
    client.send_data(sid, bytearray(b"y" * BY_REFERENCE))  # type: ignore[arg-type]
    chunks = client.data_to_send_chunks()
    assert len(chunks) == 1 and type(chunks[0]) is bytes


def test_joined_drain_matches_the_chunks_end_to_end() -> None:
    pair = EnginePair()
    sid = pair.request(end_stream=True)
    pair.to_server()
    body = b"z" * 100_000
    pair.server.send_headers(sid, RESPONSE)
    pair.server.send_data(sid, body, end_stream=True)
    events = pair.to_client()  # data_to_send() joins the chunks
    assert events[0] == ev.ResponseReceived(sid, RESPONSE)
    data = b"".join(e.data for e in events if isinstance(e, ev.DataReceived))
    assert data == body
    assert events[-1] == ev.StreamEnded(sid)
