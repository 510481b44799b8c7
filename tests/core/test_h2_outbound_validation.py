"""Outbound header validation of the HTTP/2 engine (RFC 9113 §8.2-8.3): a
refused ``send_headers`` raises LocalProtocolError and changes nothing (no
bytes, no stream state, no HPACK state), so a valid list can follow: the
server's 500 fallback goes out as the response, read by a real h2 peer."""

from __future__ import annotations

from typing import Any

import h2.config
import h2.connection
import h2.events
import pytest

from mux.core import events as ev
from mux.core.h2conn import HardenedH2Connection
from mux.core.h2engine import H2Engine
from mux.errors import LocalProtocolError
from tests.core.h2frames import POST, REQUEST

OK = [(b":status", b"200")]
FALLBACK = [(b":status", b"500"), (b"content-type", b"text/plain")]

BAD_RESPONSES: dict[str, Any] = {
    "space in name": [*OK, (b"Bad Name", b"x")],
    "uppercase name": [*OK, (b"Content-Type", b"text/plain")],
    "connection": [*OK, (b"connection", b"close")],
    "keep-alive": [*OK, (b"keep-alive", b"5")],
    "transfer-encoding": [*OK, (b"transfer-encoding", b"chunked")],
    "te not trailers": [*OK, (b"te", b"gzip")],
    "LF in value": [*OK, (b"x", b"a\nb")],
    "CR in value": [*OK, (b"x", b"a\rb")],
    "NUL in value": [*OK, (b"x", b"a\x00b")],
    "leading space": [*OK, (b"x", b" a")],
    "trailing tab": [*OK, (b"x", b"a\t")],
    "no status": [(b"content-type", b"text/plain")],
    "status 99": [(b":status", b"99")],
    "status 600": [(b":status", b"600")],
    "status 101": [(b":status", b"101")],
    "status not digits": [(b":status", b"2x0")],
    "request pseudo": [*OK, (b":path", b"/")],
    "pseudo after field": [(b"x", b"y"), *OK],
    "duplicate status": [*OK, *OK],
    "str fields": [(":status", "200")],
}
BAD_TRAILERS: dict[str, Any] = {
    "pseudo": [(b":status", b"200")],
    "space in name": [(b"grpc status", b"0")],
    "connection": [(b"connection", b"close")],
    "LF in value": [(b"grpc-message", b"a\nb")],
    "trailing space": [(b"grpc-message", b"a ")],
}
BAD_REQUESTS: dict[str, Any] = {
    "no path": [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"x")],
    "no scheme": [(b":method", b"GET"), (b":path", b"/"), (b":authority", b"x")],
    "no authority": [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/")],
    "status": [*REQUEST, (b":status", b"200")],
    "uppercase name": [*REQUEST, (b"User-Agent", b"x")],
    "connection": [*REQUEST, (b"connection", b"keep-alive")],
    "upgrade": [*REQUEST, (b"upgrade", b"h2c")],
    "te gzip": [*REQUEST, (b"te", b"gzip")],
    "path not origin form": [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"x")],
    "CR in value": [*REQUEST, (b"cookie", b"a\r")],
}


class Pair:
    """A real h2 client (the h2 library) and our server engine, in memory."""

    def __init__(self) -> None:
        self.client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.client.initiate_connection()
        self.server = H2Engine(client_side=False)
        self.server.initiate_connection()
        self.pump()

    def pump(self) -> tuple[list[Any], list[ev.Event]]:
        """Deliver queued bytes both ways until quiet; return both sides' events."""
        got_client: list[Any] = []
        got_server: list[ev.Event] = []
        for _ in range(10):
            to_server = self.client.data_to_send()
            if to_server:
                got_server += self.server.receive_data(to_server)
            to_client = self.server.data_to_send()
            if to_client:
                got_client += self.client.receive_data(to_client)
            if not to_server and not to_client:
                break
        return got_client, got_server

    def request(self, headers: Any = None, end_stream: bool = True) -> int:
        sid = int(self.client.get_next_available_stream_id())
        self.client.send_headers(
            sid, REQUEST if headers is None else headers, end_stream=end_stream
        )
        _, got = self.pump()
        assert any(isinstance(e, ev.RequestReceived) and e.stream_id == sid for e in got)
        return sid


