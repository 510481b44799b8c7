"""Session vectors on control frames: RST_STREAM, SETTINGS, PING and GOAWAY."""

from __future__ import annotations

import msgpack

from .registry import (
    P,
    add_session,
    alive,
    c_recv,
    code_slug,
    conn_error,
    graceful_goaway,
    open_stream,
    pong,
    recv,
    respond,
    s_recv,
)
from .wire import (
    MAX_SETTINGS,
    POST,
    PREFACE,
    REQ,
    SETTINGS_ACK,
    U31,
    frame,
    goaway,
    headers,
    ping,
    rst,
    settings,
)


def rst_sessions() -> None:
    f = "rst_stream"
    add_session(
        f,
        "rst-stream-idle",
        "7.2",
        "RST_STREAM on a stream never opened.",
        "server",
        [s_recv(rst(1, "CANCEL"))],
        conn_error("PROTOCOL_ERROR"),
    )
    add_session(
        f,
        "rst-stream-closes-stream",
        "4.3",
        "The client resets stream 1: the server does not "
        "answer with RST_STREAM and can no longer respond.",
        "server",
        [s_recv(headers(1, POST), rst(1, "CANCEL"), P), {**respond(1), "expect_local_error": True}],
        alive(absent=[{"type": "RST_STREAM"}, {"type": "HEADERS"}]),
    )
    add_session(
        f,
        "rst-stream-closed-ignored",
        "7.3",
        "A second RST_STREAM on a closed stream is ignored.",
        "server",
        [s_recv(headers(1, POST), rst(1, "CANCEL"), rst(1, "INTERNAL_ERROR"), P)],
        alive(absent=[{"type": "RST_STREAM"}]),
    )
    codes: list[str | int] = [
        "NO_ERROR",
        "INTERNAL_ERROR",
        "REFUSED_STREAM",
        "ENHANCE_YOUR_CALM",
        0x1234,
    ]
    for code in codes:
        name = code_slug(code)
        add_session(
            f,
            f"client-receives-rst-{name}",
            "10.3",
            f"The server resets stream 1 with {code}: the stream ends, the connection lives.",
            "client",
            [open_stream(es=True), c_recv(rst(1, code), P)],
            alive(absent=[{"type": "RST_STREAM"}]),
        )


def settings_sessions() -> None:
    f = "settings"
    bad = [
        ("empty-payload", b""),
        ("array", msgpack.packb([1, 100])),
        ("trailing-bytes", b"\x80\x00"),
        ("negative-value", msgpack.packb({1: -1})),
        ("bool-value", msgpack.packb({1: True})),
        ("float-value", msgpack.packb({1: 1.0})),
        ("str-key", msgpack.packb({"1": 100})),
        ("nested-value", msgpack.packb({1: {1: 1}})),
        ("duplicate-id", b"\x82\x01\x0a\x01\x0b"),
        ("33-entries", msgpack.packb({100 + i: i for i in range(33)})),
        ("map32-claims-2p32-1", b"\xdf\xff\xff\xff\xff"),
    ]
    for name, payload in bad:
        add_session(
            f,
            f"settings-{name}",
            "6",
            f"Malformed SETTINGS payload: {name}.",
            "server",
            [s_recv(frame(0x3, 0, 0, payload))],
            conn_error("PROTOCOL_ERROR"),
        )
    add_session(
        f,
        "settings-first-malformed",
        "6",
        "The first SETTINGS itself is malformed.",
        "server",
        [recv(PREFACE, frame(0x3, 0, 0, b"\x90"))],
        conn_error("PROTOCOL_ERROR"),
    )
    add_session(
        f,
        "settings-32-entries",
        "6",
        "32 entries (unknown ids) are accepted and acknowledged.",
        "server",
        [s_recv(settings({100 + i: i for i in range(32)}), P)],
        alive({"type": "SETTINGS", "ack": True}, {"type": "SETTINGS", "ack": True}),
    )
    out_of_range = [
        ("max-concurrent-streams", "MAX_CONCURRENT_STREAMS", 2**31, "PROTOCOL_ERROR"),
        ("initial-stream-window", "INITIAL_STREAM_WINDOW", 2**31, "FLOW_CONTROL_ERROR"),
        ("connection-window", "CONNECTION_WINDOW", 2**31, "FLOW_CONTROL_ERROR"),
        ("max-frame-size-low", "MAX_FRAME_SIZE", 1023, "PROTOCOL_ERROR"),
        ("max-frame-size-high", "MAX_FRAME_SIZE", 16777216, "PROTOCOL_ERROR"),
        ("max-header-list-size", "MAX_HEADER_LIST_SIZE", 2**32, "PROTOCOL_ERROR"),
        ("keepalive-interval", "KEEPALIVE_INTERVAL", 2**32, "PROTOCOL_ERROR"),
    ]
    for name, key, value, code in out_of_range:
        add_session(
            f,
            f"settings-range-{name}",
            "6.1",
            f"{key} = {value} is out of range: {code}.",
            "server",
            [s_recv(settings({key: value}))],
            conn_error(code),
        )
    add_session(
        f,
        "settings-range-limits-accepted",
        "6.1",
        "Every setting at its bound is accepted.",
        "server",
        [
            s_recv(
                settings(MAX_SETTINGS),
                settings(
                    {
                        "MAX_FRAME_SIZE": 1024,
                        "MAX_CONCURRENT_STREAMS": 0,
                        "INITIAL_STREAM_WINDOW": 0,
                        "CONNECTION_WINDOW": 0,
                        "MAX_HEADER_LIST_SIZE": 0,
                    }
                ),
                P,
            )
        ],
        alive(
            {"type": "SETTINGS", "ack": True},
            {"type": "SETTINGS", "ack": True},
            {"type": "SETTINGS", "ack": True},
        ),
    )
    add_session(
        f,
        "settings-unknown-id-ignored",
        "6",
        "Unknown id 0x99 is ignored; the frame is acked.",
        "server",
        [s_recv(settings({0x99: 12345}), P)],
        alive({"type": "SETTINGS", "ack": True}, {"type": "SETTINGS", "ack": True}),
    )
    add_session(
        f,
        "settings-unsolicited-ack",
        "4.4",
        "An ACK with no outstanding SETTINGS.",
        "server",
        [s_recv(SETTINGS_ACK, SETTINGS_ACK)],
        conn_error("PROTOCOL_ERROR"),
    )
    add_session(
        f,
        "client-peer-max-concurrent-streams",
        "7.4",
        "The server allows 1 stream: the client cannot open a second.",
        "client",
        [
            recv(PREFACE, settings({"MAX_CONCURRENT_STREAMS": 1})),
            open_stream(),
            open_stream(expect_local_error=True),
        ],
        {
            "frames": [{"type": "HEADERS", "stream_id": 1}],
            "absent": [{"type": "HEADERS", "stream_id": 3}, {"type": "GOAWAY"}],
        },
    )


