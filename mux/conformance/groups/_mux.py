"""Shared helpers of the mux groups: the verdicts the spec prescribes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from mux.conformance.context import CaseContext
from mux.conformance.muxwire import MuxPeer
from mux.conformance.verify import verify_alive, verify_connection_error, verify_stream_error

SPEC = "spec/mux-protocol.md"


async def connection_error(peer: MuxPeer, code: int) -> None:
    """§10.1: GOAWAY carrying ``code``, then close; a bare close fails."""
    await verify_connection_error(peer, code, require_goaway=True)


async def stream_error(peer: MuxPeer, stream_id: int, code: int) -> None:
    """§10.2: RST_STREAM(``code``) on the stream, and the connection lives on."""
    await verify_stream_error(peer, stream_id, code, allow_connection_error=False)
    await verify_alive(peer)


def expect_connection_error(code: int) -> Callable[[CaseContext, MuxPeer], Awaitable[None]]:
    """The verdict "connection error ``code``" for :func:`~._common.raw_case`."""
    return lambda ctx, peer: connection_error(peer, code)


async def mux_no_handshake(ctx: CaseContext) -> MuxPeer:
    """A mux connection on which nothing was sent yet."""
    return await ctx.mux(handshake=False)


async def mux_connect(ctx: CaseContext) -> MuxPeer:
    """A mux connection after the handshake."""
    return await ctx.mux()
