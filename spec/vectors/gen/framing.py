"""Session vectors on framing: preface, frame size, unknown types, stream 0, fixed sizes."""

from __future__ import annotations

from .registry import (
    DEFAULT_FRAME_SIZE,
    P,
    add_session,
    alive,
    c_recv,
    conn_error,
    open_stream,
    recv,
    respond,
    s_recv,
)
from .wire import (
    ACK,
    ALIVE,
    POST,
    PREFACE,
    REQ,
    RESP,
    SETTINGS_ACK,
    data,
    frame,
    headers,
    ping,
    rst,
    settings,
    window_update,
)


def preface_sessions() -> None:
    f = "preface"
    add_session(
        f,
        "server-happy-path",
        "2.2",
        "Request then response: SETTINGS, ACK and HEADERS appear.",
        "server",
        [s_recv(SETTINGS_ACK, headers(1, REQ, es=True)), respond(1)],
        {
            "frames": [
                {"type": "SETTINGS", "ack": False},
                {"type": "SETTINGS", "ack": True},
                {
                    "type": "HEADERS",
                    "stream_id": 1,
                    "end_stream": True,
                    "headers": [list(p) for p in RESP],
                },
            ],
            "absent": [{"type": "GOAWAY"}, {"type": "RST_STREAM"}],
        },
    )
    add_session(
        f,
        "client-happy-path",
        "2.2",
        "Client opens stream 1, receives the response.",
        "client",
        [open_stream(es=True), c_recv(SETTINGS_ACK, headers(1, RESP), data(1, b"ok", es=True))],
        {
            "frames": [
                {"type": "SETTINGS", "ack": False},
                {"type": "HEADERS", "stream_id": 1, "end_stream": True},
                {"type": "SETTINGS", "ack": True},
            ],
            "absent": [{"type": "GOAWAY"}, {"type": "RST_STREAM"}],
        },
    )
    add_session(
        f,
        "server-bad-magic-h2",
        "2.2",
        "An HTTP/2 preface is not the mux magic.",
        "server",
        [recv(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")],
        conn_error("PROTOCOL_ERROR", last_stream_id=0),
    )
    add_session(
        f,
        "server-bad-magic-http1",
        "2.2",
        "An HTTP/1.1 request line is not the mux magic.",
        "server",
        [recv(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")],
        conn_error("PROTOCOL_ERROR"),
    )
    add_session(
        f,
        "server-bad-magic-last-byte",
        "2.2",
        "Magic wrong only in its 7th byte.",
        "server",
        [recv(b"\x89MUX\r\n\x00\x01" + settings())],
        conn_error("PROTOCOL_ERROR"),
    )
    add_session(
        f,
        "server-version-2",
        "2.3",
        "Correct magic, version 02: UNSUPPORTED_VERSION.",
        "server",
        [recv(PREFACE[:7] + b"\x02" + settings())],
        conn_error("UNSUPPORTED_VERSION", last_stream_id=0),
    )
    add_session(
        f,
        "server-version-0",
        "2.3",
        "Version 00 is not supported.",
        "server",
        [recv(PREFACE[:7] + b"\x00")],
        conn_error("UNSUPPORTED_VERSION", last_stream_id=0),
    )
    add_session(
        f,
        "client-server-version-2",
        "2.3",
        "The server answers with version 02.",
        "client",
        [recv(PREFACE[:7] + b"\x02" + settings())],
        conn_error("UNSUPPORTED_VERSION"),
    )
    add_session(
        f,
        "client-server-bad-magic",
        "2.2",
        "The server's magic is wrong.",
        "client",
        [recv(b"HTTP/1.1 400 Bad Request\r\n\r\n")],
        conn_error("PROTOCOL_ERROR"),
    )
    for name, first in [
        ("ping", ping(ALIVE)),
        ("headers", headers(1, REQ, es=True)),
        ("settings-ack", SETTINGS_ACK),
        ("window-update", window_update(0, 100)),
        ("unknown-type", frame(0xEE, 0, 0, b"")),
    ]:
        add_session(
            f,
            f"server-first-frame-{name}",
            "2.2",
            f"First frame after the preface is {name}, not a non-ACK SETTINGS.",
            "server",
            [recv(PREFACE, first, settings())],
            conn_error("PROTOCOL_ERROR"),
        )
    add_session(
        f,
        "client-first-frame-ping",
        "2.2",
        "The server's first frame is a PING.",
        "client",
        [recv(PREFACE, ping(ALIVE), settings())],
        conn_error("PROTOCOL_ERROR"),
    )


def frame_size_sessions() -> None:
    f = "frame_size"
    add_session(
        f,
        "frame-too-large-header-only",
        "3.2",
        "Only a DATA header claiming 65537 bytes (> default MAX_FRAME_SIZE); no payload "
        "is sent: the error must come from the header alone.",
        "server",
        [s_recv(headers(1, POST), frame(0x0, 0, 1, length=65537))],
        conn_error("FRAME_SIZE_ERROR", last_stream_id=1),
        assumes=DEFAULT_FRAME_SIZE,
    )
    add_session(
        f,
        "frame-length-2p32-1-header-only",
        "3.2",
        "A HEADERS header claiming 2^32-1 bytes.",
        "server",
        [s_recv(frame(0x1, 0, 1, length=2**32 - 1))],
        conn_error("FRAME_SIZE_ERROR"),
    )
    add_session(
        f,
        "frame-too-large-unknown-type",
        "3.2",
        "Unknown types are size-checked too.",
        "server",
        [s_recv(frame(0xEE, 0, 0, length=65537))],
        conn_error("FRAME_SIZE_ERROR"),
        assumes=DEFAULT_FRAME_SIZE,
    )
    add_session(
        f,
        "frame-too-large-settings-first",
        "3.2",
        "The first SETTINGS is size-checked.",
        "server",
        [recv(PREFACE, frame(0x3, 0, 0, length=1 << 24))],
        conn_error("FRAME_SIZE_ERROR"),
    )
    add_session(
        f,
        "client-frame-too-large",
        "3.2",
        "A server DATA header claiming 65537 bytes.",
        "client",
        [open_stream(), c_recv(headers(1, RESP), frame(0x0, 0, 1, length=65537))],
        conn_error("FRAME_SIZE_ERROR"),
        assumes=DEFAULT_FRAME_SIZE,
    )
    ls = {"MAX_FRAME_SIZE": 1024}
    add_session(
        f,
        "max-frame-size-lowered-exact",
        "3.2",
        "Local MAX_FRAME_SIZE 1024 (acknowledged): a 1024-byte frame is valid.",
        "server",
        [s_recv(SETTINGS_ACK, headers(1, POST), data(1, b"a" * 1024), P)],
        alive(),
        ls,
    )
    add_session(
        f,
        "max-frame-size-lowered-exceeded",
        "3.2",
        "Local MAX_FRAME_SIZE 1024 (acknowledged): a 1025-byte header is a FRAME_SIZE_ERROR.",
        "server",
        [s_recv(SETTINGS_ACK, headers(1, POST), frame(0x0, 0, 1, length=1025))],
        conn_error("FRAME_SIZE_ERROR"),
        ls,
    )
    add_session(
        f,
        "max-frame-size-lowered-before-ack",
        "6.2",
        "Before the ACK the old MAX_FRAME_SIZE (65536) still applies: 1025 bytes are accepted.",
        "server",
        [s_recv(headers(1, POST), data(1, b"a" * 1025), P)],
        alive(),
        ls,
    )
    add_session(
        f,
        "client-peer-max-frame-size-splits-data",
        "6.1",
        "The server's MAX_FRAME_SIZE 1024 makes the client split 1500 bytes into 1024 + 476.",
        "client",
        [
            recv(PREFACE, settings({"MAX_FRAME_SIZE": 1024})),
            open_stream(POST),
            {"send_data": {"stream_id": 1, "data": (b"z" * 1500).hex(), "end_stream": True}},
        ],
        {
            "frames": [
                {"type": "SETTINGS", "ack": True},
                {"type": "DATA", "stream_id": 1, "length": 1024, "end_stream": False},
                {"type": "DATA", "stream_id": 1, "length": 476, "end_stream": True},
            ],
            "absent": [{"type": "GOAWAY"}],
        },
    )


def unknown_sessions() -> None:
    f = "unknown"
    add_session(
        f,
        "unknown-type-ignored",
        "3.4",
        "An unknown frame type is ignored.",
        "server",
        [s_recv(frame(0xEE, 0xFF, 0, b"future payload"), P)],
        alive(),
    )
    add_session(
        f,
        "unknown-type-does-not-open-stream",
        "3.4",
        "An unknown frame on stream 5 does not open it, so stream 1 can still be opened.",
        "server",
        [s_recv(frame(0x07, 0, 5, b"x"), headers(1, REQ, es=True)), respond(1), recv(P)],
        alive({"type": "HEADERS", "stream_id": 1}, absent=[{"type": "RST_STREAM"}]),
    )
    add_session(
        f,
        "unknown-flags-ping",
        "3.4",
        "PING with undefined flags 0xFE (ACK clear) is answered.",
        "server",
        [s_recv(frame(0x4, 0xFE, 0, ALIVE))],
        alive(),
    )
    add_session(
        f,
        "unknown-flags-settings",
        "3.4",
        "SETTINGS with undefined flags 0xFE is acknowledged.",
        "server",
        [s_recv(frame(0x3, 0xFE, 0, b"\x80"), P)],
        alive({"type": "SETTINGS", "ack": True}, {"type": "SETTINGS", "ack": True}),
    )
    add_session(
        f,
        "unknown-flags-headers",
        "3.4",
        "HEADERS with undefined flags 0xFE (no END_STREAM).",
        "server",
        [s_recv(headers(1, POST, flags=0xFE), data(1, b"x", es=True)), respond(1), recv(P)],
        alive({"type": "HEADERS", "stream_id": 1}, absent=[{"type": "RST_STREAM"}]),
    )
    add_session(
        f,
        "client-unknown-type-ignored",
        "3.4",
        "The client ignores an unknown frame type.",
        "client",
        [c_recv(frame(0xAB, 0, 0, b"?"), P)],
        alive(),
    )
    add_session(
        f,
        "unknown-type-flood",
        "11.2",
        "5000 unknown frames in a row exceed any reasonable "
        "budget: ENHANCE_YOUR_CALM (a SHOULD; see 11.2).",
        "server",
        [s_recv(frame(0xEE, 0, 0) * 5000)],
        conn_error("ENHANCE_YOUR_CALM"),
        heavy=True,
    )
    add_session(
        f,
        "empty-data-flood",
        "11.2",
        "1000 empty DATA frames without END_STREAM: ENHANCE_YOUR_CALM (a SHOULD; see 11.2).",
        "server",
        [s_recv(headers(1, POST), data(1, b"") * 1000)],
        conn_error("ENHANCE_YOUR_CALM"),
        heavy=True,
    )


def stream_zero_sessions() -> None:
    f = "stream_id_class"
    for name, fr in [
        ("data", data(0, b"x")),
        ("headers", headers(0, REQ)),
        ("rst-stream", rst(0, "CANCEL")),
    ]:
        add_session(
            f,
            f"{name}-on-stream-0",
            "3.3",
            f"{name.upper()} on stream 0.",
            "server",
            [s_recv(fr)],
            conn_error("PROTOCOL_ERROR"),
        )
    for name, fr in [
        ("settings", frame(0x3, 0, 1, b"\x80")),
        ("ping", frame(0x4, 0, 1, ALIVE)),
        ("goaway", frame(0x5, 0, 1, bytes(8))),
    ]:
        add_session(
            f,
            f"{name}-on-stream-1",
            "3.3",
            f"{name.upper()} on a non-zero stream.",
            "server",
            [s_recv(headers(1, POST), fr)],
            conn_error("PROTOCOL_ERROR"),
        )


def fixed_size_sessions() -> None:
    f = "fixed_sizes"
    cases = [
        ("rst-stream-3-bytes", "4.3", frame(0x2, 0, 1, b"\x00\x00\x08")),
        ("rst-stream-5-bytes", "4.3", frame(0x2, 0, 1, b"\x00\x00\x00\x08\x00")),
        ("ping-7-bytes", "4.5", frame(0x4, 0, 0, ALIVE[:7])),
        ("ping-9-bytes", "4.5", frame(0x4, 0, 0, ALIVE + b"!")),
        ("ping-ack-0-bytes", "4.5", frame(0x4, ACK, 0, b"")),
        ("settings-ack-with-payload", "4.4", frame(0x3, ACK, 0, b"\x80")),
        ("goaway-7-bytes", "4.6", frame(0x5, 0, 0, bytes(7))),
        ("window-update-3-bytes", "4.7", frame(0x6, 0, 1, b"\x00\x00\x01")),
        ("window-update-5-bytes", "4.7", frame(0x6, 0, 0, b"\x00\x00\x00\x01\x00")),
    ]
    for name, sec, fr in cases:
        add_session(
            f,
            name,
            sec,
            f"{name}: wrong payload length for the type.",
            "server",
            [s_recv(headers(1, POST), fr)],
            conn_error("FRAME_SIZE_ERROR", last_stream_id=1),
        )
