"""RFC 9113 §7: error codes."""

from __future__ import annotations

from mux.conformance.case import Group
from mux.conformance.context import CaseContext
from mux.conformance.groups._h2 import RFC9113, open_post
from mux.conformance.verify import verify_alive

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
    await verify_alive(peer)


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
