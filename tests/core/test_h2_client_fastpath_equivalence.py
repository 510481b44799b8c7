"""The client side of the engine's h2 bypasses (requests, DATA and END_STREAM
sent; responses and DATA received) against h2's own paths: the same scripted
exchange is run with the fast paths on and forced off, and the bytes, events,
stream states and windows must be identical; a real h2 server must read what
the fast paths write, and its answers must come out as h2 would give them."""

from __future__ import annotations

from typing import Any

import h2.config
import h2.connection
import h2.events
import pytest

from mux.core import events as ev
from mux.core.h2conn import HardenedH2Connection
from mux.core.h2engine import H2Engine
from mux.errors import LocalFlowControlError, LocalProtocolError, RemoteProtocolError
from tests.core.h2frames import POST, REQUEST, Peer, data, frame, settings, settings_ack

BIG = b"v" * 40_000  # beyond 16 KiB: the request block is split (CONTINUATION)
HEAD = [(b":method", b"HEAD"), *REQUEST[1:]]
OK = [(b":status", b"200")]
FAST = ("fast_send_headers", "fast_send_data", "fast_end_stream", "fast_response", "fast_data")


def _response(peer: Peer, sid: int, shape: int) -> bytes:
    """The server's answer on ``sid``, by shape (raw frames, malformed ones too)."""
    if shape == 0:  # to HEAD as well (content-length without a body)
        return peer.headers(sid, [*OK, (b"content-length", b"10")])
    if shape == 1:
        return peer.headers(sid, OK, end_stream=False) + data(sid, b"hello", "END_STREAM")
    if shape == 2:
        head = [*OK, (b"content-length", b"2")]
        return peer.headers(sid, head, end_stream=False) + data(sid, b"ok", "END_STREAM")
    if shape == 3:  # content-length mismatch: a stream error
        head = [*OK, (b"content-length", b"2")]
        return peer.headers(sid, head, end_stream=False) + data(sid, b"toolong", "END_STREAM")
    if shape == 4:  # informational, then final
        return peer.headers(sid, [(b":status", b"100")], end_stream=False) + peer.headers(sid, OK)
    if shape == 5:  # body and trailers
        return (
            peer.headers(sid, [*OK, (b"grpc", b"x")], end_stream=False)
            + data(sid, b"x" * 300)
            + data(sid, b"")
            + peer.headers(sid, [(b"grpc-status", b"0")])
        )
    if shape == 6:  # uppercase field name: malformed (with END_STREAM: fatal, as in h2)
        return peer.headers(sid, [*OK, (b"Bad", b"x")], end_stream=False)
    if shape == 7:  # a padded DATA frame: h2's path
        return peer.headers(sid, OK, end_stream=False) + frame(
            _padded(sid, b"pad"), "PADDED", "END_STREAM"
        )
    if shape == 8:  # invalid content-length value: malformed
        return peer.headers(sid, [*OK, (b"content-length", b"x1")], end_stream=False)
    # a response before the request ended; DATA without END_STREAM
    return peer.headers(sid, OK, end_stream=False) + data(sid, b"early")


def _padded(sid: int, payload: bytes) -> Any:
    from hyperframe.frame import DataFrame

    f = DataFrame(sid)
    f.data = payload
    f.pad_length = 3
    return f


def _send_request(engine: H2Engine, sid: int, shape: int) -> None:
    """The request on ``sid``, by shape."""
    if shape in (2, 3, 4, 6, 7, 8):
        engine.send_headers(sid, REQUEST, end_stream=True)
    elif shape == 1:
        engine.send_headers(sid, POST)
        engine.send_data(sid, b"body", end_stream=True)
    elif shape == 0:
        engine.send_headers(sid, HEAD if sid % 8 == 1 else REQUEST, end_stream=True)
    elif shape == 5:
        engine.send_headers(sid, [*POST, (b"x-big", BIG)])
        engine.send_data(sid, b"abc")
        engine.end_stream(sid)
    else:
        engine.send_headers(sid, POST)
        engine.send_data(sid, b"first")


