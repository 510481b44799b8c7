"""Session vectors on the order of HEADERS checks and the field-count limit."""

from __future__ import annotations

from typing import Any

from .registry import (
    P,
    add_session,
    alive,
    c_recv,
    conn_error,
    graceful_goaway,
    open_stream,
    pong,
    recv,
    respond,
    s_recv,
    stream_error,
)
from .wire import POST, REQ, RESP, SETTINGS_ACK, headers, hlist, raw_headers

# ----------------------------------------------------------------- order of HEADERS checks

HL64 = {"MAX_HEADER_LIST_SIZE": 64}
BIG = [*REQ, ("x-pad", "p" * 60)]  # 80 bytes encoded: above a 64-byte limit
MANY = [*REQ, *((f"x-{i}", "") for i in range(255))]  # 257 fields, one above 256
ENOUGH = MANY[:256]  # exactly 256 fields
assert len(MANY) == 257 and len(hlist(BIG)) > 64


def _bad_list(sid: int, es: bool = True) -> bytes:
    """A HEADERS whose payload is not msgpack (byte c1)."""
    return raw_headers(sid, b"\xc1", es=es)


def order_sessions() -> None:
    """Section 4.2: id rules, size, shape, then state/admission, then semantics."""
    f = "order"
    both = {"MAX_CONCURRENT_STREAMS": 1, **HL64}
    open1 = headers(1, REQ, es=True)  # stream 1: half-closed (remote), holds the only slot
    cases: list[tuple[str, str, str, list[dict[str, Any]], dict[str, Any], dict[str, int]]] = [
        (
            "too-large-beats-refused-concurrency",
            "Limit 1 in use: an oversized HEADERS opening stream 3 gets "
            "HEADER_LIST_TOO_LARGE, not REFUSED_STREAM (size is checked before admission).",
            "4.2",
            [s_recv(SETTINGS_ACK, open1, headers(3, BIG, es=True), P)],
            _only(3, "HEADER_LIST_TOO_LARGE", "REFUSED_STREAM"),
            both,
        ),
        (
            "too-large-garbage-beats-refused-concurrency",
            "Limit 1 in use: 100 bytes of non-msgpack opening stream 3 get "
            "HEADER_LIST_TOO_LARGE (not decoded, not refused).",
            "4.2",
            [s_recv(SETTINGS_ACK, open1, raw_headers(3, b"\xc1" * 100, es=True), P)],
            _only(3, "HEADER_LIST_TOO_LARGE", "REFUSED_STREAM"),
            both,
        ),
        (
            "too-large-beats-refused-after-goaway",
            "After our GOAWAY(last 1), an oversized HEADERS on stream 3 gets "
            "HEADER_LIST_TOO_LARGE, not REFUSED_STREAM.",
            "4.2",
            [
                s_recv(SETTINGS_ACK, open1),
                graceful_goaway(),
                recv(headers(3, BIG, es=True), P),
            ],
            _after_goaway(_only(3, "HEADER_LIST_TOO_LARGE", "REFUSED_STREAM")),
            HL64,
        ),
        (
            "too-large-beats-stream-closed-half-closed",
            "An oversized HEADERS on half-closed (remote) stream 1 gets "
            "HEADER_LIST_TOO_LARGE, not STREAM_CLOSED.",
            "4.2",
            [s_recv(SETTINGS_ACK, open1, headers(1, BIG, es=True), P)],
            _only(1, "HEADER_LIST_TOO_LARGE", "STREAM_CLOSED"),
            HL64,
        ),
        (
            "too-large-beats-stream-closed-closed",
            "An oversized HEADERS on closed stream 1 (id below stream 3) gets "
            "HEADER_LIST_TOO_LARGE, not STREAM_CLOSED.",
            "4.2",
            [s_recv(SETTINGS_ACK, headers(3, REQ, es=True), headers(1, BIG, es=True), P)],
            _only(1, "HEADER_LIST_TOO_LARGE", "STREAM_CLOSED"),
            HL64,
        ),
        (
            "too-large-id-used",
            "An oversized HEADERS opening stream 5 uses the id: a new HEADERS on "
            "stream 3 is then on a closed stream.",
            "4.2",
            [s_recv(SETTINGS_ACK, headers(5, BIG, es=True), headers(3, REQ, es=True), P)],
            {
                "frames": [
                    {"type": "RST_STREAM", "stream_id": 5, "error_code": "HEADER_LIST_TOO_LARGE"},
                    {"type": "RST_STREAM", "stream_id": 3, "error_code": "STREAM_CLOSED"},
                    pong(),
                ],
                "absent": [{"type": "GOAWAY"}],
            },
            HL64,
        ),
        (
            "too-many-fields-beats-refused",
            "Limit 1 in use: a 257-field HEADERS opening stream 3 gets "
            "HEADER_LIST_TOO_LARGE, not REFUSED_STREAM (field count before admission).",
            "4.2",
            [s_recv(SETTINGS_ACK, open1, headers(3, MANY, es=True), P)],
            _only(3, "HEADER_LIST_TOO_LARGE", "REFUSED_STREAM"),
            {"MAX_CONCURRENT_STREAMS": 1},
        ),
        (
            "malformed-beats-refused-concurrency",
            "Limit 1 in use: non-msgpack HEADERS opening stream 3 is a connection "
            "error, not REFUSED_STREAM (shape is checked before admission).",
            "4.2",
            [s_recv(SETTINGS_ACK, open1, _bad_list(3), P)],
            conn_error("PROTOCOL_ERROR", last_stream_id=1),
            {"MAX_CONCURRENT_STREAMS": 1},
        ),
        (
            "malformed-beats-refused-after-goaway",
            "After our GOAWAY(last 1), non-msgpack HEADERS on stream 3 is a connection error.",
            "4.2",
            [
                s_recv(open1),
                graceful_goaway(),
                recv(_bad_list(3), P),
            ],
            conn_error("PROTOCOL_ERROR", last_stream_id=1),
            {},
        ),
    ]
    for vid, desc, sec, steps, expect, local in cases:
        add_session(f, vid, sec, desc, "server", steps, expect, local or None)
    _malformed_on_any_state(f)


