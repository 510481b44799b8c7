"""``:path`` and ``:scheme`` rules (spec/mux-protocol.md Section 5.3), sent and received."""

from __future__ import annotations

import pytest
from helpers import EnginePair, FrameFactory, handshaken_server, parse_frames

from mux.core import events as ev
from mux.core.frames import FrameType, decode_u32
from mux.core.headers import check_request
from mux.errors import ErrorCode, LocalProtocolError

Headers = list[tuple[bytes, bytes]]


def _req(path: bytes, method: bytes = b"GET", scheme: bytes | None = None) -> Headers:
    extra = [] if scheme is None else [(b":scheme", scheme)]
    return [(b":method", method), (b":path", path), *extra]


BAD = {
    "absolute form": _req(b"http://a.example/"),
    "authority form": _req(b"a.example:443", b"CONNECT"),
    "relative path": _req(b"index.html"),
    "asterisk for GET": _req(b"*"),
    "asterisk with suffix for OPTIONS": _req(b"*x", b"OPTIONS"),
    "space in path": _req(b"/a b"),
    "tab in path": _req(b"/a\tb"),
    "DEL in path": _req(b"/a\x7fb"),
    "control byte in path": _req(b"/a\x01b"),
    "scheme with colon": _req(b"/", scheme=b"https:"),
    "scheme starting with digit": _req(b"/", scheme=b"1http"),
    "scheme with space": _req(b"/", scheme=b"ht tp"),
}

GOOD = {
    "root": _req(b"/"),
    "path and query": _req(b"/p/q?x=1&y=%20#"),
    "non-ascii bytes": _req(b"/caf\xc3\xa9"),
    "asterisk for OPTIONS": _req(b"*", b"OPTIONS"),
    "slash path for OPTIONS": _req(b"/", b"OPTIONS"),
    "https": _req(b"/", scheme=b"https"),
    "scheme with + - .": _req(b"/", scheme=b"svn+ssh-v1.2"),
    "uppercase scheme": _req(b"/", scheme=b"HTTP"),
}


@pytest.mark.parametrize("headers", BAD.values(), ids=BAD.keys())
def test_bad_target_is_refused_both_ways(headers: Headers) -> None:
    """The checker names the problem, the sender refuses, the receiver resets."""
    problem = check_request(headers)
    assert problem is not None and (":path" in problem or ":scheme" in problem)
    pair = EnginePair()
    with pytest.raises(LocalProtocolError):
        pair.client.send_headers(1, headers, end_stream=True)
    assert pair.client.data_to_send() == b""
    server = handshaken_server()
    events = server.receive_data(FrameFactory().headers(1, headers, end_stream=True))
    assert events == []  # the application never sees the request
    (rst,) = parse_frames(server.data_to_send(), preface=False)
    assert (rst.type, rst.stream_id) == (FrameType.RST_STREAM, 1)
    assert decode_u32(rst.payload) == ErrorCode.PROTOCOL_ERROR


@pytest.mark.parametrize("headers", GOOD.values(), ids=GOOD.keys())
def test_good_target_round_trips(headers: Headers) -> None:
    assert check_request(headers) is None
    pair = EnginePair()
    pair.client.send_headers(1, headers, end_stream=True)
    assert pair.to_server()[0] == ev.RequestReceived(1, headers, True)
