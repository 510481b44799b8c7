"""h2spec's "http2" suite, RFC 7540 §3-5: preface, frames, streams, errors, extensions.

Ids and numbering are h2spec 2.6's (``http2/5.1/8`` ...), which follow RFC
7540's sections; every rule here is kept by RFC 9113 (§3.4 is 7540's §3.5,
§8.2 its §8.1.2 ...). Requests go to ``--path`` (h2spec's ``/``), so a server
whose handler answers before the request ends meets them as h2spec sends
them. See ``mux/conformance/H2SPEC.md`` for the table.
"""

from __future__ import annotations

from mux.conformance.case import CaseFailed, CaseSkipped, Group
from mux.conformance.context import CaseContext
from mux.conformance.groups._common import first_settings
from mux.conformance.groups._h2 import (
    CANCEL,
    FRAME_SIZE_ERROR,
    PROTOCOL_ERROR,
    REFUSED_STREAM,
    STREAM_CLOSED,
)
from mux.conformance.groups._h2steps import (
    Fields,
    conn_error,
    continuation,
    data,
    dummy_fields,
    frame,
    h2case,
    headers_on,
    pause,
    ping,
    ping_ack,
    priority,
    request,
    request_fields,
    rst,
    stream_closed,
    stream_err,
    window_update,
)
from mux.conformance.h2wire import (
    DATA,
    DEFAULT_MAX_FRAME_SIZE,
    END_HEADERS,
    END_STREAM,
    HEADERS,
    INITIAL_WINDOW_SIZE,
    MAX_CONCURRENT_STREAMS,
    MAX_FRAME_SIZE,
    PING,
    PREFACE,
    SETTINGS,
    H2Peer,
    frame_bytes,
)
from mux.conformance.verify import verify_closed, verify_frame
from mux.conformance.wire import ClosedEvent, FrameEvent, GarbageEvent

RFC7540 = "RFC 7540"


def _group(section: str, title: str) -> Group:
    return Group("h2", section, title, RFC7540, "http2")


preface = _group("3.5", "HTTP/2 Connection Preface")
frame_format = _group("4.1", "Frame Format")
frame_size = _group("4.2", "Frame Size")
compression = _group("4.3", "Header Compression and Decompression")
states = _group("5.1", "Stream States")
identifiers = _group("5.1.1", "Stream Identifiers")
concurrency = _group("5.1.2", "Stream Concurrency")
dependencies = _group("5.3.1", "Stream Dependencies")
conn_errors = _group("5.4.1", "Connection Error Handling")
extending = _group("5.5", "Extending HTTP/2")

#: A frame of an undefined type (0x16) on stream 0 with 8 octets, as h2spec sends it.
UNKNOWN_FRAME = frame(0x16, 0, 0, bytes(8))


# -- 3.5 ---------------------------------------------------------------------


@preface.case(
    "Sends the client connection preface",
    "The server connection preface (a SETTINGS frame) MUST be the first frame the server sends.",
)
async def server_preface(ctx: CaseContext) -> None:
    peer = await ctx.h2(handshake=False)
    await peer.send_raw(PREFACE + frame_bytes(SETTINGS, 0, 0, b"\x00\x04\x00\x00\xff\xff"))
    await first_settings(peer, "SETTINGS (non-ACK) as the server's first frame")


@preface.case(
    "Sends an invalid connection preface",
    "An invalid connection preface is a connection error: the server MUST close the "
    "connection (--strict: without answering in another protocol first).",
)
async def invalid_preface(ctx: CaseContext) -> None:
    peer = await ctx.h2(handshake=False)
    await peer.send_raw(b"INVALID CONNECTION PREFACE\r\n\r\n")
    while True:
        event = await peer.next_event()
        if isinstance(event, ClosedEvent):
            return
        if isinstance(event, GarbageEvent) and not ctx.strict:
            continue  # h2spec tolerates an answer in another protocol before the close
        if not isinstance(event, FrameEvent):
            detail = f" {peer.first_bytes[:32]!r}" if peer.first_bytes else ""
            raise CaseFailed("connection closed", f"{event.describe()}{detail}")


# -- 4.1-4.3 -----------------------------------------------------------------

h2case(frame_format, "Sends a frame of unknown type, then PING",
       "Frames of an unknown type MUST be ignored and discarded.",
       UNKNOWN_FRAME, ping(), ping_ack())  # fmt: skip
h2case(frame_format, "Sends PING with all undefined flags set",
       "Flags with no defined meaning for a frame type MUST be ignored.",
       frame(PING, 0x16, 0, bytes(8)), ping_ack())  # fmt: skip
h2case(frame_format, "Sends PING with the reserved bit of the stream identifier set",
       "The reserved bit of the stream identifier MUST be ignored on receipt.",
       frame(PING, 0x16, 0x80000000, bytes(8)), ping_ack())  # fmt: skip


#: The most DATA the initial flow-control windows let us send (RFC 9113 §6.9.2).
_INITIAL_WINDOW = 65535


