"""The engine's h2 bypasses (fast_send_headers, fast_end_stream, fast inbound
HEADERS) against h2's own paths: the same scripted exchange is run with the
fast paths on and forced off, and the bytes, events, stream states and windows
must be identical; a real h2 client must accept what the fast paths write."""

from __future__ import annotations

from typing import Any

import h2.config
import h2.connection
import h2.events
import pytest

from mux.core import events as ev
from mux.core.h2conn import HardenedH2Connection
from mux.core.h2engine import H2Engine
from mux.core.h2guard import PREFACE
from mux.errors import LocalProtocolError
from tests.core.h2frames import POST, REQUEST, Peer, data, settings, settings_ack

BIG = b"v" * 40_000  # beyond 16 KiB: the response block is split (CONTINUATION)


def _script() -> list[bytes]:
    """Client bytes: many request shapes, in one connection."""
    peer = Peer()
    wire = [PREFACE + settings() + settings_ack()]
    for sid in range(1, 41, 2):
        wire.append(peer.headers(sid))  # GET, END_STREAM
    wire.append(peer.headers(41, POST, end_stream=False))  # open, then DATA
    wire.append(data(41, b"body", "END_STREAM"))
    wire.append(peer.headers(43, [*POST, (b"content-length", b"2")], end_stream=False))
    wire.append(data(43, b"ok", "END_STREAM"))
    wire.append(peer.headers(45, [*POST, (b"content-length", b"2")], end_stream=False))
    wire.append(data(45, b"toolong", "END_STREAM"))  # malformed: stream error
    wire.append(peer.headers(47, [*REQUEST, (b"Bad", b"x")]))  # uppercase: malformed
    for sid in range(49, 61, 2):
        wire.append(peer.headers(sid, REQUEST, end_stream=False))
    return wire


def _respond(engine: H2Engine, sid: int) -> None:
    """Many response shapes, chosen by stream id."""
    shape = sid % 12
    if shape == 1:
        engine.send_headers(sid, [(b":status", b"200")], end_stream=True)
    elif shape == 3:
        engine.send_headers(sid, [(b":status", b"100")])  # informational: h2's path
        engine.send_headers(sid, [(b":status", b"200")])
        engine.send_data(sid, b"", end_stream=True)
    elif shape == 5:
        engine.send_headers(sid, [(b":status", b"200"), (b"x-big", BIG)])
        engine.end_stream(sid)
    elif shape == 7:
        engine.send_headers(sid, [(b":status", b"200"), (b"grpc", b"x")])
        engine.send_data(sid, b"payload")
        engine.send_headers(sid, [(b"grpc-status", b"0")], end_stream=True)  # trailers
    else:
        engine.send_headers(sid, [(b":status", b"204"), (b"server", b"mux")])
        engine.send_data(sid, b"", end_stream=True)


def _run() -> tuple[list[Any], list[bytes], tuple[Any, ...]]:
    engine = H2Engine(client_side=False)
    engine.initiate_connection()
    events: list[Any] = []
    out = [engine.data_to_send()]
    for chunk in _script():
        got = engine.receive_data(chunk)
        events.append(got)
        for e in got:
            if (isinstance(e, ev.RequestReceived) and e.stream_id % 4 != 3) or (
                isinstance(e, ev.StreamEnded) and e.stream_id % 4 == 3
            ):
                _respond(engine, e.stream_id)  # before / after the request ends
        out.append(engine.data_to_send())
    engine.send_headers(51, [(b":status", b"200")])  # open stream, request not ended
    out.append(engine.data_to_send())
    errors = []
    for sid, fields in (
        (1, [(b":status", b"200")]),  # closed
        (999, [(b":status", b"200")]),  # idle: servers cannot open streams
        (51, [(b"x", b"y")]),  # trailers without END_STREAM
        (51, [(b":status", b"200")]),  # a second response without END_STREAM
    ):
        with pytest.raises(LocalProtocolError) as info:
            engine.send_headers(sid, fields)
        errors.append(str(info.value))
    h2c = engine._h2
    machines = [
        (sid, s.state_machine.state, s.state_machine.headers_sent, s.state_machine.trailers_sent)
        for sid, s in h2c.streams.items()
    ]
    state = (
        machines,
        dict(h2c._closed_streams),
        h2c.outbound_flow_control_window,
        engine.open_inbound_streams,
        h2c.encoder.header_table.dynamic_entries,
        h2c.decoder.header_table.dynamic_entries,
        errors,
    )
    return events, out, state


def test_fast_paths_equal_h2_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    taken = {"send": 0, "end": 0, "recv": 0}

    def counting(name: str, attr: str) -> Any:
        real = getattr(HardenedH2Connection, attr)

        def wrapper(*args: Any) -> Any:
            result = real(*args)
            taken[name] += result not in (False, None)
            return result

        return wrapper

    for name, attr in (
        ("send", "fast_send_headers"),
        ("end", "fast_end_stream"),
        ("recv", "_fast_headers"),
    ):
        monkeypatch.setattr(HardenedH2Connection, attr, counting(name, attr))
    fast = _run()
    assert min(taken.values()) >= 5, taken  # the fast paths did the bulk
    monkeypatch.setattr(HardenedH2Connection, "fast_send_headers", lambda *a: False)
    monkeypatch.setattr(HardenedH2Connection, "fast_end_stream", lambda *a: False)
    monkeypatch.setattr(HardenedH2Connection, "_fast_headers", lambda *a: None)
    slow = _run()
    assert fast[0] == slow[0]
    assert fast[1] == slow[1]
    assert fast[2] == slow[2]


def test_real_h2_client_reads_fast_path_responses() -> None:
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    client.initiate_connection()
    engine = H2Engine(client_side=False)
    engine.initiate_connection()
    client.receive_data(engine.data_to_send())
    engine.receive_data(client.data_to_send())
    for _ in range(3):  # the second and third rounds hit the memo
        for sid in (client.get_next_available_stream_id() for _ in range(4)):
            client.send_headers(sid, REQUEST, end_stream=True)
        for e in engine.receive_data(client.data_to_send()):
            if isinstance(e, ev.RequestReceived):
                _respond(engine, e.stream_id)
        got = client.receive_data(engine.data_to_send())
        ended = {e.stream_id for e in got if isinstance(e, h2.events.StreamEnded)}
        big = [
            e for e in got if isinstance(e, h2.events.ResponseReceived) and e.stream_id % 12 == 5
        ]
        assert len(ended) == 4
        assert all((b"x-big", BIG) in e.headers for e in big)
    assert engine.open_inbound_streams == 0
    assert client.open_outbound_streams == 0


def test_fast_stream_has_exactly_h2_stream_attributes() -> None:
    """_FastStream copies H2Stream.__init__: an h2 upgrade adding a field fails here."""
    from h2.stream import H2Stream

    from mux.core.h2conn import HeaderMemo, _FastStream

    config = h2.config.H2Configuration(client_side=False)
    plain = H2Stream(1, config=config, inbound_window_size=10, outbound_window_size=20)
    fast = _FastStream(1, HeaderMemo(), [0, 0], [], config, 10, 20)
    assert set(vars(fast)) - {"_memo"} == set(vars(plain))
    for name, value in vars(plain).items():
        if name not in ("state_machine", "_inbound_window_manager"):
            assert getattr(fast, name) == value, name
    assert vars(fast._inbound_window_manager) == vars(plain._inbound_window_manager)
    assert fast.state_machine.state is plain.state_machine.state
