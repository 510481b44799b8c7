"""Session vectors on DATA and the stream life cycle."""

from __future__ import annotations

from .registry import (
    P,
    add_session,
    alive,
    c_recv,
    conn_error,
    open_stream,
    pong,
    recv,
    respond,
    s_recv,
    stream_error,
)
from .wire import POST, REQ, SETTINGS_ACK, data, headers, hlist, raw_headers, rst


def data_sessions() -> None:
    f = "data"
    add_session(
        f,
        "data-idle-stream",
        "7.2",
        "DATA on stream 1 that was never opened.",
        "server",
        [s_recv(data(1, b"x"))],
        conn_error("PROTOCOL_ERROR"),
    )
    add_session(
        f,
        "data-after-end-stream",
        "7.2",
        "DATA after the request's END_STREAM (half-closed remote).",
        "server",
        [s_recv(headers(1, REQ, es=True), data(1, b"x"), P)],
        stream_error(1, "STREAM_CLOSED"),
    )
    add_session(
        f,
        "data-on-closed-stream",
        "7.3",
        "DATA on a stream that closed normally.",
        "server",
        [s_recv(headers(1, REQ, es=True)), respond(1), recv(data(1, b"late"), P)],
        stream_error(1, "STREAM_CLOSED"),
    )
    add_session(
        f,
        "data-on-peer-reset-stream",
        "7.3",
        "DATA after the client itself reset the stream.",
        "server",
        [s_recv(headers(1, POST), rst(1, "CANCEL"), data(1, b"x"), P)],
        stream_error(1, "STREAM_CLOSED"),
    )
    add_session(
        f,
        "data-on-recently-reset-stream-ignored",
        "7.3",
        "DATA on a stream the server reset is ignored.",
        "server",
        [
            s_recv(headers(1, POST)),
            {"reset_stream": {"stream_id": 1, "error_code": "CANCEL"}},
            recv(data(1, b"in flight"), headers(1, [("x", "y")], es=True), P),
        ],
        alive(
            {"type": "RST_STREAM", "stream_id": 1, "error_code": "CANCEL"},
            absent=[{"type": "RST_STREAM", "error_code": "STREAM_CLOSED"}],
        ),
    )
    add_session(
        f,
        "empty-data-ends-request",
        "4.1",
        "An empty DATA with END_STREAM ends the request.",
        "server",
        [s_recv(headers(1, POST), data(1, b"body"), data(1, b"", es=True)), respond(1), recv(P)],
        alive({"type": "HEADERS", "stream_id": 1}, absent=[{"type": "RST_STREAM"}]),
    )
    add_session(
        f,
        "client-data-before-response",
        "5.6",
        "DATA before the response HEADERS.",
        "client",
        [open_stream(es=True), c_recv(data(1, b"x"), P)],
        stream_error(1, "PROTOCOL_ERROR"),
    )
    add_session(
        f,
        "client-data-on-unopened-stream",
        "7.2",
        "The server sends DATA on stream 3 the client never opened.",
        "client",
        [open_stream(), c_recv(data(3, b"x"))],
        conn_error("PROTOCOL_ERROR"),
    )


