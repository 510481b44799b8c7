"""h2spec's "http2" suite, RFC 7540 §7-8: error codes, HTTP messages, server push.

Ids and numbering are h2spec 2.6's (``http2/8.1.2.3/7`` ...). RFC 7540's
§8.1.2.x are RFC 9113's §8.2-8.3 (field validity, connection-specific
fields, pseudo-headers) and §8.1.2.6 its §8.1.1 (malformed messages). Field
blocks that must carry exactly the bytes the case names (uppercase names,
pseudo-headers out of place) are encoded as literals without indexing. See
``mux/conformance/H2SPEC.md``.
"""

from __future__ import annotations

from mux.conformance.case import Group
from mux.conformance.context import CaseContext
from mux.conformance.groups._h2 import PROTOCOL_ERROR, literal_block
from mux.conformance.groups._h2steps import (
    Step,
    closed,
    conn_error,
    data,
    frame_of,
    goaway,
    h2case,
    pause,
    ping,
    request,
    request_fields,
    rst,
    stream_err,
)
from mux.conformance.h2wire import END_HEADERS, PUSH_PROMISE, H2Peer

RFC7540 = "RFC 7540"


def _group(section: str, title: str) -> Group:
    return Group("h2", section, title, RFC7540, "http2")


error_codes = _group("7", "Error Codes")
exchange = _group("8.1", "HTTP Request/Response Exchange")
header_fields = _group("8.1.2", "HTTP Header Fields")
pseudo = _group("8.1.2.1", "Pseudo-Header Fields")
connection_specific = _group("8.1.2.2", "Connection-Specific Header Fields")
request_pseudo = _group("8.1.2.3", "Request Pseudo-Header Fields")
malformed = _group("8.1.2.6", "Malformed Requests and Responses")
push = _group("8.2", "Server Push")

#: An error code no RFC defines.
UNKNOWN_CODE = 0xFF
_MALFORMED = "MUST be treated as malformed: a stream error of type PROTOCOL_ERROR."
_POST_OPEN = request("POST", end_stream=False)

h2case(error_codes, "Sends GOAWAY with an unknown error code (nothing open)",
       "An unknown error code MUST NOT trigger special behaviour: the GOAWAY is handled "
       "as any other, and with nothing open the server closes the connection.",
       goaway(0, UNKNOWN_CODE), closed())  # fmt: skip
h2case(error_codes, "Sends RST_STREAM with an unknown error code, then PING",
       "An unknown error code MUST NOT trigger special behaviour: the connection goes on.",
       _POST_OPEN, rst(1, UNKNOWN_CODE), ping(), frame_of("PING"))  # fmt: skip

h2case(exchange, "Sends a second HEADERS (trailers) without END_STREAM",
       "A HEADERS frame after the request's final one that lacks END_STREAM " + _MALFORMED,
       _POST_OPEN, pause(), data(end=False),
       request(fields=lambda p: [("x-test", "ok")], end_stream=False),
       stream_err(PROTOCOL_ERROR))  # fmt: skip


def _plus(*extra: tuple[str, str]) -> Step:
    return request(fields=lambda p: [*request_fields(p), *extra], literal=True)


def _only(*names: str) -> Step:
    return request(
        fields=lambda p: [(n, v) for n, v in request_fields(p) if n in names], literal=True
    )


h2case(header_fields, "Sends a field name in uppercase (X-TEST)",
       "A field name with uppercase characters " + _MALFORMED,
       _plus(("X-TEST", "ok")), stream_err(PROTOCOL_ERROR))  # fmt: skip

h2case(pseudo, "Sends an unknown pseudo-header (:test)",
       "An undefined pseudo-header " + _MALFORMED,
       _plus((":test", "ok")), stream_err(PROTOCOL_ERROR))  # fmt: skip
h2case(pseudo, "Sends the response pseudo-header :status in a request",
       "A response pseudo-header in a request " + _MALFORMED,
       _plus((":status", "200")), stream_err(PROTOCOL_ERROR))  # fmt: skip
