"""Shared helpers of the HTTP/2 groups: error verdicts and common exchanges."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from mux.conformance.case import CaseFailed, CaseSkipped, Group
from mux.conformance.context import CaseContext
from mux.conformance.h2wire import H2Peer
from mux.conformance.verify import (
    is_error_frame,
    verify_connection_error,
    verify_frame,
    verify_stream_error,
)
from mux.conformance.wire import FrameEvent

RFC9113 = "RFC 9113"
RFC7541 = "RFC 7541"

PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR = 0x1, 0x2, 0x3
STREAM_CLOSED, FRAME_SIZE_ERROR, REFUSED_STREAM, CANCEL = 0x5, 0x6, 0x7, 0x8
COMPRESSION_ERROR = 0x9


async def connection_error(ctx: CaseContext, peer: H2Peer, *codes: int) -> None:
    """RFC 9113 §5.4.1: GOAWAY is a SHOULD, the close a MUST; --strict wants both."""
    await verify_connection_error(peer, *codes, require_goaway=ctx.strict)


async def stream_error(peer: H2Peer, stream_id: int, *codes: int) -> None:
    """A stream error; escalating it to a connection error is allowed (h2spec rule)."""
    await verify_stream_error(peer, stream_id, *codes, allow_connection_error=True)


async def response_headers(peer: H2Peer, stream_id: int) -> FrameEvent:
    """Wait for the response HEADERS on ``stream_id``; an error frame fails."""
    return await verify_frame(
        peer,
        f"HEADERS response on stream {stream_id}",
        lambda f: f.kind == "HEADERS" and f.stream_id == stream_id,
        reject=is_error_frame,
    )


async def stream_end(peer: H2Peer, stream_id: int) -> FrameEvent:
    """Wait for the frame that ends the response on ``stream_id``."""
    return await verify_frame(
        peer,
        f"the end of the response on stream {stream_id}",
        lambda f: (
            f.kind in ("HEADERS", "DATA") and f.stream_id == stream_id and f.has("END_STREAM")
        ),
        reject=is_error_frame,
    )


async def open_post(peer: H2Peer, stream_id: int = 1) -> None:
    """Open ``stream_id`` with a POST whose body is still to come (stream stays open).

    The request goes to the target's hold path: a server that answered at once
    could end the stream with RST_STREAM(NO_ERROR) (RFC 9113 §8.1), after
    which the frames a case sends next land on a closed stream.
    """
    path = peer.target.hold_path or peer.target.path
    await peer.send_headers(stream_id, peer.request_headers("POST", path), end_stream=False)


#: One thing a case sends: a call on the peer (``lambda p: p.send_ping(...)``).
Send = Callable[[H2Peer], Awaitable[None]]


def raw(frame_type: int, flags: int, stream_id: int, payload: bytes = b"") -> Send:
    """A :data:`Send` of one raw frame, built as the case says."""
    return lambda peer: peer.send_frame(frame_type, flags, stream_id, payload)


def error_case(
    group: Group,
    description: str,
    requirement: str,
    *sends: Send,
    code: int,
    open_stream: bool = False,
    on_stream: int | None = None,
) -> None:
    """Declare the case "(open stream 1,) send these, expect error ``code``".

    The error is a connection error unless ``on_stream`` names the stream whose
    stream error the rule asks for.
    """

    async def run(ctx: CaseContext) -> None:
        peer = await ctx.h2()
        if open_stream:
            await open_post(peer)
        for send in sends:
            await send(peer)
        if on_stream is None:
            await connection_error(ctx, peer, code)
        else:
            await stream_error(peer, on_stream, code)

    group.case(description, requirement)(run)


async def first_data(peer: H2Peer, stream_id: int) -> FrameEvent:
    """Wait for the first DATA on ``stream_id``; skip when the response has no body."""
    frame = await verify_frame(
        peer,
        f"DATA on stream {stream_id}",
        lambda f: f.stream_id == stream_id and (f.kind == "DATA" or f.has("END_STREAM")),
        reject=is_error_frame,
    )
    if frame.kind != "DATA":
        raise CaseSkipped(f"the response to {peer.target.path} has no body; try --path")
    return frame


async def one_octet_data(peer: H2Peer, stream_id: int = 1) -> None:
    """The first DATA on ``stream_id`` must fit a stream window of 1."""
    frame = await first_data(peer, stream_id)
    if len(frame.payload) > 1:
        raise CaseFailed("DATA of at most 1 octet (stream window 1)", frame.describe())


def literal_block(fields: list[tuple[str, str]]) -> bytes:
    """Encode a field block without going through the encoder's table.

    Literal without indexing, new name, no Huffman (RFC 7541 §6.2.2), so the
    block is byte-for-byte what the case says and leaves no dynamic table state.
    """
    out = bytearray()
    for name, value in fields:
        out.append(0x00)
        out += _string(name.encode())
        out += _string(value.encode())
    return bytes(out)


def _string(data: bytes) -> bytes:
    return encode_integer(len(data), 7, 0x00) + data


def encode_integer(value: int, prefix_bits: int, first_byte_flags: int) -> bytes:
    """HPACK integer (RFC 7541 §5.1) with ``first_byte_flags`` in the high bits."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first_byte_flags | value])
    out = bytearray([first_byte_flags | limit])
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def expect_connection_error(code: int) -> Callable[[CaseContext, H2Peer], Awaitable[None]]:
    """The verdict "connection error ``code``" for :func:`~._common.raw_case`."""
    return lambda ctx, peer: connection_error(ctx, peer, code)


async def h2_no_handshake(ctx: CaseContext) -> H2Peer:
    """An HTTP/2 connection on which nothing was sent yet."""
    return await ctx.h2(handshake=False)


async def h2_open_post(ctx: CaseContext, peer: H2Peer) -> None:
    """:func:`open_post` on stream 1, as a :func:`~._common.raw_case` ``prepare``."""
    await open_post(peer)


async def h2_connect(ctx: CaseContext) -> H2Peer:
    """An HTTP/2 connection after the SETTINGS exchange."""
    return await ctx.h2()
