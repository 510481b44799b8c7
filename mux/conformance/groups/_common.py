"""Case builders shared by the HTTP/2 and mux groups: raw bytes in, a verdict out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import trio

from mux.conformance.case import Group
from mux.conformance.context import CaseContext
from mux.conformance.verify import verify_frame
from mux.conformance.wire import Peer

P = TypeVar("P", bound=Peer)


def raw_case(
    group: Group,
    description: str,
    requirement: str,
    *,
    connect: Callable[[CaseContext], Awaitable[P]],
    data: bytes,
    verdict: Callable[[CaseContext, P], Awaitable[None]],
    prepare: Callable[[CaseContext, P], Awaitable[None]] | None = None,
    strict: bool = False,
    read_while_sending: bool = False,
) -> None:
    """Declare the case "connect, (prepare,) send ``data`` as it is, expect ``verdict``".

    With ``read_while_sending`` the verdict is awaited while ``data`` is still
    going out: a server that closes with our flood unread makes the kernel reset
    the connection, which would discard its GOAWAY unread.
    """

    async def run(ctx: CaseContext) -> None:
        peer = await connect(ctx)
        if prepare is not None:
            await prepare(ctx, peer)
        if not read_while_sending:
            await peer.send_raw(data)
            await verdict(ctx, peer)
            return
        async with trio.open_nursery() as nursery:
            nursery.start_soon(peer.send_raw, data)
            await verdict(ctx, peer)
            nursery.cancel_scope.cancel()

    group.case(description, requirement, strict=strict)(run)


async def first_settings(peer: Peer, expected: str) -> None:
    """The next frame must be SETTINGS without ACK; anything else fails."""
    await verify_frame(
        peer,
        expected,
        lambda e: e.kind == "SETTINGS" and not e.has("ACK"),
        reject=lambda e: True,
    )