def _only(sid: int, code: str, not_code: str) -> dict[str, Any]:
    """Stream error ``code`` on ``sid`` and no RST_STREAM(``not_code``)."""
    expect = stream_error(sid, code)
    expect["absent"].append({"type": "RST_STREAM", "error_code": not_code})
    return expect


def _after_goaway(expect: dict[str, Any]) -> dict[str, Any]:
    """``expect`` of a stream error that follows our own GOAWAY(NO_ERROR)."""
    expect["frames"].insert(0, {"type": "GOAWAY", "error_code": "NO_ERROR", "last_stream_id": 1})
    expect["absent"] = [
        {"type": "GOAWAY", "error_code": "PROTOCOL_ERROR"},
        *expect["absent"][1:],
    ]
    return expect


def _malformed_on_any_state(f: str) -> None:
    """A malformed list is a connection error whatever the stream's state."""
    states: list[tuple[str, str, list[dict[str, Any]]]] = [
        (
            "half-closed-remote",
            "half-closed (remote) stream 1",
            [s_recv(headers(1, REQ, es=True), _bad_list(1), P)],
        ),
        (
            "closed",
            "closed stream 1 (below stream 3)",
            [s_recv(headers(3, REQ, es=True), _bad_list(1), P)],
        ),
        (
            "closed-answered",
            "stream 1 after its response closed it",
            [s_recv(headers(1, REQ, es=True)), respond(1), recv(_bad_list(1), P)],
        ),
        (
            "recently-reset",
            "stream 1 that the server reset (otherwise ignored)",
            [
                s_recv(headers(1, POST)),
                {"reset_stream": {"stream_id": 1, "error_code": "CANCEL"}},
                recv(_bad_list(1), P),
            ],
        ),
        (
            "trailers-without-end-stream",
            "open stream 1 as trailers without END_STREAM (shape before semantics)",
            [s_recv(headers(1, POST), _bad_list(1, es=False), P)],
        ),
    ]
    for name, where, steps in states:
        add_session(
            f,
            f"malformed-on-{name}",
            "4.2",
            f"Non-msgpack HEADERS on {where}: connection error PROTOCOL_ERROR.",
            "server",
            steps,
            conn_error("PROTOCOL_ERROR"),
        )
    add_session(
        f,
        "client-malformed-on-reset-stream",
        "4.2",
        "Client reset stream 1; a non-msgpack response on it is still a connection error.",
        "client",
        [
            open_stream(es=True),
            {"reset_stream": {"stream_id": 1, "error_code": "CANCEL"}},
            c_recv(_bad_list(1, es=False), P),
        ],
        conn_error("PROTOCOL_ERROR"),
    )
    add_session(
        f,
        "refused-before-semantics",
        "4.2",
        "Limit 1 in use: a malformed request (no :path) on stream 3 is refused: "
        "admission comes before message semantics.",
        "server",
        [
            s_recv(
                SETTINGS_ACK, headers(1, REQ, es=True), headers(3, [(":method", "GET")], es=True), P
            )
        ],
        _only(3, "REFUSED_STREAM", "PROTOCOL_ERROR"),
        {"MAX_CONCURRENT_STREAMS": 1},
    )


def field_count_sessions() -> None:
    """Section 11.1: at most 256 fields per received list (a local, SHOULD-level limit)."""
    f = "header_fields"
    add_session(
        f,
        "request-257-fields",
        "5.1",
        "A request with 257 fields (suggested limit 256): HEADER_LIST_TOO_LARGE.",
        "server",
        [s_recv(headers(1, MANY, es=True), P)],
        stream_error(1, "HEADER_LIST_TOO_LARGE"),
    )
    add_session(
        f,
        "request-256-fields",
        "5.1",
        "A request with exactly 256 fields is accepted.",
        "server",
        [s_recv(headers(1, ENOUGH, es=True), P)],
        alive(absent=[{"type": "RST_STREAM"}]),
    )
    add_session(
        f,
        "trailers-257-fields",
        "5.1",
        "Request trailers with 257 fields: HEADER_LIST_TOO_LARGE.",
        "server",
        [
            s_recv(
                headers(1, POST),
                headers(
                    1,
                    [(n, v) for n, v in MANY if n[0] != ":"] + [("x-a", ""), ("x-b", "")],
                    es=True,
                ),
                P,
            )
        ],
        stream_error(1, "HEADER_LIST_TOO_LARGE"),
    )
    add_session(
        f,
        "client-response-257-fields",
        "5.1",
        "A response with 257 fields: HEADER_LIST_TOO_LARGE.",
        "client",
        [open_stream(es=True), c_recv(headers(1, [*RESP, *MANY[2:], ("x-z", "")]), P)],
        stream_error(1, "HEADER_LIST_TOO_LARGE"),
    )