async def _data_of_max_size(ctx: CaseContext, peer: H2Peer) -> None:
    size = min(peer.max_frame_size, _INITIAL_WINDOW)
    await peer.send_frame(DATA, END_STREAM, 1, b"x" * size)


async def _data_over_max_size(ctx: CaseContext, peer: H2Peer) -> None:
    await peer.send_frame(DATA, END_STREAM, 1, b"x" * (peer.max_frame_size + 1))


h2case(frame_size, "Sends a POST with DATA of SETTINGS_MAX_FRAME_SIZE octets (at most 65,535)",
       "An endpoint MUST accept frames up to SETTINGS_MAX_FRAME_SIZE (at least 2^14) octets.",
       request("POST", end_stream=False), _data_of_max_size, headers_on())  # fmt: skip
h2case(frame_size, "Sends DATA one octet over SETTINGS_MAX_FRAME_SIZE",
       "A frame over SETTINGS_MAX_FRAME_SIZE MUST draw an error of type FRAME_SIZE_ERROR.",
       request("POST", end_stream=False), _data_over_max_size,
       stream_err(FRAME_SIZE_ERROR))  # fmt: skip

#: The filler h2spec adds to overflow the default frame size: 5 fields of 4000 octets.
_BIG_FIELDS = 5


@frame_size.case(
    "Sends HEADERS of about 20,000 octets (above the default SETTINGS_MAX_FRAME_SIZE)",
    "A HEADERS frame over SETTINGS_MAX_FRAME_SIZE MUST be a connection error of type "
    "FRAME_SIZE_ERROR (h2spec assumes the server keeps the default 16,384).",
)
async def headers_over_default_size(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    fields: Fields = [*request_fields(peer), *dummy_fields(_BIG_FIELDS)]
    block = peer.encode(fields)
    advertised = peer.max_frame_size
    await peer.send_frame(HEADERS, END_STREAM | END_HEADERS, 1, block)
    if advertised >= len(block):
        raise CaseFailed(
            f"SETTINGS_MAX_FRAME_SIZE at its default {DEFAULT_MAX_FRAME_SIZE}, so a "
            f"{len(block)}-octet HEADERS frame draws FRAME_SIZE_ERROR",
            f"the server advertises SETTINGS_MAX_FRAME_SIZE="
            f"{peer.server_settings.get(MAX_FRAME_SIZE)}",
        )
    await conn_error(FRAME_SIZE_ERROR)(ctx, peer)


h2case(compression, "Sends an undecodable field block (a literal cut before its name)",
       "A field block that cannot be decoded MUST be a connection error of type "
       "COMPRESSION_ERROR.",
       frame(HEADERS, END_STREAM | END_HEADERS, 1, b"\x40"), conn_error(0x9))  # fmt: skip
h2case(compression, "Sends PRIORITY in the middle of a field block",
       "A field block MUST be contiguous: any other frame inside it is a connection error "
       "of type PROTOCOL_ERROR.",
       request(end_stream=False, end_headers=False), priority(1), continuation(),
       conn_error(PROTOCOL_ERROR))  # fmt: skip
h2case(compression, "Sends HEADERS for stream 3 in the middle of stream 1's field block",
       "A field block MUST be contiguous: a frame of another stream inside it is a connection "
       "error of type PROTOCOL_ERROR.",
       request(end_stream=False, end_headers=False), request(sid=3), continuation(),
       conn_error(PROTOCOL_ERROR))  # fmt: skip

# -- 5.1 ---------------------------------------------------------------------

_IDLE = "Frames other than HEADERS or PRIORITY on an idle stream MUST be a connection error of "
_IDLE += "type PROTOCOL_ERROR."
_HALF = "Frames other than WINDOW_UPDATE, PRIORITY or RST_STREAM on a half-closed (remote) "
_HALF += "stream MUST draw a stream error of type STREAM_CLOSED."
_AFTER_RST = "Frames other than PRIORITY after the peer's RST_STREAM MUST draw a stream error "
_AFTER_RST += "of type STREAM_CLOSED."
_AFTER_END = "Frames on a stream closed by END_STREAM both ways MUST be a connection error of "
_AFTER_END += "type STREAM_CLOSED."

h2case(states, "idle: sends DATA", _IDLE, data(), conn_error(PROTOCOL_ERROR))
h2case(states, "idle: sends RST_STREAM", _IDLE, rst(1, CANCEL), conn_error(PROTOCOL_ERROR))
h2case(states, "idle: sends WINDOW_UPDATE", _IDLE,
       window_update(1, 100), conn_error(PROTOCOL_ERROR))  # fmt: skip
h2case(states, "idle: sends CONTINUATION", _IDLE,
       continuation(fields=[]), conn_error(PROTOCOL_ERROR))  # fmt: skip
h2case(states, "half-closed (remote): sends DATA", _HALF,
       request(), data(), stream_err(STREAM_CLOSED))  # fmt: skip
h2case(states, "half-closed (remote): sends HEADERS", _HALF,
       request(), request(), stream_err(STREAM_CLOSED))  # fmt: skip
h2case(states, "half-closed (remote): sends CONTINUATION",
       _HALF + " (PROTOCOL_ERROR too: no field block is open)",
       request(), continuation(), stream_err(STREAM_CLOSED, PROTOCOL_ERROR))  # fmt: skip
h2case(states, "closed: sends DATA after RST_STREAM", _AFTER_RST,
       request(end_stream=False), pause(), rst(1, CANCEL), data(),
       stream_err(STREAM_CLOSED))  # fmt: skip
h2case(states, "closed: sends HEADERS after RST_STREAM", _AFTER_RST,
       request(end_stream=False), pause(), rst(1, CANCEL), request(),
       stream_err(STREAM_CLOSED))  # fmt: skip
h2case(states, "closed: sends CONTINUATION after RST_STREAM",
       _AFTER_RST + " (PROTOCOL_ERROR too: no field block is open)",
       request(end_stream=False), pause(), rst(1, CANCEL), continuation(),
       stream_err(STREAM_CLOSED, PROTOCOL_ERROR))  # fmt: skip
h2case(states, "closed: sends DATA", _AFTER_END,
       request(), stream_closed(), data(), conn_error(STREAM_CLOSED))  # fmt: skip
h2case(states, "closed: sends HEADERS", _AFTER_END,
       request(), stream_closed(), request(), conn_error(STREAM_CLOSED))  # fmt: skip
h2case(states, "closed: sends CONTINUATION",
       _AFTER_END + " (PROTOCOL_ERROR too: no field block is open)",
       request(), stream_closed(), continuation(),
       conn_error(STREAM_CLOSED, PROTOCOL_ERROR))  # fmt: skip

_IDS = "An unexpected stream identifier MUST be a connection error of type PROTOCOL_ERROR."
h2case(identifiers, "Sends an even-numbered stream identifier", _IDS,
       request(sid=2), conn_error(PROTOCOL_ERROR))  # fmt: skip
h2case(identifiers, "Sends stream 5, then stream 3", _IDS,
       request(sid=5), request(sid=3), conn_error(PROTOCOL_ERROR))  # fmt: skip
h2case(identifiers, "Sends HEADERS twice on stream 5 (half-closed (remote) after the first)",
       "A stream error MUST be answered with RST_STREAM on that stream (here STREAM_CLOSED).",
       request(sid=5), request(sid=5), stream_err(STREAM_CLOSED, sid=5))  # fmt: skip


@concurrency.case(
    "Opens one stream more than SETTINGS_MAX_CONCURRENT_STREAMS (initial window 0)",
    "A HEADERS frame over the advertised stream limit MUST draw a stream error of type "
    "PROTOCOL_ERROR or REFUSED_STREAM.",
)
async def too_many_streams(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    limit = peer.server_settings.get(MAX_CONCURRENT_STREAMS)
    if limit is None or limit > 1000:
        raise CaseSkipped(f"the server advertises SETTINGS_MAX_CONCURRENT_STREAMS={limit}")
    await peer.send_settings({INITIAL_WINDOW_SIZE: 0})  # responses cannot finish
    for index in range(limit + 1):
        await request(sid=1 + 2 * index)(ctx, peer)
    await stream_err(PROTOCOL_ERROR, REFUSED_STREAM, sid=None)(ctx, peer)


_SELF = "A stream cannot depend on itself: a stream error of type PROTOCOL_ERROR."
h2case(dependencies, "Sends HEADERS whose priority depends on its own stream", _SELF,
       request(priority=(1, False, 255)), stream_err(PROTOCOL_ERROR))  # fmt: skip
h2case(dependencies, "Sends PRIORITY that depends on its own stream", _SELF,
       priority(1, 1), stream_err(PROTOCOL_ERROR))  # fmt: skip

_BAD_PING = frame(PING, 0, 3, bytes(8))


@conn_errors.case(
    "Sends PING on stream 3 and expects the connection closed",
    "After a connection error the endpoint MUST close the TCP connection.",
)
async def closes_after_error(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await _BAD_PING(ctx, peer)
    await verify_closed(peer)


@conn_errors.case(
    "Sends PING on stream 3 and expects GOAWAY",
    "An endpoint that meets a connection error SHOULD first send GOAWAY.",
    strict=True,
)
async def goaway_first(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await _BAD_PING(ctx, peer)
    await verify_frame(peer, "GOAWAY(PROTOCOL_ERROR)", lambda f: f.kind == "GOAWAY")


h2case(extending, "Sends an unknown extension frame, then PING",
       "Unknown or unsupported values in extensible elements MUST be ignored.",
       UNKNOWN_FRAME, ping(), ping_ack())  # fmt: skip
h2case(extending, "Sends an unknown extension frame in the middle of a field block",
       "An extension frame inside a field block MUST be a connection error of type "
       "PROTOCOL_ERROR.",
       request(end_headers=False), UNKNOWN_FRAME, conn_error(PROTOCOL_ERROR))  # fmt: skip

GROUPS = [
    preface, frame_format, frame_size, compression, states, identifiers, concurrency,
    dependencies, conn_errors, extending,
]  # fmt: skip

__all__ = ["GROUPS", "UNKNOWN_FRAME"]
