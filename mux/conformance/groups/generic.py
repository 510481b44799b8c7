"""h2spec's "generic" suite: ordinary HTTP/2 traffic a server MUST accept.

Ids are h2spec 2.6's (``generic/3.1/1`` ...), numbered by its own outline
(1 starting HTTP/2, 2 streams, 3.x frame types, 4 message exchanges, 5 HPACK);
each case cites the RFC 7540/9113 or RFC 7541 section it rests on. Every case
passes on the response HEADERS (or PING answer, or close) and fails on any
RST_STREAM or GOAWAY before it. See ``mux/conformance/H2SPEC.md``.
"""

from __future__ import annotations

from hpack.huffman import HuffmanEncoder
from hpack.huffman_constants import REQUEST_CODES, REQUEST_CODES_LENGTH

from mux.conformance.case import Group
from mux.conformance.context import CaseContext
from mux.conformance.groups._common import first_settings
from mux.conformance.groups._h2 import CANCEL, encode_integer
from mux.conformance.groups._h2steps import (
    Step,
    closed,
    data,
    frame_of,
    goaway,
    h2case,
    headers_block,
    headers_on,
    ping,
    ping_ack,
    ping_ack_or_close,
    priority,
    request,
    rst,
    settings,
    settings_ack,
    stream_closed,
    window_update,
)
from mux.conformance.h2wire import (
    CONTINUATION,
    DATA,
    END_HEADERS,
    END_STREAM,
    HEADERS,
    INITIAL_WINDOW_SIZE,
    PADDED,
    PREFACE,
    SETTINGS,
    H2Peer,
    frame_bytes,
)

SOURCE = "h2spec generic"


def _group(section: str, title: str) -> Group:
    return Group("h2", section, title, SOURCE, "generic")


starting = _group("1", "Starting HTTP/2")
streams = _group("2", "Streams and Multiplexing")
data_g = _group("3.1", "DATA")
headers_g = _group("3.2", "HEADERS")
priority_g = _group("3.3", "PRIORITY")
rst_g = _group("3.4", "RST_STREAM")
settings_g = _group("3.5", "SETTINGS")
ping_g = _group("3.7", "PING")
goaway_g = _group("3.8", "GOAWAY")
window_g = _group("3.9", "WINDOW_UPDATE")
continuation_g = _group("3.10", "CONTINUATION")
exchanges = _group("4", "HTTP Message Exchanges")
hpack_g = _group("5", "HPACK")

_ZERO_WINDOW = {INITIAL_WINDOW_SIZE: 0}


@starting.case(
    "Sends the client connection preface",
    "RFC 9113 §3.4: the server's first frame MUST be SETTINGS (its connection preface).",
)
async def preface(ctx: CaseContext) -> None:
    peer = await ctx.h2(handshake=False)
    await peer.send_raw(PREFACE + frame_bytes(SETTINGS, 0, 0, b"\x00\x04\x00\x00\xff\xff"))
    await first_settings(peer, "SETTINGS (non-ACK) as the server's first frame")


# -- 2: streams and multiplexing ---------------------------------------------

h2case(
    streams,
    "Sends PRIORITY on an idle stream, then PING",
    "RFC 9113 §5.1: PRIORITY is allowed on an idle stream and MUST be accepted.",
    priority(1),
    ping(),
    ping_ack(),
)
h2case(
    streams,
    "Sends WINDOW_UPDATE on a half-closed (remote) stream (initial window 0)",
    "RFC 9113 §5.1: WINDOW_UPDATE on a half-closed (remote) stream MUST be accepted: "
    "the response's first octet follows it.",
    request(),
    window_update(1, 1),
    frame_of("DATA", 1),
    settings=_ZERO_WINDOW,
)
h2case(
    streams,
    "Sends PRIORITY on a half-closed (remote) stream (initial window 0)",
    "RFC 9113 §5.1: PRIORITY on a half-closed (remote) stream MUST be accepted.",
    request(),
    priority(1),
    window_update(1, 1),
    frame_of("DATA", 1),
    settings=_ZERO_WINDOW,
)
h2case(
    streams,
    "Sends RST_STREAM on a half-closed (remote) stream, then PING",
    "RFC 9113 §5.1: RST_STREAM on a half-closed (remote) stream MUST be accepted "
    "(PING answered, or the connection closed cleanly).",
    request(),
    rst(1, CANCEL),
    ping(),
    ping_ack_or_close(),
)
h2case(
    streams,
    "Sends PRIORITY on a closed stream, then PING",
    "RFC 9113 §5.1: PRIORITY on a closed stream MUST be accepted.",
    request(),
    stream_closed(1),
    priority(1),
    ping(),
    ping_ack(),
)

# -- 3: frame definitions ----------------------------------------------------

