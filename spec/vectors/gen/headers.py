"""Session vectors on header lists: HEADERS, msgpack shape, message semantics, field rules."""

from __future__ import annotations

import msgpack

from .registry import (
    P,
    add_session,
    alive,
    c_recv,
    conn_error,
    open_stream,
    recv,
    respond,
    s_recv,
    stream_error,
)
from .wire import END_STREAM, POST, REQ, RESP, data, frame, headers, hlist, raw_headers


def headers_sessions() -> None:
    f = "headers"
    add_session(
        f,
        "headers-even-stream",
        "7.1",
        "A client opens an even stream id.",
        "server",
        [s_recv(headers(2, REQ, es=True))],
        conn_error("PROTOCOL_ERROR"),
    )
    add_session(
        f,
        "headers-reserved-bit",
        "3.1",
        "Stream id 0x80000001 means stream 1.",
        "server",
        [s_recv(frame(0x1, END_STREAM, 0x80000001, hlist(REQ))), respond(1), recv(P)],
        alive({"type": "HEADERS", "stream_id": 1}),
    )
    add_session(
        f,
        "server-accepts-str-elements",
        "5.1",
        "A header list of msgpack str is accepted.",
        "server",
        [s_recv(frame(0x1, END_STREAM, 1, hlist(REQ, as_str=True))), respond(1), recv(P)],
        alive({"type": "HEADERS", "stream_id": 1}, absent=[{"type": "RST_STREAM"}]),
    )
    add_session(
        f,
        "trailers-accepted",
        "5.5",
        "HEADERS, DATA, trailers with END_STREAM.",
        "server",
        [
            s_recv(headers(1, POST), data(1, b"abc"), headers(1, [("x-sum", "1")], es=True)),
            respond(1),
            recv(P),
        ],
        alive({"type": "HEADERS", "stream_id": 1}, absent=[{"type": "RST_STREAM"}]),
    )
    add_session(
        f,
        "trailers-without-end-stream",
        "5.5",
        "Trailers must carry END_STREAM.",
        "server",
        [s_recv(headers(1, POST), headers(1, [("x-sum", "1")]), P)],
        stream_error(1, "PROTOCOL_ERROR"),
    )
    add_session(
        f,
        "trailers-with-pseudo-header",
        "5.5",
        "Trailers must not carry pseudo-headers.",
        "server",
        [s_recv(headers(1, POST), headers(1, [(":path", "/x")], es=True), P)],
        stream_error(1, "PROTOCOL_ERROR"),
    )
    add_session(
        f,
        "headers-after-trailers",
        "7.2",
        "A third HEADERS arrives after END_STREAM.",
        "server",
        [
            s_recv(
                headers(1, POST),
                headers(1, [("a", "1")], es=True),
                headers(1, [("b", "2")], es=True),
                P,
            )
        ],
        stream_error(1, "STREAM_CLOSED"),
    )
    add_session(
        f,
        "headers-after-end-stream",
        "7.2",
        "HEADERS after the request's END_STREAM.",
        "server",
        [s_recv(headers(1, REQ, es=True), headers(1, [("a", "1")], es=True), P)],
        stream_error(1, "STREAM_CLOSED"),
    )
    add_session(
        f,
        "client-headers-even-stream",
        "7.1",
        "The server sends HEADERS on stream 2.",
        "client",
        [open_stream(), c_recv(headers(2, RESP))],
        conn_error("PROTOCOL_ERROR"),
    )
    add_session(
        f,
        "client-headers-unopened-stream",
        "7.1",
        "The server answers stream 3, never opened.",
        "client",
        [open_stream(), c_recv(headers(3, RESP))],
        conn_error("PROTOCOL_ERROR"),
    )
    add_session(
        f,
        "client-response-trailers",
        "5.5",
        "Response, body and trailers are accepted.",
        "client",
        [
            open_stream(es=True),
            c_recv(headers(1, RESP), data(1, b"x"), headers(1, [("grpc-status", "0")], es=True), P),
        ],
        alive(absent=[{"type": "RST_STREAM"}]),
    )
    add_session(
        f,
        "client-trailers-without-end-stream",
        "5.5",
        "Response trailers lack END_STREAM.",
        "client",
        [open_stream(es=True), c_recv(headers(1, RESP), headers(1, [("grpc-status", "0")]), P)],
        stream_error(1, "PROTOCOL_ERROR"),
    )


