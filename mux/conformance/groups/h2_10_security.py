"""RFC 9113 §10.5: denial-of-service considerations (strict: the RFC leaves budgets to us)."""

from __future__ import annotations

import struct

import trio

from mux.conformance.case import Group
from mux.conformance.context import CaseContext
from mux.conformance.groups._h2 import RFC9113, connection_error, open_post
from mux.conformance.h2wire import DATA, PING

dos = Group("h2", "10.5", "Denial-of-Service Considerations", RFC9113)

ENHANCE_YOUR_CALM = 0xB
#: Frames a flood case sends (CVE-2019-9518 class; servers allow far fewer).
_FLOOD = 2000


def _frame(frame_type: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    header = struct.pack(">I", len(payload))[1:] + struct.pack(">BBI", frame_type, flags, stream_id)
    return header + payload


@dos.case(
    f"Sends {_FLOOD} empty DATA frames without END_STREAM on an open stream",
    "An endpoint that tracks cheap frames (empty DATA, CVE-2019-9518) SHOULD treat a flood "
    "as a connection error of type ENHANCE_YOUR_CALM.",
    strict=True,
)
async def empty_data_flood(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await open_post(peer)
    await peer.send_raw(_frame(DATA, 0, 1) * _FLOOD)
    await connection_error(ctx, peer, ENHANCE_YOUR_CALM)


@dos.case(
    f"Sends {_FLOOD * 10} PING frames back to back",
    "An endpoint SHOULD bound the work and the acknowledgements a PING flood makes it queue "
    "and end such a flood with a connection error of type ENHANCE_YOUR_CALM.",
    strict=True,
)
async def ping_flood(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    ping = _frame(PING, 0, 0, b"floodpng")
    # Read while flooding: a server that closes with our PINGs unread makes the
    # kernel reset the connection, which would discard its GOAWAY unread.
    async with trio.open_nursery() as nursery:
        nursery.start_soon(peer.send_raw, ping * (_FLOOD * 10))
        await connection_error(ctx, peer, ENHANCE_YOUR_CALM)
        nursery.cancel_scope.cancel()


GROUPS = [dos]
