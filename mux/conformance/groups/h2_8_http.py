"""RFC 9113 §8: HTTP message framing, fields, pseudo-headers, server push."""

from __future__ import annotations

from mux.conformance.case import Group
from mux.conformance.context import CaseContext
from mux.conformance.groups._h2 import (
    PROTOCOL_ERROR,
    RFC9113,
    connection_error,
    error_case,
    literal_block,
    open_post,
    raw,
    stream_error,
)
from mux.conformance.h2wire import END_HEADERS, END_STREAM, HEADERS, PUSH_PROMISE, H2Peer

framing = Group("h2", "8.1", "HTTP Message Framing", RFC9113)
malformed = Group("h2", "8.1.1", "Malformed Messages", RFC9113)
validity = Group("h2", "8.2.1", "Field Validity", RFC9113)
connection_fields = Group("h2", "8.2.2", "Connection-Specific Header Fields", RFC9113)
pseudo = Group("h2", "8.3", "HTTP Control Data", RFC9113)
request_pseudo = Group("h2", "8.3.1", "Request Pseudo-Header Fields", RFC9113)
push = Group("h2", "8.4", "Server Push", RFC9113)

_MALFORMED = "MUST be treated as malformed: a stream error of type PROTOCOL_ERROR."


async def _send_fields(peer: H2Peer, fields: list[tuple[str, str]], *, end: bool = True) -> None:
    flags = END_HEADERS | (END_STREAM if end else 0)
    await peer.send_frame(HEADERS, flags, 1, literal_block(fields))


def _request(peer: H2Peer, method: str = "GET") -> list[tuple[str, str]]:
    """A request; a POST goes to the hold path so its stream stays open for the body."""
    if method == "POST":
        return peer.request_headers(method, peer.target.hold_path)
    return peer.request_headers(method)


error_case(
    framing,
    "Sends a second HEADERS (trailers) without END_STREAM",
    "A HEADERS frame after the opening one that lacks END_STREAM " + _MALFORMED,
    lambda p: p.send_data(1, b"test"),
    raw(HEADERS, END_HEADERS, 1, literal_block([("x-trailer", "1")])),
    code=PROTOCOL_ERROR,
    open_stream=True,
    on_stream=1,
)


