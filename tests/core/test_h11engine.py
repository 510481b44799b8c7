"""H11Engine: HTTP/1.1 server engine over h11, with Upgrade: h2c."""

from __future__ import annotations

import base64

import pytest
from h2frames import parse, settings
from hyperframe.frame import HeadersFrame, SettingsFrame

from mux.core import events as ev
from mux.core.h2guard import PREFACE, H2Limits
from mux.core.h11engine import H11Engine
from mux.errors import RemoteProtocolError

GET = b"GET /a HTTP/1.1\r\nHost: example\r\nX-One: 1\r\n\r\n"


def test_H11Engine_request_response_keepalive_chunked() -> None:
    """A request becomes stream 1 with pseudo-headers; a length-less body is chunked."""
    engine = H11Engine()
    events = engine.receive_data(GET)
    assert events == [
        ev.RequestReceived(
            1,
            [
                (b":method", b"GET"),
                (b":scheme", b"http"),
                (b":authority", b"example"),
                (b":path", b"/a"),
                (b"x-one", b"1"),
            ],
            end_stream=True,
        ),
        ev.StreamEnded(1),
    ]
    engine.send_headers(1, [(b":status", b"200")])
    engine.send_data(1, b"hello", end_stream=True)
    out = engine.data_to_send()
    assert out.startswith(b"HTTP/1.1 200 OK\r\n")  # a reason phrase (h2load --h1)
    assert b"transfer-encoding: chunked" in out.lower()
    assert out.endswith(b"5\r\nhello\r\n0\r\n\r\n")
    assert not engine.must_close
    events = engine.receive_data(GET)
    assert events[0].stream_id == 3


def test_H11Engine_request_body_and_content_length() -> None:
    """A body arrives as DataReceived on the request's stream."""
    engine = H11Engine()
    events = engine.receive_data(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
    assert events[0] == ev.RequestReceived(
        1,
        [
            (b":method", b"POST"),
            (b":scheme", b"http"),
            (b":authority", b"x"),
            (b":path", b"/"),
            (b"content-length", b"3"),
        ],
    )
    assert events[1:] == [ev.DataReceived(1, b"abc", 3), ev.StreamEnded(1)]
    engine.send_headers(1, [(b":status", b"201"), (b"content-length", b"0")], end_stream=True)
    assert engine.data_to_send().startswith(b"HTTP/1.1 201 ")


def test_H11Engine_pipelined_request_after_response() -> None:
    """A pipelined second request is reported once the first response is complete."""
    engine = H11Engine()
    events = engine.receive_data(GET + GET.replace(b"/a", b"/b"))
    assert [type(e) for e in events] == [ev.RequestReceived, ev.StreamEnded]
    engine.send_headers(1, [(b":status", b"204")], end_stream=True)
    engine.data_to_send()
    events = engine.pending_events()
    assert events[0].stream_id == 3
    assert (b":path", b"/b") in events[0].headers


def test_H11Engine_bad_request_gets_400_then_error() -> None:
    """Garbage gets a 400 naming the problem, then a connection error."""
    engine = H11Engine()
    with pytest.raises(RemoteProtocolError):
        engine.receive_data(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n")
    out = engine.data_to_send()
    assert out.startswith(b"HTTP/1.1 400 ")
    assert b"connection: close" in out.lower()
    assert engine.must_close


def test_H11Engine_oversized_head_gets_431() -> None:
    """A request head above max_incomplete_event_size gets 431."""
    engine = H11Engine(max_incomplete_event_size=1024)
    with pytest.raises(RemoteProtocolError):
        engine.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 2000)
    assert engine.data_to_send().startswith(b"HTTP/1.1 431 ")


def test_H11Engine_pipelined_flood_bounded() -> None:
    """Pipelined bytes buffered behind an unanswered request are bounded."""
    engine = H11Engine(max_buffered_bytes=1000)
    engine.receive_data(GET)
    with pytest.raises(RemoteProtocolError):
        engine.receive_data(GET * 100)


def test_H11Engine_upgrade_h2c() -> None:
    """Upgrade: h2c answers 101, SETTINGS follow, and the request is stream 1 on HTTP/2."""
    engine = H11Engine(h2_limits=H2Limits())
    settings_body = base64.urlsafe_b64encode(settings(MAX_CONCURRENT_STREAMS=10)[9:]).rstrip(b"=")
    request = (
        b"GET /up HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        b"Upgrade: h2c\r\nHTTP2-Settings: " + settings_body + b"\r\n\r\n"
    )
    events = engine.receive_data(request + PREFACE + settings())
    assert engine.protocol == "h2" and engine.upgraded_to is not None
    assert events[0] == ev.RequestReceived(
        1,
        [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"x"), (b":path", b"/up")],
        end_stream=True,
    )
    assert events[1] == ev.StreamEnded(1)
    out = engine.data_to_send()
    head, _, rest = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 ")
    assert isinstance(parse(rest)[0], SettingsFrame)
    engine.send_headers(1, [(b":status", b"200")], end_stream=True)
    frames = parse(engine.data_to_send())
    assert any(isinstance(f, HeadersFrame) and f.stream_id == 1 for f in frames)


def test_H11Engine_upgrade_ignored_without_h2_limits() -> None:
    """Without h2_limits the Upgrade header is ignored and HTTP/1.1 serves the request."""
    engine = H11Engine()
    events = engine.receive_data(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABk\r\n\r\n"
    )
    assert engine.protocol == "http/1.1"
    assert isinstance(events[0], ev.RequestReceived)


def test_H11Engine_reset_stream_closes_connection() -> None:
    """reset_stream on HTTP/1.1 means the connection must close."""
    engine = H11Engine()
    engine.receive_data(GET)
    engine.reset_stream(1)
    assert engine.must_close
