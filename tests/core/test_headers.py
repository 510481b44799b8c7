"""Header-list semantics (spec/mux-protocol.md Sections 5.2-5.6), sent and received."""

from __future__ import annotations

import pytest
from helpers import REQUEST, RESPONSE, EnginePair, FrameFactory, handshaken_server, parse_frames

from mux.core import events as ev
from mux.core.headers import check_request, check_response, check_trailers
from mux.core.limits import ProtocolLimits
from mux.errors import ErrorCode, LocalProtocolError

BAD_REQUESTS = {
    "empty path": [(b":method", b"GET"), (b":path", b"")],
    "empty method": [(b":method", b""), (b":path", b"/")],
    "method not a token": [(b":method", b"GE T"), (b":path", b"/")],
    "empty scheme": [*REQUEST, (b":scheme", b"")],
    "CR in value": [*REQUEST, (b"x-a", b"1\rx")],
    "LF in value": [*REQUEST, (b"x-a", b"1\nx-b: 2")],
    "NUL in value": [*REQUEST, (b"x-a", b"1\x002")],
    "LF in pseudo value": [(b":method", b"GET"), (b":path", b"/\nx")],
    "uppercase name": [*REQUEST, (b"X-a", b"1")],
    "space in name": [*REQUEST, (b"x a", b"1")],
    "colon in regular name": [*REQUEST, (b"x:a", b"1")],
    "non-ascii name": [*REQUEST, (b"x\xe9", b"1")],
    "connection": [*REQUEST, (b"connection", b"close")],
    "keep-alive": [*REQUEST, (b"keep-alive", b"timeout=5")],
    "proxy-connection": [*REQUEST, (b"proxy-connection", b"keep-alive")],
    "transfer-encoding": [*REQUEST, (b"transfer-encoding", b"chunked")],
    "upgrade": [*REQUEST, (b"upgrade", b"websocket")],
    "te other than trailers": [*REQUEST, (b"te", b"gzip")],
}

GOOD_REQUESTS = {
    "minimal": REQUEST,
    "all tchar": [*REQUEST, (b"!#$%&'*+-.^_`|~09az", b"v")],
    "te trailers": [*REQUEST, (b"te", b"trailers")],
    "asterisk path": [(b":method", b"OPTIONS"), (b":path", b"*")],
    "empty regular value": [*REQUEST, (b"x-a", b"")],
    "binary value": [*REQUEST, (b"x-a", bytes(range(14, 256)))],
}


@pytest.mark.parametrize("headers", BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
def test_check_request_rejects(headers: list[tuple[bytes, bytes]]) -> None:
    assert check_request(headers) is not None


@pytest.mark.parametrize("headers", GOOD_REQUESTS.values(), ids=GOOD_REQUESTS.keys())
def test_check_request_accepts(headers: list[tuple[bytes, bytes]]) -> None:
    assert check_request(headers) is None


def test_value_rules_apply_to_responses_and_trailers() -> None:
    assert check_response([*RESPONSE, (b"x-a", b"a\r\nb")]) is not None
    assert check_response([*RESPONSE, (b"connection", b"close")]) is not None
    assert check_trailers([(b"grpc-message", b"x\x00")]) is not None
    assert check_trailers([(b"Grpc-Status", b"0")]) is not None
    assert check_trailers([(b"grpc-status", b"0")]) is None


@pytest.mark.parametrize("name", ["CR in value", "connection", "te other than trailers"])
def test_received_malformed_request_is_stream_error(name: str) -> None:
    server = handshaken_server()
    events = server.receive_data(FrameFactory().headers(1, BAD_REQUESTS[name], end_stream=True))
    assert events == []
    [rst] = parse_frames(server.data_to_send(), preface=False)
    assert (rst.type, rst.stream_id, rst.payload) == (2, 1, ErrorCode.PROTOCOL_ERROR.to_bytes(4))
    # the connection and the next stream are unaffected
    events = server.receive_data(FrameFactory().headers(3, REQUEST, end_stream=True))
    assert events[0] == ev.RequestReceived(3, REQUEST, True)


def test_sending_connection_specific_field_is_refused() -> None:
    pair = EnginePair()
    with pytest.raises(LocalProtocolError, match="connection-specific"):
        pair.client.send_headers(1, [*REQUEST, (b"transfer-encoding", b"chunked")])
    assert pair.client.data_to_send() == b""
    sid = pair.request()
    with pytest.raises(LocalProtocolError, match="CR, LF or NUL"):
        pair.server.send_headers(sid, [*RESPONSE, (b"set-cookie", b"a\r\nb")])
    assert pair.server.data_to_send() == b""


def _fields(count: int) -> list[tuple[bytes, bytes]]:
    return [(b"x-%d" % i, b"") for i in range(count)]


@pytest.mark.parametrize("count", [4, 5])
def test_header_field_cap_on_requests(count: int) -> None:
    server = handshaken_server(ProtocolLimits(max_header_fields=6))
    headers = [*REQUEST, *_fields(count)]
    events = server.receive_data(FrameFactory().headers(1, headers, end_stream=True))
    if count == 4:  # 6 fields: at the cap
        assert events[0] == ev.RequestReceived(1, headers, True)
        assert server.data_to_send() == b""
    else:
        assert events == []
        [rst] = parse_frames(server.data_to_send(), preface=False)
        assert (rst.stream_id, rst.payload) == (1, ErrorCode.HEADER_LIST_TOO_LARGE.to_bytes(4))
        assert not server.is_closed


def test_header_field_cap_on_responses_and_trailers() -> None:
    pair = EnginePair(client_limits=ProtocolLimits(max_header_fields=3))
    sid = pair.request(end_stream=True)
    pair.server.send_headers(sid, [*RESPONSE, *_fields(3)])
    assert pair.to_client() == [ev.StreamReset(sid, ErrorCode.HEADER_LIST_TOO_LARGE, False)]
    assert pair.to_server() == [ev.StreamReset(sid, ErrorCode.HEADER_LIST_TOO_LARGE, True)]
    sid = pair.request(end_stream=True)
    pair.server.send_headers(sid, RESPONSE)
    pair.server.send_headers(sid, _fields(4), end_stream=True)
    events = pair.to_client()
    assert events[-1] == ev.StreamReset(sid, ErrorCode.HEADER_LIST_TOO_LARGE, False)


def test_max_header_fields_is_validated() -> None:
    with pytest.raises(ValueError):
        ProtocolLimits(max_header_fields=0)