def _run() -> tuple[list[Any], list[bytes], tuple[Any, ...]]:
    engine = H2Engine(client_side=True)
    engine.initiate_connection()
    peer = Peer()
    out = [engine.data_to_send()]
    events: list[Any] = [engine.receive_data(settings() + settings_ack())]
    shapes = [*range(10), *range(10), *range(10)]  # later rounds hit the memo
    sids = [1 + 2 * i for i in range(len(shapes))]
    for sid, shape in zip(sids, shapes, strict=True):
        _send_request(engine, sid, shape)
    out.append(engine.data_to_send())
    for sid, shape in zip(sids, shapes, strict=True):
        events.append(engine.receive_data(_response(peer, sid, shape)))
        if shape == 9:  # the request ends after the response began
            engine.send_data(sid, b"last", end_stream=True)
            events.append(engine.receive_data(data(sid, b"", "END_STREAM")))
        out.append(engine.data_to_send())
    errors = []
    for call in (
        lambda: engine.send_data(1, b"closed"),  # closed stream
        lambda: engine.send_data(sids[-1] + 2, b"idle"),  # never opened
        lambda: engine.send_headers(sids[-1] + 1, REQUEST),  # even id
        lambda: engine.send_headers(1, REQUEST),  # reused id
    ):
        with pytest.raises((LocalProtocolError, LocalFlowControlError)) as info:
            call()
        errors.append(str(info.value))
    last = sids[-1] + 2
    engine.send_headers(last, POST)
    window = engine.local_flow_control_window(last)
    engine.send_data(last, b"w" * window)  # exactly the window, in frames
    with pytest.raises(LocalFlowControlError) as info:
        engine.send_data(last, b"w")
    errors.append(str(info.value))
    out.append(engine.data_to_send())
    h2c = engine._h2
    machines = [
        (
            sid,
            s.state_machine.state,
            s.state_machine.client,
            s.state_machine.headers_sent,
            s.state_machine.headers_received,
            s.state_machine.trailers_received,
            s.state_machine.stream_closed_by,
            s.request_method,
            s._authority,
            s._expected_content_length,
            s._actual_content_length,
            s.outbound_flow_control_window,
            s._inbound_window_manager.current_window_size,
        )
        for sid, s in h2c.streams.items()
    ]
    state = (
        machines,
        dict(h2c._closed_streams),
        h2c.state_machine.state,
        h2c.highest_outbound_stream_id,
        h2c.outbound_flow_control_window,
        h2c._inbound_flow_control_window_manager.current_window_size,
        engine.open_outbound_streams,
        h2c.encoder.header_table.dynamic_entries,
        h2c.decoder.header_table.dynamic_entries,
        errors,
    )
    return events, out, state


def test_client_fast_paths_equal_h2_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    taken = dict.fromkeys(FAST, 0)

    def counting(attr: str) -> Any:
        real = getattr(HardenedH2Connection, attr)

        def wrapper(*args: Any) -> Any:
            result = real(*args)
            taken[attr] += result not in (False, None)
            return result

        return wrapper

    for attr in FAST:
        monkeypatch.setattr(HardenedH2Connection, attr, counting(attr))
    fast = _run()
    assert min(taken.values()) >= 3, taken  # every fast path was taken
    for attr in FAST:
        off = (lambda *a: None) if attr.startswith("fast_re") or attr == "fast_data" else None
        monkeypatch.setattr(HardenedH2Connection, attr, off or (lambda *a: False))
    slow = _run()
    assert fast[0] == slow[0]
    assert fast[1] == slow[1]
    assert fast[2] == slow[2]
    resets = [e for batch in fast[0] for e in batch if isinstance(e, ev.StreamReset)]
    assert len(resets) == 9  # shapes 3, 6 and 8, three rounds: stream errors, not fatal


def test_data_before_response_is_the_same_connection_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def run() -> tuple[str, bytes]:
        engine = H2Engine(client_side=True)
        engine.initiate_connection()
        engine.receive_data(settings() + settings_ack())
        engine.send_headers(1, REQUEST, end_stream=True)
        engine.data_to_send()
        with pytest.raises(RemoteProtocolError) as info:
            engine.receive_data(data(1, b"too soon"))
        return str(info.value), engine.data_to_send()

    fast = run()
    monkeypatch.setattr(HardenedH2Connection, "fast_data", lambda *a: None)
    assert run() == fast


def test_real_h2_server_reads_client_fast_paths() -> None:
    server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    server.initiate_connection()
    engine = H2Engine(client_side=True)
    engine.initiate_connection()
    server.receive_data(engine.data_to_send())
    engine.receive_data(server.data_to_send())
    bodies: dict[int, bytes] = {}
    for _ in range(3):  # the second and third rounds hit the memo
        sids = [engine.get_next_available_stream_id() + 2 * i for i in range(4)]
        for sid in sids:
            engine.send_headers(sid, POST)
            engine.send_data(sid, b"q" * sid, end_stream=True)
        got = server.receive_data(engine.data_to_send())
        requests = [e for e in got if isinstance(e, h2.events.RequestReceived)]
        assert [e.headers for e in requests] == [POST] * 4
        for e in got:
            if isinstance(e, h2.events.DataReceived):
                bodies[e.stream_id] = bodies.get(e.stream_id, b"") + e.data
                server.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
        for sid in sids:
            server.send_headers(sid, [*OK, (b"x-sid", str(sid).encode())])
            server.send_data(sid, b"r" * sid, end_stream=True)
        answers = engine.receive_data(server.data_to_send())
        heads = [e for e in answers if isinstance(e, ev.ResponseReceived)]
        assert [dict(e.headers)[b"x-sid"] for e in heads] == [str(s).encode() for s in sids]
        got_data = [e for e in answers if isinstance(e, ev.DataReceived)]
        assert [e.data for e in got_data] == [b"r" * s for s in sids]
        assert all(e.end_stream for e in got_data)
    assert bodies == {sid: b"q" * sid for sid in bodies} and len(bodies) == 12
    assert engine.open_outbound_streams == 0