@malformed.case(
    "Sends content-length: 1 with 4 octets of DATA",
    "A content-length that does not equal the DATA payload length " + _MALFORMED,
)
async def content_length_mismatch(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await _send_fields(peer, [*_request(peer, "POST"), ("content-length", "1")], end=False)
    await peer.send_data(1, b"test", end_stream=True)
    await stream_error(peer, 1, PROTOCOL_ERROR)


@malformed.case(
    "Sends content-length: 1 with two DATA frames of 4 octets",
    "A content-length that does not equal the sum of the DATA payloads " + _MALFORMED,
)
async def content_length_mismatch_multi(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await _send_fields(peer, [*_request(peer, "POST"), ("content-length", "1")], end=False)
    await peer.send_data(1, b"test")
    await peer.send_data(1, b"test", end_stream=True)
    await stream_error(peer, 1, PROTOCOL_ERROR)


@validity.case(
    "Sends a field name with uppercase letters",
    "A field name containing uppercase characters " + _MALFORMED,
)
async def uppercase_name(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await _send_fields(peer, [*_request(peer), ("X-Test", "ok")])
    await stream_error(peer, 1, PROTOCOL_ERROR)


@validity.case(
    "Sends a field value containing a line feed",
    "A field value containing NUL, CR or LF " + _MALFORMED,
)
async def value_with_newline(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await _send_fields(peer, [*_request(peer), ("x-test", "a\nb")])
    await stream_error(peer, 1, PROTOCOL_ERROR)


@connection_fields.case(
    "Sends a connection: keep-alive field",
    "A request with a connection-specific field " + _MALFORMED,
)
async def connection_header(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await _send_fields(peer, [*_request(peer), ("connection", "keep-alive")])
    await stream_error(peer, 1, PROTOCOL_ERROR)


@connection_fields.case(
    "Sends te: gzip",
    "A TE field with any value other than 'trailers' " + _MALFORMED,
)
async def te_not_trailers(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await _send_fields(peer, [*_request(peer), ("te", "gzip")])
    await stream_error(peer, 1, PROTOCOL_ERROR)


@pseudo.case(
    "Sends an unknown pseudo-header field",
    "A request with a pseudo-header that is not defined for requests " + _MALFORMED,
)
async def unknown_pseudo(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await _send_fields(peer, [*_request(peer), (":test", "ok")])
    await stream_error(peer, 1, PROTOCOL_ERROR)


@pseudo.case(
    "Sends the response pseudo-header :status in a request",
    "Pseudo-headers defined for responses MUST NOT appear in requests; such a request "
    + _MALFORMED,
)
async def status_in_request(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await _send_fields(peer, [*_request(peer), (":status", "200")])
    await stream_error(peer, 1, PROTOCOL_ERROR)


@pseudo.case(
    "Sends a pseudo-header in trailers",
    "Pseudo-headers MUST NOT appear in trailers; such a request " + _MALFORMED,
)
async def pseudo_in_trailers(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await open_post(peer)
    await peer.send_data(1, b"test")
    await _send_fields(peer, [(":method", "POST")])
    await stream_error(peer, 1, PROTOCOL_ERROR)


@pseudo.case(
    "Sends a pseudo-header after a regular field",
    "All pseudo-headers MUST precede regular fields; otherwise the request " + _MALFORMED,
)
async def pseudo_after_regular(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    fields = _request(peer)
    await _send_fields(peer, [*fields[:3], ("x-test", "ok"), fields[3]])
    await stream_error(peer, 1, PROTOCOL_ERROR)


@request_pseudo.case(
    "Sends an empty :path",
    "An http or https request with an empty :path " + _MALFORMED,
)
async def empty_path(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    fields = [(n, "" if n == ":path" else v) for n, v in _request(peer)]
    await _send_fields(peer, fields)
    await stream_error(peer, 1, PROTOCOL_ERROR)


def _without(fields: list[tuple[str, str]], name: str) -> list[tuple[str, str]]:
    return [(n, v) for n, v in fields if n != name]


@request_pseudo.case("Sends a request without :method", "A request without :method " + _MALFORMED)
async def missing_method(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await _send_fields(peer, _without(_request(peer), ":method"))
    await stream_error(peer, 1, PROTOCOL_ERROR)


@request_pseudo.case("Sends a request without :scheme", "A request without :scheme " + _MALFORMED)
async def missing_scheme(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await _send_fields(peer, _without(_request(peer), ":scheme"))
    await stream_error(peer, 1, PROTOCOL_ERROR)


@request_pseudo.case("Sends a request without :path", "A request without :path " + _MALFORMED)
async def missing_path(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await _send_fields(peer, _without(_request(peer), ":path"))
    await stream_error(peer, 1, PROTOCOL_ERROR)


@request_pseudo.case(
    "Sends a request with :path twice",
    "The same pseudo-header MUST NOT appear twice; such a request " + _MALFORMED,
)
async def duplicate_path(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await _send_fields(peer, [*_request(peer), (":path", "/")])
    await stream_error(peer, 1, PROTOCOL_ERROR)


@push.case(
    "Sends PUSH_PROMISE to the server",
    "A server MUST treat a PUSH_PROMISE it receives as a connection error of type PROTOCOL_ERROR.",
)
async def push_promise_from_client(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await open_post(peer)
    payload = (2).to_bytes(4, "big") + literal_block(_request(peer))
    await peer.send_frame(PUSH_PROMISE, END_HEADERS, 1, payload)
    await connection_error(ctx, peer, PROTOCOL_ERROR)


GROUPS = [framing, malformed, validity, connection_fields, pseudo, request_pseudo, push]
