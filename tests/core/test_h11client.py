"""H11ClientEngine: the HTTP/1.1 client engine, driven against a real h11 server state machine."""

from __future__ import annotations

from typing import Any

import h11
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mux.core import events as ev
from mux.core.h11client import H11ClientEngine
from mux.errors import ErrorCode, LocalProtocolError, RemoteProtocolError

REQUEST = [
    (b":method", b"POST"),
    (b":scheme", b"http"),
    (b":authority", b"up.example:80"),
    (b":path", b"/echo?x=1"),
    (b"x-one", b"1"),
    (b"connection", b"keep-alive"),  # hop-by-hop: dropped
]


def server_events(server: h11.Connection, data: bytes) -> list[Any]:
    server.receive_data(data)
    out = []
    while True:
        event = server.next_event()
        if event is h11.NEED_DATA or event is h11.PAUSED:
            return out
        out.append(event)


def respond(server: h11.Connection, status: int, body: bytes, headers: list[Any]) -> bytes:
    data = server.send(h11.Response(status_code=status, headers=headers)) or b""
    if body:
        data += server.send(h11.Data(data=body)) or b""
    return data + (server.send(h11.EndOfMessage()) or b"")


def test_request_line_host_and_chunked_body_then_keepalive() -> None:
    client, server = H11ClientEngine(), h11.Connection(h11.SERVER)
    client.initiate_connection()
    assert client.data_to_send() == b""
    assert client.max_outbound_streams == 1
    sid = client.get_next_available_stream_id()
    assert sid == 1
    client.send_headers(sid, REQUEST)
    assert client.open_outbound_streams == 1
    assert client.local_flow_control_window(sid) > 2**20
    client.send_data(sid, b"hello ")
    client.send_data(sid, b"world", end_stream=True)
    got = server_events(server, client.data_to_send())
    request = got[0]
    assert isinstance(request, h11.Request)
    assert request.method == b"POST" and request.target == b"/echo?x=1"
    assert request.headers[0] == (b"host", b"up.example:80")  # Host first
    assert (b"x-one", b"1") in list(request.headers)
    assert (b"transfer-encoding", b"chunked") in list(request.headers)
    assert all(name != b"connection" for name, _ in request.headers)
    assert b"".join(bytes(e.data) for e in got if isinstance(e, h11.Data)) == b"hello world"
    assert isinstance(got[-1], h11.EndOfMessage)
    assert client.local_flow_control_window(sid) == 0

    reply = respond(server, 200, b"ok!", [(b"content-length", b"3"), (b"x-r", b"y")])
    events = client.receive_data(reply)
    assert events == [
        ev.ResponseReceived(1, [(b":status", b"200"), (b"content-length", b"3"), (b"x-r", b"y")]),
        ev.DataReceived(1, b"ok!", 3),
        ev.StreamEnded(1),
    ]
    # Keep-alive: the next exchange gets stream 3 on the same connection.
    assert client.open_outbound_streams == 0 and not client.must_close
    server.start_next_cycle()
    assert client.get_next_available_stream_id() == 3
    client.send_headers(
        3, [(b":method", b"GET"), (b":path", b"/b"), (b":authority", b"h")], end_stream=True
    )
    got = server_events(server, client.data_to_send())
    assert isinstance(got[0], h11.Request) and isinstance(got[1], h11.EndOfMessage)
    events = client.receive_data(respond(server, 204, b"", []))
    assert events == [ev.ResponseReceived(3, [(b":status", b"204")]), ev.StreamEnded(3)]


def test_content_length_body_and_chunked_response_with_trailers() -> None:
    client, server = H11ClientEngine(), h11.Connection(h11.SERVER)
    headers = [*REQUEST[:4], (b"content-length", b"4")]
    client.send_headers(1, headers)
    client.send_data(1, b"abcd", end_stream=True)
    got = server_events(server, client.data_to_send())
    assert (b"content-length", b"4") in list(got[0].headers)
    assert (b"transfer-encoding", b"chunked") not in list(got[0].headers)
    data = server.send(h11.Response(status_code=200, headers=[(b"transfer-encoding", b"chunked")]))
    data = (data or b"") + (server.send(h11.Data(data=b"x" * 10)) or b"")
    data += server.send(h11.EndOfMessage(headers=[(b"grpc-status", b"0")])) or b""
    events = client.receive_data(data)
    assert events[1:] == [
        ev.DataReceived(1, b"x" * 10, 10),
        ev.TrailersReceived(1, [(b"grpc-status", b"0")]),
        ev.StreamEnded(1),
    ]


def test_request_trailers_end_a_chunked_body() -> None:
    client, server = H11ClientEngine(), h11.Connection(h11.SERVER)
    client.send_headers(1, REQUEST[:4])
    client.send_data(1, b"part")
    client.send_headers(1, [(b"x-checksum", b"abc")], end_stream=True)
    got = server_events(server, client.data_to_send())
    assert isinstance(got[-1], h11.EndOfMessage)
    assert list(got[-1].headers) == [(b"x-checksum", b"abc")]


def test_informational_and_split_bytes() -> None:
    client, server = H11ClientEngine(), h11.Connection(h11.SERVER)
    client.send_headers(1, REQUEST[:4], end_stream=True)
    server_events(server, client.data_to_send())
    wire = (server.send(h11.InformationalResponse(status_code=103, headers=[])) or b"") + respond(
        server, 200, b"hi", [(b"content-length", b"2")]
    )
    events: list[ev.Event] = []
    for i in range(len(wire)):  # one byte at a time
        events += client.receive_data(wire[i : i + 1])
    assert events[0] == ev.InformationalResponseReceived(1, [(b":status", b"103")])
    assert isinstance(events[1], ev.ResponseReceived)
    assert b"".join(e.data for e in events if isinstance(e, ev.DataReceived)) == b"hi"
    assert events[-1] == ev.StreamEnded(1)