def snapshot(engine: H2Engine) -> tuple[Any, ...]:
    """Everything a refused command must leave as it was."""
    h2c = engine._h2
    streams = {
        sid: (s.state_machine.state, s.state_machine.headers_sent, s.state_machine.trailers_sent)
        for sid, s in h2c.streams.items()
    }
    return (
        streams,
        h2c.state_machine.state,
        h2c.highest_outbound_stream_id,
        list(h2c.encoder.header_table.dynamic_entries),
        h2c.outbound_flow_control_window,
        bytes(h2c._data_to_send),
        bytes(engine._out),
    )


def refused(engine: H2Engine, sid: int, headers: Any, end_stream: bool = False) -> str:
    """Assert that sending ``headers`` is refused with no trace; the message."""
    before = snapshot(engine)
    with pytest.raises(LocalProtocolError) as info:
        engine.send_headers(sid, headers, end_stream=end_stream)
    assert snapshot(engine) == before
    return str(info.value)


@pytest.mark.parametrize("name", sorted(BAD_RESPONSES))
def test_invalid_response_refused_then_500_goes_out_as_the_response(name: str) -> None:
    pair = Pair()
    sid = pair.request()
    bad = BAD_RESPONSES[name]
    refused(pair.server, sid, bad)
    refused(pair.server, sid, bad, end_stream=True)  # again: the cached verdict
    pair.server.send_headers(sid, FALLBACK)
    pair.server.send_data(sid, b"internal error", end_stream=True)
    got, _ = pair.pump()
    responses = [e for e in got if isinstance(e, h2.events.ResponseReceived)]
    assert [e.headers for e in responses] == [FALLBACK]
    assert not any(isinstance(e, h2.events.TrailersReceived | h2.events.StreamReset) for e in got)
    assert b"".join(e.data for e in got if isinstance(e, h2.events.DataReceived)) == (
        b"internal error"
    )
    assert any(isinstance(e, h2.events.StreamEnded) and e.stream_id == sid for e in got)


def test_refusal_messages_name_the_problem() -> None:
    pair = Pair()
    sid = pair.request()
    assert "Bad Name" in refused(pair.server, sid, BAD_RESPONSES["space in name"])
    assert "connection" in refused(pair.server, sid, BAD_RESPONSES["connection"])
    assert ":status" in refused(pair.server, sid, BAD_RESPONSES["no status"])
    assert "whitespace" in refused(pair.server, sid, BAD_RESPONSES["leading space"])


@pytest.mark.parametrize("name", sorted(BAD_TRAILERS))
def test_invalid_trailers_refused_then_valid_trailers_sent(name: str) -> None:
    pair = Pair()
    sid = pair.request(POST, end_stream=False)  # request still open: trailers keep it open
    pair.server.send_headers(sid, [*OK, (b"content-type", b"application/grpc")])
    pair.server.send_data(sid, b"payload")
    refused(pair.server, sid, BAD_TRAILERS[name], end_stream=True)
    assert "END_STREAM" in refused(pair.server, sid, [(b"grpc-status", b"0")])  # not ending
    pair.server.send_headers(sid, [(b"grpc-status", b"0")], end_stream=True)
    got, _ = pair.pump()
    trailers = [e for e in got if isinstance(e, h2.events.TrailersReceived)]
    assert [e.headers for e in trailers] == [[(b"grpc-status", b"0")]]
    assert not any(isinstance(e, h2.events.StreamReset) for e in got)


def test_informational_responses() -> None:
    pair = Pair()
    sid = pair.request()
    assert "informational" in refused(pair.server, sid, [(b":status", b"103")], end_stream=True)
    refused(pair.server, sid, [(b":status", b"101")])
    pair.server.send_headers(sid, [(b":status", b"103"), (b"link", b"</a.css>; rel=preload")])
    pair.server.send_headers(sid, OK)
    refused(pair.server, sid, [(b":status", b"100")], end_stream=True)  # after the final
    pair.server.end_stream(sid)
    got, _ = pair.pump()
    kinds = [
        type(e)
        for e in got
        if isinstance(e, h2.events.ResponseReceived | h2.events.InformationalResponseReceived)
    ]
    assert kinds == [h2.events.InformationalResponseReceived, h2.events.ResponseReceived]