def stream_sessions() -> None:
    f = "streams"
    add_session(
        f,
        "stream-id-regression",
        "7.1",
        "Stream 3, then a new HEADERS on stream 1: a frame on a closed stream.",
        "server",
        [s_recv(headers(3, REQ, es=True), headers(1, REQ, es=True), P)],
        stream_error(1, "STREAM_CLOSED"),
    )
    add_session(
        f,
        "stream-id-reuse",
        "7.1",
        "Stream 1 completes, then HEADERS opens stream 1 again.",
        "server",
        [s_recv(headers(1, REQ, es=True)), respond(1), recv(headers(1, REQ, es=True), P)],
        stream_error(1, "STREAM_CLOSED"),
    )
    add_session(
        f,
        "stream-id-gaps-allowed",
        "7.1",
        "Streams 1 then 7: gaps are allowed.",
        "server",
        [
            s_recv(headers(1, REQ, es=True), headers(7, REQ, es=True)),
            respond(7),
            respond(1),
            recv(P),
        ],
        alive(
            {"type": "HEADERS", "stream_id": 7},
            {"type": "HEADERS", "stream_id": 1},
            absent=[{"type": "RST_STREAM"}],
        ),
    )
    add_session(
        f,
        "headers-on-recently-reset-stream-ignored",
        "7.3",
        "Trailers on a stream the server reset are ignored.",
        "server",
        [
            s_recv(headers(1, POST)),
            {"reset_stream": {"stream_id": 1, "error_code": "INTERNAL_ERROR"}},
            recv(headers(1, [("x", "1")], es=True), P),
        ],
        alive(
            {"type": "RST_STREAM", "stream_id": 1, "error_code": "INTERNAL_ERROR"},
            absent=[{"type": "RST_STREAM", "error_code": "STREAM_CLOSED"}],
        ),
    )
    mcs1 = {"MAX_CONCURRENT_STREAMS": 1}
    add_session(
        f,
        "max-concurrent-streams-refused",
        "7.4",
        "Limit 1 (acknowledged): stream 3 is refused while stream 1 is half-closed.",
        "server",
        [s_recv(SETTINGS_ACK, headers(1, REQ, es=True), headers(3, REQ, es=True), P)],
        stream_error(3, "REFUSED_STREAM"),
        mcs1,
    )
    add_session(
        f,
        "max-concurrent-streams-before-ack",
        "6.2",
        "Before the ACK the default limit (100) applies.",
        "server",
        [s_recv(headers(1, REQ, es=True), headers(3, REQ, es=True), P)],
        alive(absent=[{"type": "RST_STREAM"}]),
        mcs1,
    )
    add_session(
        f,
        "max-concurrent-streams-slot-freed",
        "7.4",
        "Once stream 1 closes, stream 3 fits.",
        "server",
        [
            s_recv(SETTINGS_ACK, headers(1, REQ, es=True)),
            respond(1),
            recv(headers(3, REQ, es=True)),
            respond(3),
            recv(P),
        ],
        alive({"type": "HEADERS", "stream_id": 3}, absent=[{"type": "RST_STREAM"}]),
        mcs1,
    )
    add_session(
        f,
        "max-concurrent-streams-zero",
        "7.4",
        "Limit 0: every stream is refused.",
        "server",
        [s_recv(SETTINGS_ACK, headers(1, REQ, es=True), P)],
        stream_error(1, "REFUSED_STREAM"),
        {"MAX_CONCURRENT_STREAMS": 0},
    )
    add_session(
        f,
        "refused-stream-id-used",
        "7.4",
        "A refused id counts as used: DATA on it is a frame on a closed stream, not an idle one.",
        "server",
        [s_recv(SETTINGS_ACK, headers(1, REQ, es=True), headers(3, POST), data(3, b"x"), P)],
        {
            "frames": [
                {"type": "RST_STREAM", "stream_id": 3, "error_code": "REFUSED_STREAM"},
                pong(),
            ],
            "absent": [{"type": "GOAWAY"}],
        },
        mcs1,
    )
    hl = {"MAX_HEADER_LIST_SIZE": 64}
    big = [*REQ, ("x-pad", "p" * 60)]
    add_session(
        f,
        "header-list-too-large",
        "4.2",
        f"Local MAX_HEADER_LIST_SIZE 64 (acknowledged): a {len(hlist(big))}-byte header list.",
        "server",
        [s_recv(SETTINGS_ACK, headers(1, big, es=True), P)],
        stream_error(1, "HEADER_LIST_TOO_LARGE"),
        hl,
    )
    exact = [*REQ, ("x-pad", "p" * (60 - (len(hlist(big)) - 64)))]
    assert len(hlist(exact)) == 64
    add_session(
        f,
        "header-list-exact-size",
        "4.2",
        "A 64-byte header list fits a 64-byte limit.",
        "server",
        [s_recv(SETTINGS_ACK, headers(1, exact, es=True)), respond(1), recv(P)],
        alive({"type": "HEADERS", "stream_id": 1}, absent=[{"type": "RST_STREAM"}]),
        hl,
    )
    add_session(
        f,
        "header-list-too-large-not-decoded",
        "4.2",
        "An oversized payload is not decoded: even "
        "malformed msgpack gets HEADER_LIST_TOO_LARGE, not a connection error.",
        "server",
        [s_recv(SETTINGS_ACK, raw_headers(1, b"\xc1" * 100, es=True), P)],
        stream_error(1, "HEADER_LIST_TOO_LARGE"),
        hl,
    )
    add_session(
        f,
        "header-list-size-before-ack",
        "6.2",
        "Before the ACK the default limit applies.",
        "server",
        [s_recv(headers(1, big, es=True)), respond(1), recv(P)],
        alive({"type": "HEADERS", "stream_id": 1}, absent=[{"type": "RST_STREAM"}]),
        hl,
    )