def test_connection_close_response_is_not_reused() -> None:
    client, server = H11ClientEngine(), h11.Connection(h11.SERVER)
    client.send_headers(1, REQUEST[:4], end_stream=True)
    server_events(server, client.data_to_send())
    reply = respond(server, 200, b"", [(b"connection", b"close"), (b"content-length", b"0")])
    events = client.receive_data(reply)
    assert events[-1] == ev.StreamEnded(1)
    assert client.must_close and client.open_outbound_streams == 0
    with pytest.raises(LocalProtocolError):
        client.get_next_available_stream_id()


def test_http10_response_body_until_eof() -> None:
    client = H11ClientEngine()
    client.send_headers(1, REQUEST[:4], end_stream=True)
    client.data_to_send()
    events = client.receive_data(b"HTTP/1.0 200 OK\r\n\r\nall of it")
    assert events[-1] == ev.DataReceived(1, b"all of it", 9)
    assert client.receive_data(b"") == [ev.StreamEnded(1), ev.ConnectionClosed()]
    assert client.must_close


def test_reset_means_the_connection_must_close() -> None:
    client = H11ClientEngine()
    client.send_headers(1, REQUEST[:4])
    client.send_data(1, b"partial")
    client.reset_stream(1, ErrorCode.CANCEL)
    assert client.must_close and client.open_outbound_streams == 0
    with pytest.raises(LocalProtocolError):
        client.get_next_available_stream_id()


def test_one_exchange_at_a_time() -> None:
    client = H11ClientEngine()
    client.send_headers(1, REQUEST[:4], end_stream=True)
    with pytest.raises(LocalProtocolError, match="one exchange at a time"):
        client.get_next_available_stream_id()
    with pytest.raises(LocalProtocolError):
        client.send_headers(3, REQUEST[:4], end_stream=True)
    with pytest.raises(LocalProtocolError):
        client.send_data(1, b"late")  # the request already ended


def test_eof_before_the_request_left_is_not_processed() -> None:
    """The server closed while our request was still queued here: it never saw it."""
    client, server = H11ClientEngine(), h11.Connection(h11.SERVER)
    client.send_headers(1, REQUEST[:4], end_stream=True)
    server_events(server, client.data_to_send())
    client.receive_data(respond(server, 200, b"", [(b"content-length", b"0")]))
    client.send_headers(3, REQUEST[:4], end_stream=True)  # queued, not yet drained
    events = client.receive_data(b"")
    assert events == [ev.GoAwayReceived(ErrorCode.NO_ERROR, 1), ev.ConnectionClosed()]


def test_eof_after_the_request_was_written_is_maybe_processed() -> None:
    client = H11ClientEngine()
    client.send_headers(1, REQUEST[:4], end_stream=True)
    assert client.data_to_send()
    assert client.receive_data(b"") == [ev.ConnectionClosed()]  # no GOAWAY: maybe processed


def test_truncated_response_at_eof_and_garbage() -> None:
    client = H11ClientEngine()
    client.send_headers(1, REQUEST[:4], end_stream=True)
    client.data_to_send()
    events = client.receive_data(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc")
    assert events[-1] == ev.DataReceived(1, b"abc", 3)
    assert client.receive_data(b"") == [ev.ConnectionClosed()]  # no StreamEnded: truncated
    bad = H11ClientEngine()
    bad.send_headers(1, REQUEST[:4], end_stream=True)
    bad.data_to_send()
    with pytest.raises(RemoteProtocolError, match="invalid"):
        bad.receive_data(b"NOT HTTP AT ALL\r\n\r\n")
    assert bad.must_close


def test_invalid_request_head_is_refused() -> None:
    client = H11ClientEngine()
    with pytest.raises(LocalProtocolError):
        client.send_headers(1, [(b":path", b"/")], end_stream=True)  # no :method
    with pytest.raises(LocalProtocolError):
        client.send_headers(1, [*REQUEST[:4], (b"bad name", b"v")], end_stream=True)


@given(
    bodies=st.lists(st.binary(max_size=300), min_size=1, max_size=5),
    cut=st.integers(min_value=1, max_value=50),
)
def test_any_sequence_of_exchanges_round_trips(bodies: list[bytes], cut: int) -> None:
    """Keep-alive exchanges with arbitrary bodies, response bytes fed in arbitrary pieces."""
    client, server = H11ClientEngine(), h11.Connection(h11.SERVER)
    for i, body in enumerate(bodies):
        sid = client.get_next_available_stream_id()
        assert sid == 2 * i + 1
        client.send_headers(sid, REQUEST[:4])
        client.send_data(sid, body, end_stream=True)
        got = server_events(server, client.data_to_send())
        assert b"".join(bytes(e.data) for e in got if isinstance(e, h11.Data)) == body
        wire = respond(server, 200, body[::-1], [(b"content-length", b"%d" % len(body))])
        server.start_next_cycle()
        events: list[ev.Event] = []
        for j in range(0, len(wire), cut):
            events += client.receive_data(wire[j : j + cut])
        assert b"".join(e.data for e in events if isinstance(e, ev.DataReceived)) == body[::-1]
        assert events[-1] == ev.StreamEnded(sid)
