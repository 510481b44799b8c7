"""RFC 9113 §7: error codes."""

from __future__ import annotations

from mux.conformance.case import CaseFailed, Group
from mux.conformance.context import CaseContext
from mux.conformance.groups._h2 import RFC9113, open_post
from mux.conformance.h2wire import H2Peer
from mux.conformance.verify import ALIVE_PING, verify_alive
from mux.conformance.wire import ClosedEvent, FrameEvent

error_codes = Group("h2", "7", "Error Codes", RFC9113)

#: An error code no RFC defines.
_UNKNOWN_CODE = 0xFF


@error_codes.case(
    "Sends GOAWAY with an unknown error code",
    "Unknown or unsupported error codes MUST NOT trigger any special behavior.",
)
async def goaway_unknown_code(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await peer.send_goaway(0, _UNKNOWN_CODE)
    await _ping_or_close(ctx, peer)


async def _ping_or_close(ctx: CaseContext, peer: H2Peer) -> None:
    """After our GOAWAY the server may answer the PING or close (h2spec's verdict).

    Closing is ordinary GOAWAY handling (RFC 9113 §6.8: nothing is left to
    finish), not behaviour special to the unknown code. A GOAWAY with an error
    code treats our legal PING as a protocol error: tolerated like h2spec
    does, but a failure with ``--strict``.
    """
    await peer.send_ping(ALIVE_PING)
    expected = "PING(ACK) or the connection closed (no error GOAWAY)"
    while True:
        event = await peer.next_event()
        if isinstance(event, ClosedEvent):
            return
        if not isinstance(event, FrameEvent):
            raise CaseFailed(expected, event.describe())
        if event.kind == "PING" and event.has("ACK") and event.payload == ALIVE_PING:
            return
        if event.kind == "GOAWAY" and event.code and ctx.strict:
            raise CaseFailed(expected, event.describe())


@error_codes.case(
    "Sends RST_STREAM with an unknown error code",
    "Unknown or unsupported error codes MUST NOT trigger any special behavior.",
)
async def rst_stream_unknown_code(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await open_post(peer)
    await peer.send_rst_stream(1, _UNKNOWN_CODE)
    await verify_alive(peer)


GROUPS = [error_codes]