_POST_OPEN = request("POST", end_stream=False)

h2case(data_g, "Sends a POST with one DATA frame",
       "RFC 9113 §6.1: DATA MUST be accepted.",
       _POST_OPEN, data(), headers_on())  # fmt: skip
h2case(data_g, "Sends a POST with two DATA frames",
       "RFC 9113 §6.1: several DATA frames MUST be accepted.",
       _POST_OPEN, data(end=False), data(), headers_on())  # fmt: skip


async def _padded_data(ctx: CaseContext, peer: H2Peer) -> None:
    await peer.send_frame(DATA, PADDED | END_STREAM, 1, bytes([6]) + b"test" + b"padded")


h2case(data_g, "Sends a POST with a padded DATA frame",
       "RFC 9113 §6.1: DATA with padding MUST be accepted.",
       _POST_OPEN, _padded_data, headers_on())  # fmt: skip

h2case(headers_g, "Sends HEADERS",
       "RFC 9113 §6.2: HEADERS MUST be accepted.",
       request(), headers_on())  # fmt: skip
h2case(headers_g, "Sends HEADERS with padding",
       "RFC 9113 §6.2: HEADERS with padding MUST be accepted.",
       request(pad=8), headers_on())  # fmt: skip
h2case(headers_g, "Sends HEADERS with priority",
       "RFC 9113 §6.2: HEADERS with the PRIORITY flag MUST be accepted.",
       request(priority=(0, False, 255)), headers_on())  # fmt: skip

h2case(priority_g, "Sends PRIORITY with weight octet 0, then the request",
       "RFC 9113 §6.3: PRIORITY (lowest weight) MUST be accepted.",
       priority(1, weight=0), request(), headers_on())  # fmt: skip
h2case(priority_g, "Sends PRIORITY with weight octet 255, then the request",
       "RFC 9113 §6.3: PRIORITY (highest weight) MUST be accepted.",
       priority(1, weight=255), request(), headers_on())  # fmt: skip
h2case(priority_g, "Sends PRIORITY of stream 3 depending on stream 1, then the request",
       "RFC 9113 §6.3: PRIORITY with a stream dependency MUST be accepted.",
       priority(3, 1, 0), request(), headers_on())  # fmt: skip
h2case(priority_g, "Sends PRIORITY with the exclusive bit, then the request",
       "RFC 9113 §6.3: PRIORITY with the exclusive flag MUST be accepted.",
       priority(1, 0, 0, exclusive=True), request(), headers_on())  # fmt: skip
h2case(priority_g, "Sends PRIORITY for idle stream 3, then a request on stream 1",
       "RFC 9113 §6.3: PRIORITY for an idle stream does not open it: a lower stream id "
       "MUST still be usable.",
       priority(3), request(), headers_on())  # fmt: skip

h2case(rst_g, "Sends RST_STREAM on an open stream, then PING",
       "RFC 9113 §6.4: RST_STREAM MUST be accepted (PING answered, or the connection closed).",
       request(end_stream=False), rst(1, CANCEL), ping(), ping_ack_or_close())  # fmt: skip

h2case(settings_g, "Sends SETTINGS with every defined parameter",
       "RFC 9113 §6.5: SETTINGS MUST be accepted and acknowledged.",
       settings({0x1: 4096, 0x2: 1, 0x3: 100, 0x4: 65535, 0x5: 16384, 0x6: 100}),
       settings_ack())  # fmt: skip

h2case(ping_g, "Sends PING",
       "RFC 9113 §6.7: PING MUST be accepted and answered.",
       ping(b"h2spec\x00\x00"), ping_ack(b"h2spec\x00\x00"))  # fmt: skip

h2case(goaway_g, "Sends GOAWAY(NO_ERROR) with no stream open",
       "RFC 9113 §6.8: GOAWAY MUST be accepted; with nothing left to do the server closes.",
       goaway(0, 0, b"h2spec"), closed())  # fmt: skip

h2case(window_g, "Sends WINDOW_UPDATE on stream 0, then PING",
       "RFC 9113 §6.9: WINDOW_UPDATE on the connection MUST be accepted.",
       window_update(0, 1), ping(), frame_of("PING"))  # fmt: skip
h2case(window_g, "Sends WINDOW_UPDATE on the request's stream",
       "RFC 9113 §6.9: WINDOW_UPDATE on a stream MUST be accepted.",
       request(), window_update(1, 1), headers_on())  # fmt: skip


def _split_request(*cuts: int) -> Step:
    """The request's field block split at ``cuts``: HEADERS, then CONTINUATION frames."""

    async def send(ctx: CaseContext, peer: H2Peer) -> None:
        block = peer.encode(peer.request_headers())
        bounds = [0, *cuts, len(block)]
        pieces = [block[bounds[i] : bounds[i + 1]] for i in range(len(bounds) - 1)]
        await peer.send_frame(HEADERS, END_STREAM, 1, pieces[0])
        for index, piece in enumerate(pieces[1:], start=1):
            last = index == len(pieces) - 1
            await peer.send_frame(CONTINUATION, END_HEADERS if last else 0, 1, piece)

    return send


