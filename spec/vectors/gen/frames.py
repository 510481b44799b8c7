"""Frame vectors: one valid frame (or the preface) each, with its meaning."""

from __future__ import annotations

from .registry import FRAME_FILES, add_frame
from .wire import (
    CODES,
    DEFAULT_SETTINGS,
    END_STREAM,
    MAX_SETTINGS,
    POST,
    PREFACE,
    REQ,
    RESP,
    SETTINGS_ACK,
    U31,
    data,
    frame,
    goaway,
    headers,
    hlist,
    ping,
    rst,
    settings,
    window_update,
)


def frame_vectors() -> None:
    FRAME_FILES["preface"] = [
        {
            "id": "preface-v1",
            "section": "2.2",
            "direction": "both",
            "hex": PREFACE.hex(),
            "canonical": True,
            "description": "The 8-byte preface: magic 89 4D 55 58 0D 0A 1A, version 01.",
            "frame": {"type": "PREFACE", "magic": PREFACE[:7].hex(), "version": 1},
        }
    ]
    f = "data"
    add_frame(f, "data-basic", "4.1", "DATA on stream 1, no flags.", data(1, b"hello"))
    add_frame(f, "data-end-stream", "4.1", "DATA with END_STREAM.", data(3, b"bye", es=True))
    add_frame(
        f,
        "data-empty-end-stream",
        "4.1",
        "Empty DATA that only ends the stream.",
        data(5, b"", es=True),
    )
    add_frame(f, "data-binary", "4.1", "DATA payload is opaque bytes.", data(1, bytes(range(256))))
    add_frame(f, "data-high-stream-id", "3.1", "Largest stream id 2^31-1.", data(U31, b"x"))
    add_frame(
        f,
        "data-reserved-bit-set",
        "3.1",
        "Reserved bit 31 of the stream id is ignored: stream 1.",
        frame(0x0, 0, 0x80000001, b"x"),
        canonical=False,
    )
    add_frame(
        f,
        "data-unknown-flags",
        "3.4",
        "Undefined flag bits (0xFE) are ignored.",
        frame(0x0, 0xFE, 1, b"x"),
        canonical=False,
    )
    f = "headers"
    add_frame(
        f,
        "headers-request",
        "5.3",
        "A GET request that ends the stream (bin elements).",
        headers(
            1,
            [
                (":method", "GET"),
                (":path", "/hi"),
                (":scheme", "https"),
                (":authority", "a.example"),
            ],
            es=True,
        ),
        "client-to-server",
    )
    add_frame(
        f,
        "headers-request-with-body",
        "5.3",
        "A POST request with a regular field; body follows.",
        headers(3, [*POST, ("content-type", "application/json"), ("mux-timeout", "1500")]),
        "client-to-server",
    )
    add_frame(
        f,
        "headers-response",
        "5.4",
        "A response header list.",
        headers(1, [(":status", "200"), ("content-type", "text/plain")]),
        "server-to-client",
    )
    add_frame(
        f,
        "headers-trailers",
        "5.5",
        "Trailers: END_STREAM, no pseudo-headers.",
        headers(1, [("grpc-status", "0"), ("grpc-message", "")], es=True),
        "both",
    )
    add_frame(
        f,
        "headers-str-elements",
        "5.1",
        "Elements encoded as msgpack str are accepted as octets.",
        frame(0x1, END_STREAM, 1, hlist(REQ, as_str=True)),
        "client-to-server",
        canonical=False,
    )
    add_frame(
        f,
        "headers-bin16-value",
        "5.1",
        "A 300-byte value uses bin 16.",
        headers(1, [*RESP, ("x-big", "v" * 300)]),
        "server-to-client",
    )
    add_frame(
        f,
        "headers-empty-list",
        "5.1",
        "The empty array 90 is a well-formed header list.",
        frame(0x1, END_STREAM, 1, b"\x90"),
        "both",
    )
    f = "rst_stream"
    for name, code in CODES.items():
        add_frame(
            f,
            f"rst-stream-{name.lower().replace('_', '-')}",
            "10.3",
            f"RST_STREAM with {name} (0x{code:x}).",
            rst(1, code),
        )
    add_frame(
        f,
        "rst-stream-unknown-code",
        "4.3",
        "Unknown code 0x1234 is kept as an integer.",
        rst(3, 0x1234),
    )
    f = "settings"
    add_frame(f, "settings-empty", "6", "SETTINGS with an empty map: all defaults.", settings())
    add_frame(
        f,
        "settings-all",
        "6.1",
        "Every defined setting, ids in ascending order.",
        settings(DEFAULT_SETTINGS),
    )
    add_frame(
        f,
        "settings-max-values",
        "6.1",
        "Upper bounds of every range.",
        settings(MAX_SETTINGS),
    )
    add_frame(
        f,
        "settings-unknown-id",
        "6",
        "An unknown id (0x99) is carried and ignored.",
        settings({0x99: 7, "MAX_CONCURRENT_STREAMS": 10}),
    )
    add_frame(f, "settings-ack", "4.4", "SETTINGS ACK: empty payload.", SETTINGS_ACK)
    f = "ping"
    add_frame(f, "ping", "4.5", "PING with 8 opaque bytes.", ping(bytes(range(1, 9))))
    add_frame(
        f, "ping-ack", "4.5", "PING ACK echoes the 8 bytes.", ping(bytes(range(1, 9)), ack=True)
    )
    f = "goaway"
    add_frame(
        f, "goaway-no-error", "4.6", "Final GOAWAY of a graceful shutdown.", goaway(7, "NO_ERROR")
    )
    add_frame(
        f,
        "goaway-graceful-first",
        "9.1",
        "First step of a graceful shutdown: last_stream_id 2^31-1.",
        goaway(U31, "NO_ERROR"),
        "server-to-client",
    )
    add_frame(
        f,
        "goaway-debug",
        "4.6",
        "GOAWAY with debug text.",
        goaway(3, "FRAME_SIZE_ERROR", b"frame length 70000 exceeds MAX_FRAME_SIZE 65536"),
    )
    add_frame(
        f,
        "goaway-unsupported-version",
        "2.3",
        "Answer to a preface of version 2.",
        goaway(0, "UNSUPPORTED_VERSION", b"unsupported version 2; supported: 1"),
        "server-to-client",
    )
    add_frame(
        f,
        "goaway-enhance-your-calm",
        "11.2",
        "GOAWAY after a flood.",
        goaway(9, "ENHANCE_YOUR_CALM"),
    )
    add_frame(
        f, "goaway-unknown-code", "10.3", "Unknown code kept as an integer.", goaway(1, 0xABCD)
    )
    f = "window_update"
    add_frame(f, "window-update-stream", "4.7", "Credit for stream 1.", window_update(1, 32768))
    add_frame(
        f,
        "window-update-connection",
        "4.7",
        "Credit for the connection (stream 0).",
        window_update(0, 524288),
    )
    add_frame(f, "window-update-max", "4.7", "Largest increment 2^31-1.", window_update(3, U31))
    add_frame(
        f,
        "window-update-reserved-bit",
        "4.7",
        "Reserved bit 31 of the increment is ignored: 5.",
        window_update(1, 0x80000005),
        canonical=False,
    )
    f = "unknown"
    add_frame(
        f,
        "unknown-type",
        "3.4",
        "Type 0xEE is unknown: ignored by receivers.",
        frame(0xEE, 0x5A, 0, b"future"),
    )
    add_frame(
        f,
        "unknown-type-on-stream",
        "3.4",
        "Unknown type on a stream id: does not open it.",
        frame(0x07, 0, 5, b""),
    )
