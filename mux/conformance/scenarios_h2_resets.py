"""HTTP/2 client scenarios about resets, PING and lost connections (RFC 9113 §5.1, §6.7, §8.7).

Registered into :data:`mux.conformance.scenarios_h2.SCENARIOS`, which imports
this module; see that module for the conventions.
"""

from __future__ import annotations

import trio

from mux.conformance.case import CaseFailed
from mux.conformance.h2wire import DATA, END_STREAM, frame_bytes
from mux.conformance.scenarios_h2 import (
    H2_RESET_CODES,
    QUIET,
    Ctx,
    Peer,
    _describe,
    _hostile,
    is_request,
    scenario,
)
from mux.conformance.serverwire_h2 import H2ClientPeer
from mux.conformance.wire import FrameEvent, TimeoutEvent, WireEvent
from mux.errors import ErrorCode, code_name


@scenario(
    "data-after-reset", "5.1", "Stream States",
    "Resets the stream with INTERNAL_ERROR, then sends DATA on it",
    "DATA on a stream the server reset is at most a stream error (STREAM_CLOSED): the client "
    "MUST keep the connection usable (answers PING, sends its next request on it).",
    "POST /data-after-reset/1 (fails with a reset, INTERNAL_ERROR), then POST "
    "/data-after-reset/2 with the same client (succeeds)",
)  # fmt: skip
async def data_after_reset(ctx: Ctx) -> None:
    peer, first = await ctx.first_request()
    sid = first.stream_id
    await peer.respond(sid, b"", end=False)
    await peer.send_rst_stream(sid, ErrorCode.INTERNAL_ERROR)
    await peer.send_frame(DATA, 0, sid, b"late" * 256)
    await peer.send_frame(DATA, END_STREAM, sid, b"late")
    await peer.send_ping(b"reset-ok")
    ponged = False
    second: int | None = None
    while not (ponged and second):
        p, event = await ctx.next()
        if isinstance(event, TimeoutEvent) or (p is peer and _hostile(event)):
            wanted = [] if ponged else ["PING(ACK, b'reset-ok')"]
            wanted += [] if second else [f"the next request on {ctx.label(peer)}"]
            raise CaseFailed(" and ".join(wanted), _describe(ctx, p, event))
        if p is not peer or not isinstance(event, FrameEvent):
            continue
        if event.kind == "PING" and event.has("ACK") and event.payload == b"reset-ok":
            ponged = True
        elif is_request(event, "data-after-reset") and event.stream_id != sid:
            second = event.stream_id
    await peer.respond(second)


async def _alive(ctx: Ctx, peer: H2ClientPeer, data: bytes) -> None:
    """The client answers our PING with the same payload and keeps the connection."""
    await peer.send_ping(data)
    while True:
        p, event = await ctx.next()
        if isinstance(event, TimeoutEvent) or (p is peer and _hostile(event)):
            raise CaseFailed(f"PING(ACK, {data!r}) and the connection kept open",
                             _describe(ctx, p, event))  # fmt: skip
        if (p is peer and isinstance(event, FrameEvent) and event.kind == "PING"
                and event.has("ACK") and event.payload == data):  # fmt: skip
            return


@scenario(
    "ping", "6.7", "PING",
    "PINGs the client, sends an unmatched PING ACK, answers the client's PINGs 1 s late",
    "The client MUST answer PING with PING(ACK) and an identical payload, MUST NOT answer a "
    "PING ACK, and MUST NOT fail because our answers are late.",
    "POST /ping/<n>; succeeds (the answer takes about 1 s)",
)  # fmt: skip
async def ping(ctx: Ctx) -> None:
    peer, first = await ctx.first_request()
    peer.ping_delay = 1.0
    await _alive(ctx, peer, b"pingpong")
    await peer.send_ping(b"stray-ok", ack=True)
    until = trio.current_time() + 1.0
    while (left := until - trio.current_time()) > 0:
        p, event = await ctx.next(left)
        if p is peer and _hostile(event):
            raise CaseFailed("the connection kept open", _describe(ctx, p, event))
        if p is peer and isinstance(event, FrameEvent) and event.kind == "PING":
            raise CaseFailed("no answer to an unmatched PING ACK", _describe(ctx, p, event))
    await peer.respond(first.stream_id)


@scenario(
    "reset-refused", "8.7", "Request Reliability",
    "Resets the first attempt with REFUSED_STREAM",
    "REFUSED_STREAM means not processed: the client retries the request (MAY, strict).",
    "POST /reset-refused/<n> with a small body; succeeds",
    strict=True,
)  # fmt: skip
async def reset_refused(ctx: Ctx) -> None:
    peer, first = await ctx.first_request()
    path = first.detail
    await peer.send_rst_stream(first.stream_id, ErrorCode.REFUSED_STREAM)
    while True:
        p, event = await ctx.next()
        if isinstance(event, TimeoutEvent):
            raise CaseFailed(f"a retry of {path}", "none")
        if p is not None and is_request(event, "reset-refused"):
            assert isinstance(event, FrameEvent)
            if event.detail == path:
                await p.respond(event.stream_id)
                return


@scenario(
    "reset-codes", "8.7", "Request Reliability",
    "Resets one request with each error code except REFUSED_STREAM",
    "A stream reset with any code but REFUSED_STREAM may have been processed: the client "
    "MUST NOT retry the POST automatically (it surfaces the error).",
    "POST /reset-codes/<CODE> once for each code name: "
    + " ".join(code_name(c) for c in H2_RESET_CODES),
)  # fmt: skip
async def reset_codes(ctx: Ctx) -> None:
    peer, first = await ctx.first_request()
    wanted = {code_name(c): c for c in H2_RESET_CODES}
    done: set[str] = set()
    pending: list[tuple[Peer, WireEvent]] = [(peer, first)]
    quiet = False
    while True:
        p, event = pending.pop() if pending else await ctx.next(QUIET if quiet else None)
        if isinstance(event, TimeoutEvent):
            if quiet:
                return
            raise CaseFailed("one request per code: " + " ".join(wanted),
                             "missing " + " ".join(sorted(set(wanted) - done)))  # fmt: skip
        if p is None or not is_request(event, "reset-codes"):
            continue
        assert isinstance(event, FrameEvent)
        name = event.detail.rstrip("/").rsplit("/", 1)[-1]
        if name in done:
            raise CaseFailed(f"no automatic retry after RST_STREAM({name})",
                             _describe(ctx, p, event))  # fmt: skip
        done.add(name)
        await p.send_rst_stream(event.stream_id, wanted.get(name, ErrorCode.INTERNAL_ERROR))
        quiet = done >= set(wanted)


@scenario(
    "close-mid-frame", "8.7", "Request Reliability",
    "Sends the response HEADERS, half a DATA frame, then closes the connection",
    "A request whose response had started when the connection was lost may have been "
    "processed: the client MUST NOT retry the POST automatically (it surfaces the error).",
    "POST /close-mid-frame/<n>; the request fails with a connection error",
)  # fmt: skip
async def close_mid_frame(ctx: Ctx) -> None:
    peer, first = await ctx.first_request()
    path = first.detail
    await peer.respond(first.stream_id, b"", end=False)
    await peer.send_raw(frame_bytes(DATA, 0, first.stream_id, b"x" * 100)[:40])
    await peer.aclose()
    while True:
        p, event = await ctx.next(QUIET * 2)
        if isinstance(event, TimeoutEvent):
            return
        if p is not peer and is_request(event, "close-mid-frame"):
            assert isinstance(event, FrameEvent)
            if event.detail == path:
                raise CaseFailed(f"no automatic retry of {path}", _describe(ctx, p, event))