def test_refused_on_stream_closed_for_sending_keeps_it_usable() -> None:
    """h2 closes a stream on a transition it refuses; we change nothing."""
    pair = Pair()
    sid = pair.request(POST, end_stream=False)
    pair.server.send_headers(sid, OK, end_stream=True)  # our half ends, the peer's is open
    refused(pair.server, sid, OK)
    refused(pair.server, sid, [(b"x", b"y")], end_stream=True)
    pair.client.send_data(sid, b"late body", end_stream=True)
    got_client, got_server = pair.pump()
    assert [e.data for e in got_server if isinstance(e, ev.DataReceived)] == [b"late body"]
    assert any(isinstance(e, ev.StreamEnded) for e in got_server)
    assert not any(isinstance(e, h2.events.StreamReset) for e in got_client)
    assert pair.server.open_inbound_streams == 0


def test_server_cannot_open_streams() -> None:
    pair = Pair()
    for sid in (2, 3, 4):
        refused(pair.server, sid, OK)


class ServerPeer:
    """A real h2 server (the h2 library) and our client engine, in memory."""

    def __init__(self) -> None:
        self.server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        self.server.initiate_connection()
        self.client = H2Engine(client_side=True)
        self.client.initiate_connection()
        self.pump()

    def pump(self) -> list[Any]:
        got: list[Any] = []
        for _ in range(10):
            to_server = self.client.data_to_send()
            if to_server:
                got += self.server.receive_data(to_server)
            to_client = self.server.data_to_send()
            if to_client:
                self.client.receive_data(to_client)
            if not to_server and not to_client:
                break
        return got


@pytest.mark.parametrize("name", sorted(BAD_REQUESTS))
def test_client_invalid_request_refused_then_valid_request_on_same_id(name: str) -> None:
    peer = ServerPeer()
    engine = peer.client
    sid = engine.get_next_available_stream_id()
    refused(engine, sid, BAD_REQUESTS[name], end_stream=True)
    assert engine.get_next_available_stream_id() == sid
    assert engine.open_outbound_streams == 0
    engine.send_headers(sid, POST)
    engine.send_data(sid, b"body")
    refused(engine, sid, [(b":path", b"/")], end_stream=True)  # pseudo in trailers
    refused(engine, sid, [(b"x-checksum", b"1")])  # trailers must end the stream
    engine.send_headers(sid, [(b"x-checksum", b"1")], end_stream=True)
    got = peer.pump()
    requests = [e for e in got if isinstance(e, h2.events.RequestReceived)]
    assert [(e.stream_id, e.headers) for e in requests] == [(sid, POST)]
    trailers = [e for e in got if isinstance(e, h2.events.TrailersReceived)]
    assert [e.headers for e in trailers] == [[(b"x-checksum", b"1")]]


def test_client_bad_stream_ids_refused() -> None:
    peer = ServerPeer()
    engine = peer.client
    refused(engine, 2, REQUEST)  # even: a server's id
    refused(engine, 0, REQUEST)
    refused(engine, 2**31 + 1, REQUEST)
    engine.send_headers(3, REQUEST, end_stream=True)
    refused(engine, 1, REQUEST)  # skipped: closed
    refused(engine, 3, REQUEST)  # our half ended
    assert [e.stream_id for e in peer.pump() if isinstance(e, h2.events.RequestReceived)] == [3]


def _refusal_run() -> tuple[bytes, list[str]]:
    """A scripted exchange with refusals between valid sends: wire bytes, messages."""
    pair = Pair()
    messages = []
    wire = b""
    for round_ in range(3):  # later rounds hit the caches
        sid = pair.request(POST, end_stream=False)
        for bad in (BAD_RESPONSES["no status"], BAD_RESPONSES["space in name"]):
            with pytest.raises(LocalProtocolError) as info:
                pair.server.send_headers(sid, bad)
            messages.append(str(info.value))
        pair.server.send_headers(sid, [*OK, (b"round", str(round_).encode())])
        with pytest.raises(LocalProtocolError) as info:
            pair.server.send_headers(sid, BAD_TRAILERS["pseudo"], end_stream=True)
        messages.append(str(info.value))
        pair.server.send_headers(sid, [(b"grpc-status", b"0")], end_stream=True)
        wire += pair.server.data_to_send()
    return wire, messages


def test_refusals_identical_on_fast_and_slow_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _refusal_run()
    monkeypatch.setattr(HardenedH2Connection, "fast_send_headers", lambda *a: False)
    slow = _refusal_run()
    assert fast == slow
    assert len(fast[1]) == 9
