"""Vectors for the points revision 1.1 of the spec resolved (its Appendix B).

Each vector pins one decision where the 1.0 text was ambiguous: integer formats and
SETTINGS entry order, several out-of-range settings, skipped stream ids, RST_STREAM and
WINDOW_UPDATE on closed streams, and the order of checks for DATA on a half-closed stream.
They go into the files of their frame type, after that file's other vectors.
"""

from __future__ import annotations

import struct

from .registry import (
    P,
    add_frame,
    add_session,
    alive,
    conn_error,
    s_recv,
    stream_error,
)
from .wire import POST, SETTINGS_ACK, data, frame, headers, rst, settings, window_update


def _signed_settings() -> bytes:
    """SETTINGS {MAX_CONCURRENT_STREAMS: 50, KEEPALIVE_INTERVAL: 0} written with signed
    formats: key int 8 (d0 01), value int 32 (d2 00 00 00 32), key int 16 (d1 00 06),
    value int 64 (d3 0 x 8)."""
    payload = (
        b"\x82"
        + b"\xd0\x01"
        + b"\xd2"
        + struct.pack(">i", 50)
        + b"\xd1"
        + struct.pack(">h", 6)
        + b"\xd3"
        + struct.pack(">q", 0)
    )
    return frame(0x3, 0, 0, payload)


def rev11_frame_vectors() -> None:
    add_frame(
        "settings",
        "settings-unordered-ids",
        "6",
        "Entries not in ascending id order: valid (any order is accepted), not canonical.",
        settings({"MAX_FRAME_SIZE": 1048576, "MAX_CONCURRENT_STREAMS": 10}, ordered=False),
        canonical=False,
    )


def rev11_sessions() -> None:
    add_session(
        "settings",
        "settings-signed-int-formats",
        "1.2",
        "Keys and values in signed msgpack formats carrying non-negative values are accepted.",
        "server",
        [s_recv(_signed_settings(), P)],
        alive({"type": "SETTINGS", "ack": True}),
    )
    add_session(
        "settings",
        "settings-two-out-of-range-lowest-id-decides",
        "6",
        "MAX_FRAME_SIZE 0 then INITIAL_STREAM_WINDOW 2^31 in one frame: the lowest id "
        "out of range (0x2) decides: FLOW_CONTROL_ERROR.",
        "server",
        [s_recv(settings({"MAX_FRAME_SIZE": 0, "INITIAL_STREAM_WINDOW": 2**31}, ordered=False))],
        conn_error("FLOW_CONTROL_ERROR"),
    )
    add_session(
        "settings",
        "settings-two-out-of-range-payload-order-irrelevant",
        "6",
        "CONNECTION_WINDOW 2^31 then MAX_CONCURRENT_STREAMS 2^31 in one frame: the lowest "
        "id out of range (0x1) decides: PROTOCOL_ERROR.",
        "server",
        [
            s_recv(
                settings(
                    {"CONNECTION_WINDOW": 2**31, "MAX_CONCURRENT_STREAMS": 2**31},
                    ordered=False,
                )
            )
        ],
        conn_error("PROTOCOL_ERROR"),
    )
    add_session(
        "rst_stream",
        "rst-stream-skipped-id-ignored",
        "7.1",
        "Stream 5 opens (1 and 3 skipped): RST_STREAM on skipped id 3 is ignored (closed).",
        "server",
        [s_recv(headers(5, POST), rst(3, "CANCEL"), P)],
        alive(absent=[{"type": "RST_STREAM"}]),
    )
    add_session(
        "data",
        "data-on-skipped-id",
        "7.1",
        "Stream 5 opens (1 and 3 skipped): DATA on skipped id 3 is on a closed stream.",
        "server",
        [s_recv(headers(5, POST), data(3, b"x"), P)],
        stream_error(3, "STREAM_CLOSED"),
    )
    add_session(
        "window_update",
        "window-update-skipped-id-ignored",
        "7.1",
        "Stream 5 opens (1 and 3 skipped): WINDOW_UPDATE on skipped id 3 is ignored.",
        "server",
        [s_recv(headers(5, POST), window_update(3, 100), P)],
        alive(absent=[{"type": "RST_STREAM"}]),
    )
    add_session(
        "window_update",
        "window-update-zero-closed-stream-ignored",
        "4.7",
        "WINDOW_UPDATE with increment 0 on a stream the client reset: ignored (closed "
        "comes before the increment check).",
        "server",
        [s_recv(headers(1, POST), rst(1, "CANCEL"), window_update(1, 0), P)],
        alive(absent=[{"type": "RST_STREAM"}]),
    )
    add_session(
        "flow_control",
        "data-half-closed-remote-beyond-stream-window",
        "8.4",
        "Local stream window 1024 (acknowledged); stream 1 ended by the client, then 1025 "
        "bytes of DATA: stream state comes before the stream window: STREAM_CLOSED.",
        "server",
        [s_recv(SETTINGS_ACK, headers(1, POST, es=True), data(1, b"a" * 1025), P)],
        stream_error(1, "STREAM_CLOSED"),
        {"INITIAL_STREAM_WINDOW": 1024},
    )