h2case(continuation_g, "Sends HEADERS and one CONTINUATION",
       "RFC 9113 §6.10: a field block continued in CONTINUATION MUST be accepted.",
       _split_request(5), headers_on())  # fmt: skip
h2case(continuation_g, "Sends HEADERS and two CONTINUATION frames",
       "RFC 9113 §6.10: a field block continued in several CONTINUATION frames MUST be "
       "accepted.",
       _split_request(5, 10), headers_on())  # fmt: skip

# -- 4: message exchanges ----------------------------------------------------

h2case(exchanges, "Sends a GET request",
       "RFC 9113 §8.1: the server MUST answer on the request's stream.",
       request(), headers_on())  # fmt: skip
h2case(exchanges, "Sends a HEAD request",
       "RFC 9113 §8.1: the server MUST answer on the request's stream.",
       request("HEAD"), headers_on())  # fmt: skip
h2case(exchanges, "Sends a POST request",
       "RFC 9113 §8.1: the server MUST answer on the request's stream.",
       _POST_OPEN, data(), headers_on())  # fmt: skip
h2case(exchanges, "Sends a POST request with trailers",
       "RFC 9113 §8.1: a request ending in trailers MUST be answered.",
       request("POST", end_stream=False, extra=[("trailer", "x-test")]),
       data(end=False),
       request(fields=lambda p: [("x-test", "ok")]),
       headers_on())  # fmt: skip

# -- 5: HPACK ----------------------------------------------------------------

_HUFFMAN = HuffmanEncoder(REQUEST_CODES, REQUEST_CODES_LENGTH)
#: Static table index of ``user-agent`` (RFC 7541 Appendix A).
_USER_AGENT = 58


def _string(text: str, huffman: bool) -> bytes:
    raw = text.encode()
    if huffman:
        coded: bytes = _HUFFMAN.encode(raw)
        return encode_integer(len(coded), 7, 0x80) + coded
    return encode_integer(len(raw), 7, 0x00) + raw


def _literal(kind: int, prefix: int, *, indexed_name: bool, huffman: bool) -> bytes:
    """A literal field: ``user-agent: h2spec`` by index, or ``x-test: h2spec`` by name."""
    if indexed_name:
        return encode_integer(_USER_AGENT, prefix, kind) + _string("h2spec", huffman)
    return bytes([kind]) + _string("x-test", huffman) + _string("h2spec", huffman)


def _with(representation: bytes, *, first: bool = False) -> Step:
    def block(peer: H2Peer) -> bytes:
        common = peer.encode(peer.request_headers())
        return representation + common if first else common + representation

    return headers_block(1, END_STREAM | END_HEADERS, block)


h2case(hpack_g, "Sends an indexed field (static index 58, user-agent)",
       "RFC 7541 §6.1: an indexed field representation MUST be accepted.",
       _with(encode_integer(_USER_AGENT, 7, 0x80)), headers_on())  # fmt: skip

_LITERALS = (
    ("with incremental indexing", "§6.2.1", 0x40, 6),
    ("without indexing", "§6.2.2", 0x00, 4),
    ("never indexed", "§6.2.3", 0x10, 4),
)
for _label, _section, _kind, _prefix in _LITERALS:
    for _indexed in (True, False):
        for _huffman in (False, True):
            _name = "indexed name" if _indexed else "new name"
            _coding = ", Huffman-coded" if _huffman else ""
            h2case(
                hpack_g,
                f"Sends a literal field {_label}, {_name}{_coding}",
                f"RFC 7541 {_section}: a literal field {_label} MUST be accepted.",
                _with(_literal(_kind, _prefix, indexed_name=_indexed, huffman=_huffman)),
                headers_on(),
            )

h2case(hpack_g, "Sends a dynamic table size update (to 0) at the start of the block",
       "RFC 7541 §6.3: a dynamic table size update MUST be accepted.",
       _with(b"\x20", first=True), headers_on())  # fmt: skip
h2case(hpack_g, "Sends two dynamic table size updates (0, then 4096) at the start",
       "RFC 7541 §4.2: two size updates at the start of a block MUST be accepted.",
       _with(b"\x20" + encode_integer(4096, 5, 0x20), first=True), headers_on())  # fmt: skip

GROUPS = [
    starting, streams, data_g, headers_g, priority_g, rst_g, settings_g, ping_g,
    goaway_g, window_g, continuation_g, exchanges, hpack_g,
]  # fmt: skip