h2case(pseudo, "Sends a pseudo-header in trailers",
       "A pseudo-header in trailers " + _MALFORMED,
       _POST_OPEN, pause(), data(end=False),
       request(fields=lambda p: [(":method", "POST")], literal=True, end_stream=False),
       stream_err(PROTOCOL_ERROR))  # fmt: skip
h2case(pseudo, "Sends a pseudo-header after a regular field",
       "Every pseudo-header MUST precede the regular fields; otherwise the request "
       + _MALFORMED,
       request(fields=lambda p: [("x-test", "ok"), *request_fields(p)], literal=True),
       stream_err(PROTOCOL_ERROR))  # fmt: skip

h2case(connection_specific, "Sends connection: keep-alive",
       "A connection-specific field " + _MALFORMED,
       _plus(("connection", "keep-alive")), stream_err(PROTOCOL_ERROR))  # fmt: skip
h2case(connection_specific, "Sends te: trailers, deflate",
       "A TE field with any value other than 'trailers' " + _MALFORMED,
       _plus(("trailers", "test"), ("te", "trailers, deflate")),
       stream_err(PROTOCOL_ERROR))  # fmt: skip


def _replace(name: str, value: str) -> Step:
    return request(
        fields=lambda p: [(n, value if n == name else v) for n, v in request_fields(p)],
        literal=True,
    )


_EXACTLY_ONE = "A request MUST carry exactly one valid :method, :scheme and :path; otherwise it "
h2case(request_pseudo, "Sends an empty :path",
       "An http or https request with an empty :path " + _MALFORMED,
       _replace(":path", ""), stream_err(PROTOCOL_ERROR))  # fmt: skip
h2case(request_pseudo, "Sends a request without :method", _EXACTLY_ONE + _MALFORMED,
       _only(":scheme", ":path", ":authority"), stream_err(PROTOCOL_ERROR))  # fmt: skip
h2case(request_pseudo, "Sends a request without :scheme", _EXACTLY_ONE + _MALFORMED,
       _only(":method", ":path", ":authority"), stream_err(PROTOCOL_ERROR))  # fmt: skip
h2case(request_pseudo, "Sends a request without :path", _EXACTLY_ONE + _MALFORMED,
       _only(":method", ":scheme", ":authority"), stream_err(PROTOCOL_ERROR))  # fmt: skip
h2case(request_pseudo, "Sends :method twice", _EXACTLY_ONE + _MALFORMED,
       _plus((":method", "GET")), stream_err(PROTOCOL_ERROR))  # fmt: skip
h2case(request_pseudo, "Sends :scheme twice", _EXACTLY_ONE + _MALFORMED,
       _plus((":scheme", "http")), stream_err(PROTOCOL_ERROR))  # fmt: skip
h2case(request_pseudo, "Sends :path twice", _EXACTLY_ONE + _MALFORMED,
       _plus((":path", "/")), stream_err(PROTOCOL_ERROR))  # fmt: skip

_LENGTH = "A content-length that differs from the sum of the DATA payloads " + _MALFORMED
h2case(malformed, "Sends content-length: 1 with 4 octets of DATA", _LENGTH,
       request("POST", end_stream=False, extra=[("content-length", "1")]), pause(), data(),
       stream_err(PROTOCOL_ERROR))  # fmt: skip
h2case(malformed, "Sends content-length: 1 with two DATA frames of 4 octets", _LENGTH,
       request("POST", end_stream=False, extra=[("content-length", "1")]), pause(),
       data(end=False), data(), stream_err(PROTOCOL_ERROR))  # fmt: skip


async def _push_promise(ctx: CaseContext, peer: H2Peer) -> None:
    block = literal_block(request_fields(peer))
    await peer.send_frame(PUSH_PROMISE, END_HEADERS, 1, (3).to_bytes(4, "big") + block)


h2case(push, "Sends PUSH_PROMISE",
       "A server MUST treat a PUSH_PROMISE it receives as a connection error of type "
       "PROTOCOL_ERROR.",
       _push_promise, conn_error(PROTOCOL_ERROR))  # fmt: skip

GROUPS = [
    error_codes, exchange, header_fields, pseudo, connection_specific, request_pseudo,
    malformed, push,
]  # fmt: skip