def msgpack_sessions() -> None:
    f = "msgpack"
    bad = [
        ("bad-byte", "Byte c1 is never valid msgpack.", b"\xc1"),
        ("empty-payload", "A zero-length payload is not an array.", b""),
        (
            "nested-array",
            "An element is itself an array.",
            msgpack.packb([b":method", b"GET", b":path", [b"/"]], use_bin_type=True),
        ),
        (
            "map-instead-of-array",
            "A map instead of a flat array.",
            msgpack.packb({b":method": b"GET", b":path": b"/"}, use_bin_type=True),
        ),
        (
            "odd-length",
            "An array of 3 elements.",
            msgpack.packb([b":method", b"GET", b":path"], use_bin_type=True),
        ),
        ("trailing-bytes", "A valid array followed by one more byte.", hlist(REQ) + b"\x00"),
        (
            "integer-element",
            "A value is an integer.",
            msgpack.packb([b":method", b"GET", b":path", 5], use_bin_type=True),
        ),
        (
            "nil-element",
            "A value is nil.",
            msgpack.packb([b":method", b"GET", b":path", None], use_bin_type=True),
        ),
        (
            "bool-element",
            "A value is true.",
            msgpack.packb([b":method", b"GET", b":path", True], use_bin_type=True),
        ),
        (
            "ext-element",
            "A value is an ext type.",
            b"\x94\xc4\x07:method\xc4\x03GET\xc4\x05:path\xd4\x01\x00",
        ),
        ("bare-bin", "A single bin, not an array.", msgpack.packb(b":method", use_bin_type=True)),
        (
            "array32-claims-2p32-1",
            "dd ff ff ff ff: 2^32-1 elements declared in 5 bytes.",
            b"\xdd\xff\xff\xff\xff",
        ),
        ("array16-claims-65535", "dc ff ff then 2 elements.", b"\xdc\xff\xff\xa1a\xa1b"),
        ("truncated-array", "fixarray of 4 holding 2 elements.", b"\x94\xc4\x01a\xc4\x01b"),
        (
            "bin32-claims-2p32-1",
            "An element declares 2^32-1 bin bytes.",
            b"\x92\xc4\x01a\xc6\xff\xff\xff\xff",
        ),
    ]
    for name, desc, payload in bad:
        add_session(
            f,
            f"headers-msgpack-{name}",
            "5.1",
            desc,
            "server",
            [s_recv(raw_headers(1, payload, es=True))],
            conn_error("PROTOCOL_ERROR"),
        )
    add_session(
        f,
        "client-response-msgpack-map",
        "5.1",
        "A response header list that is a map.",
        "client",
        [open_stream(es=True), c_recv(raw_headers(1, msgpack.packb({b":status": b"200"})))],
        conn_error("PROTOCOL_ERROR"),
    )


def semantics_sessions() -> None:
    f = "semantics"
    req = [
        ("missing-method", "5.3", [(":path", "/sink")]),
        ("missing-path", "5.3", [(":method", "GET")]),
        ("empty-path", "5.3", [(":method", "GET"), (":path", "")]),
        ("unknown-pseudo", "5.3", [*REQ, (":foo", "x")]),
        ("status-in-request", "5.3", [*REQ, (":status", "200")]),
        (
            "pseudo-after-regular",
            "5.2",
            [(":method", "GET"), ("accept", "*/*"), (":path", "/sink")],
        ),
        ("duplicate-pseudo", "5.2", [*REQ, (":path", "/again")]),
        ("uppercase-name", "5.2", [*REQ, ("Accept", "*/*")]),
        ("empty-name", "5.2", [*REQ, ("", "x")]),
        ("crlf-in-value", "5.2", [*REQ, ("x-a", "1\r\nx-injected: 2")]),
        ("nul-in-value", "5.2", [*REQ, ("x-a", "1\x002")]),
    ]
    for name, sec, pairs in req:
        add_session(
            f,
            f"request-{name}",
            sec,
            f"Malformed request: {name}.",
            "server",
            [s_recv(headers(1, pairs, es=True), P)],
            stream_error(1, "PROTOCOL_ERROR"),
        )
    resp = [
        ("missing-status", [("content-type", "text/plain")]),
        ("status-1xx", [(":status", "101")]),
        ("status-600", [(":status", "600")]),
        ("status-not-digits", [(":status", "2x0")]),
        ("status-two-digits", [(":status", "20")]),
        ("request-pseudo", [*RESP, (":method", "GET")]),
        ("pseudo-after-regular", [("server", "x"), *RESP]),
    ]
    for name, pairs in resp:
        add_session(
            f,
            f"response-{name}",
            "5.4",
            f"Malformed response: {name}.",
            "client",
            [open_stream(es=True), c_recv(headers(1, pairs), P)],
            stream_error(1, "PROTOCOL_ERROR"),
        )


