"""Session vectors on flow control: WINDOW_UPDATE and the send/receive windows."""

from __future__ import annotations

from .registry import (
    P,
    add_session,
    alive,
    conn_error,
    open_stream,
    pong,
    recv,
    respond,
    s_recv,
    stream_error,
)
from .wire import (
    POST,
    PREFACE,
    REQ,
    SETTINGS_ACK,
    U31,
    data,
    headers,
    settings,
    window_update,
)


def window_update_sessions() -> None:
    f = "window_update"
    add_session(
        f,
        "window-update-connection-zero",
        "4.7",
        "Increment 0 on stream 0.",
        "server",
        [s_recv(window_update(0, 0))],
        conn_error("PROTOCOL_ERROR"),
    )
    add_session(
        f,
        "window-update-stream-zero",
        "4.7",
        "Increment 0 on an open stream.",
        "server",
        [s_recv(headers(1, POST), window_update(1, 0), P)],
        stream_error(1, "PROTOCOL_ERROR"),
    )
    add_session(
        f,
        "window-update-reserved-bit-only",
        "4.7",
        "Increment 0x80000000 is 0 once the reserved bit is masked.",
        "server",
        [s_recv(headers(1, POST), window_update(1, 0x80000000), P)],
        stream_error(1, "PROTOCOL_ERROR"),
    )
    add_session(
        f,
        "window-update-idle-stream",
        "7.2",
        "WINDOW_UPDATE on a stream never opened.",
        "server",
        [s_recv(window_update(1, 100))],
        conn_error("PROTOCOL_ERROR"),
    )
    add_session(
        f,
        "window-update-closed-stream-ignored",
        "7.3",
        "WINDOW_UPDATE on a closed stream is ignored.",
        "server",
        [s_recv(headers(1, REQ, es=True)), respond(1), recv(window_update(1, 100), P)],
        alive(absent=[{"type": "RST_STREAM"}]),
    )
    add_session(
        f,
        "window-update-stream-overflow",
        "8.4",
        "262144 + (2^31-262144) exceeds 2^31-1.",
        "server",
        [s_recv(headers(1, POST), window_update(1, 2**31 - 262144), P)],
        stream_error(1, "FLOW_CONTROL_ERROR"),
    )
    add_session(
        f,
        "window-update-connection-overflow",
        "8.4",
        "1048576 + (2^31-1048576) exceeds 2^31-1.",
        "server",
        [s_recv(window_update(0, 2**31 - 1048576))],
        conn_error("FLOW_CONTROL_ERROR"),
    )
    add_session(
        f,
        "window-update-stream-to-max",
        "8.2",
        "A stream window of exactly 2^31-1 is valid.",
        "server",
        [s_recv(headers(1, POST), window_update(1, U31 - 262144), P)],
        alive(absent=[{"type": "RST_STREAM"}]),
    )
    add_session(
        f,
        "window-update-connection-to-max",
        "8.2",
        "A connection window of exactly 2^31-1.",
        "server",
        [s_recv(window_update(0, U31 - 1048576), P)],
        alive(),
    )
    add_session(
        f,
        "window-update-overflow-two-steps",
        "8.4",
        "Two updates that together overflow.",
        "server",
        [s_recv(headers(1, POST), window_update(1, 2**30), window_update(1, 2**30), P)],
        stream_error(1, "FLOW_CONTROL_ERROR"),
    )
    add_session(
        f,
        "settings-stream-window-overflow",
        "8.5",
        "A stream window at 2^31-1, then INITIAL_STREAM_WINDOW +1: connection FLOW_CONTROL_ERROR.",
        "server",
        [
            s_recv(
                headers(1, POST),
                window_update(1, U31 - 262144),
                settings({"INITIAL_STREAM_WINDOW": 262145}),
            )
        ],
        conn_error("FLOW_CONTROL_ERROR"),
    )
    add_session(
        f,
        "settings-connection-window-overflow",
        "8.5",
        "The connection window at 2^31-1, then CONNECTION_WINDOW +1.",
        "server",
        [s_recv(window_update(0, U31 - 1048576), settings({"CONNECTION_WINDOW": 1048577}))],
        conn_error("FLOW_CONTROL_ERROR"),
    )