def ping_sessions() -> None:
    f = "ping"
    add_session(
        f,
        "ping-answered",
        "4.5",
        "PING is answered with ACK and the same bytes.",
        "server",
        [s_recv(ping(bytes(range(8))))],
        {
            "frames": [{"type": "PING", "ack": True, "data": bytes(range(8)).hex()}],
            "absent": [{"type": "GOAWAY"}],
        },
    )
    add_session(
        f,
        "ping-ack-not-answered",
        "4.5",
        "An unsolicited PING ACK is ignored, not answered.",
        "server",
        [s_recv(ping(b"unasked!", ack=True), P)],
        alive(absent=[{"type": "PING", "data": b"unasked!".hex()}]),
    )
    add_session(
        f,
        "client-ping-answered",
        "4.5",
        "The client answers a PING.",
        "client",
        [c_recv(P)],
        alive(),
    )


def goaway_sessions() -> None:
    f = "goaway"
    add_session(
        f,
        "goaway-received-no-error",
        "9.1",
        "The client's GOAWAY with debug data is accepted.",
        "server",
        [s_recv(headers(1, REQ, es=True), goaway(0, "NO_ERROR", b"bye")), respond(1)],
        {
            "frames": [{"type": "HEADERS", "stream_id": 1}],
            "absent": [{"type": "GOAWAY", "error_code": "PROTOCOL_ERROR"}, {"type": "RST_STREAM"}],
        },
    )
    add_session(
        f,
        "goaway-then-new-stream-refused",
        "9.1",
        "After the server's GOAWAY(last=1), stream 3 is refused.",
        "server",
        [
            s_recv(headers(1, REQ, es=True)),
            graceful_goaway(),
            recv(headers(3, REQ, es=True), P),
        ],
        {
            "frames": [
                {"type": "GOAWAY", "last_stream_id": 1, "error_code": "NO_ERROR"},
                {"type": "RST_STREAM", "stream_id": 3, "error_code": "REFUSED_STREAM"},
                pong(),
            ],
            "absent": [{"type": "GOAWAY", "error_code": "PROTOCOL_ERROR"}],
        },
    )
    add_session(
        f,
        "goaway-graceful-first-step",
        "9.1",
        "After GOAWAY(2^31-1) streams in flight are still processed.",
        "server",
        [
            s_recv(),
            {"goaway": {"error_code": "NO_ERROR", "last_stream_id": U31}},
            recv(headers(1, REQ, es=True), P),
            respond(1),
        ],
        {
            "frames": [
                {"type": "GOAWAY", "last_stream_id": U31},
                pong(),
                {"type": "HEADERS", "stream_id": 1},
            ],
            "absent": [{"type": "RST_STREAM"}],
        },
    )
    add_session(
        f,
        "goaway-last-stream-id-on-error",
        "10.1",
        "A connection error reports the highest processed stream in GOAWAY.",
        "server",
        [s_recv(headers(1, POST), headers(3, POST), frame(0x4, 0, 0, b"short"))],
        conn_error("FRAME_SIZE_ERROR", last_stream_id=3),
    )
    add_session(
        f,
        "client-goaway-stops-new-streams",
        "9.2",
        "After GOAWAY the client opens no stream.",
        "client",
        [
            open_stream(es=True),
            c_recv(goaway(1, "NO_ERROR")),
            open_stream(es=True, expect_local_error=True),
        ],
        {
            "frames": [{"type": "HEADERS", "stream_id": 1}],
            "absent": [{"type": "HEADERS", "stream_id": 3}, {"type": "RST_STREAM"}],
        },
    )
    goaway_codes: list[str | int] = [
        "ENHANCE_YOUR_CALM",
        "SETTINGS_TIMEOUT",
        "INTERNAL_ERROR",
        0xABCD,
    ]
    for code in goaway_codes:
        name = code_slug(code)
        add_session(
            f,
            f"client-receives-goaway-{name}",
            "10.3",
            f"GOAWAY({code}) from the server is "
            "accepted (no protocol error in return); no new stream may be opened.",
            "client",
            [
                open_stream(es=True),
                c_recv(goaway(1, code, b"debug")),
                open_stream(expect_local_error=True),
            ],
            {
                "absent": [
                    {"type": "GOAWAY", "error_code": "PROTOCOL_ERROR"},
                    {"type": "HEADERS", "stream_id": 3},
                ]
            },
        )