def header_rule_sessions() -> None:
    """Sections 5.2 and 5.3: each field and request-target rule, on receipt."""
    f = "semantics"
    get = [(":method", "GET")]
    bad: list[tuple[str, str, list[tuple[str, str]]]] = [
        ("empty-method", "5.3", [(":method", ""), (":path", "/sink")]),
        ("method-not-token", "5.3", [(":method", "GE T"), (":path", "/sink")]),
        ("method-with-slash", "5.3", [(":method", "G/ET"), (":path", "/sink")]),
        ("empty-scheme", "5.3", [*REQ, (":scheme", "")]),
        ("empty-authority", "5.3", [*REQ, (":authority", "")]),
        ("scheme-with-colon", "5.3", [*REQ, (":scheme", "https:")]),
        ("scheme-starts-with-digit", "5.3", [*REQ, (":scheme", "1http")]),
        ("path-absolute-form", "5.3", [*get, (":path", "http://a.example/")]),
        ("path-relative", "5.3", [*get, (":path", "index.html")]),
        ("path-asterisk-not-options", "5.3", [*get, (":path", "*")]),
        ("path-with-space", "5.3", [*get, (":path", "/a b")]),
        ("path-with-tab", "5.3", [*get, (":path", "/a\tb")]),
        ("path-with-del", "5.3", [*get, (":path", "/a\x7fb")]),
        ("name-not-token", "5.2", [*REQ, ("x@a", "1")]),
        ("name-with-space", "5.2", [*REQ, ("x a", "1")]),
        ("colon-inside-name", "5.2", [*REQ, ("x:a", "1")]),
        ("cr-in-value", "5.2", [*REQ, ("x-a", "1\rx")]),
        ("lf-in-value", "5.2", [*REQ, ("x-a", "1\nx")]),
        ("lf-in-pseudo-value", "5.2", [*get, (":path", "/\nx")]),
        ("te-gzip", "5.2", [*REQ, ("te", "gzip")]),
        ("te-trailers-and-gzip", "5.2", [*REQ, ("te", "trailers, gzip")]),
    ]
    bad += [
        (f"connection-specific-{name}", "5.2", [*REQ, (name, value)])
        for name, value in (
            ("connection", "close"),
            ("keep-alive", "timeout=5"),
            ("proxy-connection", "keep-alive"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
        )
    ]
    for name, sec, pairs in bad:
        add_session(
            f,
            f"request-{name}",
            sec,
            f"Malformed request: {name}.",
            "server",
            [s_recv(headers(1, pairs, es=True), P)],
            stream_error(1, "PROTOCOL_ERROR"),
        )
    good: list[tuple[str, str, list[tuple[str, str]]]] = [
        ("path-asterisk-options", "5.3", [(":method", "OPTIONS"), (":path", "*")]),
        ("path-query", "5.3", [*get, (":path", "/sink?x=1&y=%20")]),
        (
            "scheme-https-authority",
            "5.3",
            [*REQ, (":scheme", "https"), (":authority", "a.example")],
        ),
        ("scheme-token-chars", "5.3", [*REQ, (":scheme", "svn+ssh-v1.2")]),
        ("method-extension-token", "5.3", [(":method", "M-SEARCH"), (":path", "/sink")]),
        ("te-trailers", "5.2", [*REQ, ("te", "trailers")]),
        ("all-tchar-name", "5.2", [*REQ, ("!#$%&'*+-.^_`|~09az", "v")]),
        ("empty-regular-value", "5.2", [*REQ, ("x-a", "")]),
    ]
    for name, sec, pairs in good:
        add_session(
            f,
            f"request-ok-{name}",
            sec,
            f"Valid request: {name}.",
            "server",
            [s_recv(headers(1, pairs, es=True), P)],
            alive(absent=[{"type": "RST_STREAM"}]),
        )
    resp: list[tuple[str, list[tuple[str, str]]]] = [
        ("connection-specific", [*RESP, ("transfer-encoding", "chunked")]),
        ("uppercase-name", [*RESP, ("Server", "x")]),
        ("lf-in-value", [*RESP, ("x-a", "1\nx")]),
        ("empty-status", [(":status", "")]),
    ]
    for name, pairs in resp:
        add_session(
            f,
            f"response-{name}",
            "5.2",
            f"Malformed response: {name}.",
            "client",
            [open_stream(es=True), c_recv(headers(1, pairs), P)],
            stream_error(1, "PROTOCOL_ERROR"),
        )
    trailers: list[tuple[str, list[tuple[str, str]]]] = [
        ("connection-specific", [("connection", "close")]),
        ("nul-in-value", [("grpc-message", "a\x00b")]),
        ("uppercase-name", [("Grpc-Status", "0")]),
    ]
    for name, pairs in trailers:
        add_session(
            f,
            f"trailers-{name}",
            "5.5",
            f"Malformed request trailers: {name}.",
            "server",
            [s_recv(headers(1, POST), headers(1, pairs, es=True), P)],
            stream_error(1, "PROTOCOL_ERROR"),
        )