def flow_sessions() -> None:
    f = "flow_control"
    sw = {"INITIAL_STREAM_WINDOW": 1024}
    add_session(
        f,
        "data-beyond-stream-window",
        "8.4",
        "Local stream window 1024 (acknowledged): 1025 bytes.",
        "server",
        [s_recv(SETTINGS_ACK, headers(1, POST), data(1, b"a" * 1025), P)],
        stream_error(1, "FLOW_CONTROL_ERROR"),
        sw,
    )
    add_session(
        f,
        "data-fills-stream-window",
        "8.1",
        "Exactly 1024 bytes in a 1024-byte stream window.",
        "server",
        [s_recv(SETTINGS_ACK, headers(1, POST), data(1, b"a" * 1000), data(1, b"b" * 24), P)],
        alive(absent=[{"type": "RST_STREAM"}]),
        sw,
    )
    add_session(
        f,
        "data-beyond-stream-window-two-frames",
        "8.4",
        "600 + 600 bytes in a 1024 window.",
        "server",
        [s_recv(SETTINGS_ACK, headers(1, POST), data(1, b"a" * 600), data(1, b"b" * 600), P)],
        stream_error(1, "FLOW_CONTROL_ERROR"),
        sw,
    )
    add_session(
        f,
        "stream-window-before-ack",
        "6.2",
        "Before the ACK the default stream window applies.",
        "server",
        [s_recv(headers(1, POST), data(1, b"a" * 1025), P)],
        alive(absent=[{"type": "RST_STREAM"}]),
        sw,
    )
    cw = {"CONNECTION_WINDOW": 1024}
    add_session(
        f,
        "data-beyond-connection-window",
        "8.4",
        "Local connection window 1024: 1025 bytes.",
        "server",
        [s_recv(SETTINGS_ACK, headers(1, POST), data(1, b"a" * 1025))],
        conn_error("FLOW_CONTROL_ERROR", last_stream_id=1),
        cw,
    )
    add_session(
        f,
        "data-beyond-connection-window-two-streams",
        "8.4",
        "600 bytes on each of two streams in a 1024-byte connection window.",
        "server",
        [
            s_recv(
                SETTINGS_ACK,
                headers(1, POST),
                headers(3, POST),
                data(1, b"a" * 600),
                data(3, b"b" * 600),
            )
        ],
        conn_error("FLOW_CONTROL_ERROR"),
        cw,
    )
    add_session(
        f,
        "data-fills-connection-window",
        "8.1",
        "Exactly 1024 bytes over two streams.",
        "server",
        [
            s_recv(
                SETTINGS_ACK,
                headers(1, POST),
                headers(3, POST),
                data(1, b"a" * 512),
                data(3, b"b" * 512),
                P,
            )
        ],
        alive(absent=[{"type": "RST_STREAM"}]),
        cw,
    )
    add_session(
        f,
        "no-credit-without-consume",
        "8.3",
        "Received but unconsumed data earns no WINDOW_UPDATE.",
        "server",
        [s_recv(SETTINGS_ACK, headers(1, POST), data(1, b"a" * 600), P)],
        alive(absent=[{"type": "WINDOW_UPDATE"}]),
        sw,
    )
    add_session(
        f,
        "credit-on-consume-stream",
        "8.3",
        "Consuming 600 of a 1024 stream window (>= half) returns 600 bytes of stream credit.",
        "server",
        [
            s_recv(SETTINGS_ACK, headers(1, POST), data(1, b"a" * 600)),
            {"consume": {"stream_id": 1, "bytes": 600}},
        ],
        {
            "frames": [{"type": "WINDOW_UPDATE", "stream_id": 1, "increment": 600}],
            "absent": [{"type": "GOAWAY"}, {"type": "RST_STREAM"}],
        },
        sw,
    )
    add_session(
        f,
        "credit-on-consume-connection",
        "8.3",
        "Consuming 1024 of a 2048 connection window returns connection credit.",
        "server",
        [
            s_recv(SETTINGS_ACK, headers(1, POST), data(1, b"a" * 1024)),
            {"consume": {"stream_id": 1, "bytes": 1024}},
        ],
        {
            "frames": [{"type": "WINDOW_UPDATE", "stream_id": 0, "increment": 1024}],
            "absent": [{"type": "GOAWAY"}],
        },
        {"CONNECTION_WINDOW": 2048},
    )
    add_session(
        f,
        "stream-error-credits-connection",
        "8.4",
        "Bytes of a DATA refused by a stream error are "
        "returned to the connection window: a later 1024 bytes on stream 3 fit.",
        "server",
        [
            s_recv(
                SETTINGS_ACK,
                headers(1, POST),
                headers(3, POST),
                data(1, b"a" * 1025),
                data(3, b"b" * 1024),
                P,
            )
        ],
        {
            "frames": [
                {"type": "RST_STREAM", "stream_id": 1, "error_code": "FLOW_CONTROL_ERROR"},
                pong(),
            ],
            "contains": [{"type": "WINDOW_UPDATE", "stream_id": 0}],
            "absent": [{"type": "GOAWAY"}],
        },
        {"INITIAL_STREAM_WINDOW": 1024, "CONNECTION_WINDOW": 2048},
    )
    add_session(
        f,
        "reset-stream-data-credits-connection",
        "8.4",
        "DATA on a stream the server reset is "
        "ignored but its bytes return to the connection window.",
        "server",
        [
            s_recv(SETTINGS_ACK, headers(1, POST), headers(3, POST)),
            {"reset_stream": {"stream_id": 1, "error_code": "CANCEL"}},
            recv(data(1, b"a" * 1100), data(3, b"b" * 1024), P),
        ],
        {
            "frames": [
                {"type": "WINDOW_UPDATE", "stream_id": 0},
                pong(),
            ],
            "absent": [{"type": "GOAWAY"}, {"type": "RST_STREAM", "stream_id": 3}],
        },
        {"CONNECTION_WINDOW": 2048},
    )
    # ---- send side
    add_session(
        f,
        "client-stream-window-exhausted",
        "8.1",
        "Peer stream window 16: the client may send 16 bytes, then nothing until WINDOW_UPDATE.",
        "client",
        [
            recv(PREFACE, settings({"INITIAL_STREAM_WINDOW": 16})),
            open_stream(POST),
            {"check_send_window": {"stream_id": 1, "available": 16}},
            {"send_data": {"stream_id": 1, "data": (b"q" * 16).hex()}},
            {"check_send_window": {"stream_id": 1, "available": 0}},
            {"send_data": {"stream_id": 1, "data": "71"}, "expect_local_error": True},
            recv(window_update(1, 10)),
            {"check_send_window": {"stream_id": 1, "available": 10}},
            {"send_data": {"stream_id": 1, "data": (b"r" * 10).hex(), "end_stream": True}},
        ],
        {
            "frames": [
                {"type": "DATA", "stream_id": 1, "length": 16},
                {"type": "DATA", "stream_id": 1, "length": 10, "end_stream": True},
            ],
            "absent": [{"type": "GOAWAY"}],
        },
    )
    add_session(
        f,
        "client-connection-window-shared",
        "8.1",
        "Peer connection window 10 is shared by streams.",
        "client",
        [
            recv(PREFACE, settings({"CONNECTION_WINDOW": 10})),
            open_stream(POST),
            open_stream(POST),
            {"send_data": {"stream_id": 1, "data": (b"q" * 6).hex()}},
            {"check_send_window": {"stream_id": 3, "available": 4}},
            recv(window_update(0, 5)),
            {"check_send_window": {"stream_id": 3, "available": 9}},
        ],
        {"frames": [{"type": "DATA", "stream_id": 1, "length": 6}], "absent": [{"type": "GOAWAY"}]},
    )
    add_session(
        f,
        "client-negative-window",
        "8.5",
        "Window 100 fully used, then INITIAL_STREAM_WINDOW 50: "
        "the window is -50; +60 brings it to 10.",
        "client",
        [
            recv(PREFACE, settings({"INITIAL_STREAM_WINDOW": 100})),
            open_stream(POST),
            {"send_data": {"stream_id": 1, "data": (b"q" * 100).hex()}},
            recv(settings({"INITIAL_STREAM_WINDOW": 50})),
            {"check_send_window": {"stream_id": 1, "available": 0}},
            recv(window_update(1, 40)),
            {"check_send_window": {"stream_id": 1, "available": 0}},
            recv(window_update(1, 20)),
            {"check_send_window": {"stream_id": 1, "available": 10}},
        ],
        {
            "frames": [
                {"type": "DATA", "stream_id": 1, "length": 100},
                {"type": "SETTINGS", "ack": True},
            ],
            "absent": [{"type": "GOAWAY"}, {"type": "RST_STREAM"}],
        },
    )
    add_session(
        f,
        "client-settings-raise-window",
        "8.5",
        "INITIAL_STREAM_WINDOW 10 -> 30 raises an open stream's window by 20.",
        "client",
        [
            recv(PREFACE, settings({"INITIAL_STREAM_WINDOW": 10})),
            open_stream(POST),
            recv(settings({"INITIAL_STREAM_WINDOW": 30})),
            {"check_send_window": {"stream_id": 1, "available": 30}},
        ],
        {"absent": [{"type": "GOAWAY"}]},
    )
    add_session(
        f,
        "server-negative-window",
        "8.5",
        "The client lowers INITIAL_STREAM_WINDOW after the "
        "server used the window: the server's send window goes negative.",
        "server",
        [
            recv(PREFACE, settings({"INITIAL_STREAM_WINDOW": 100}), headers(1, REQ, es=True)),
            respond(1, es=False),
            {"send_data": {"stream_id": 1, "data": (b"s" * 100).hex()}},
            recv(settings({"INITIAL_STREAM_WINDOW": 40})),
            {"check_send_window": {"stream_id": 1, "available": 0}},
            recv(window_update(1, 70)),
            {"check_send_window": {"stream_id": 1, "available": 10}},
        ],
        {
            "frames": [{"type": "DATA", "stream_id": 1, "length": 100}],
            "absent": [{"type": "GOAWAY"}],
        },
    )
