"""What a running case gets: the target, the timeout, and connection openers.

Theory of operation
-------------------
A :class:`CaseContext` lives for one case. It opens raw peers on demand and
remembers them, so the runner closes every connection the case opened, even
when the case fails or times out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from mux.conformance.h2wire import H2Peer
from mux.conformance.wire import Peer, Target, open_transport

if TYPE_CHECKING:
    from mux.conformance.muxwire import MuxPeer


@attrs.define
class CaseContext:
    """Per-case environment.

    Attributes:
        target: the server under test.
        timeout: seconds to wait for any one expected answer.
        strict: True when SHOULD-level behaviour is required too.
    """

    target: Target
    timeout: float
    strict: bool = False
    peers: list[Peer] = attrs.Factory(list)

    async def h2(self, *, handshake: bool = True, settings: dict[int, int] | None = None) -> H2Peer:
        """Open an HTTP/2 connection; with ``handshake``, exchange SETTINGS first."""
        stream = await open_transport(self.target, ["h2"])
        peer = H2Peer(stream, self.timeout, self.target)
        self.peers.append(peer)
        if handshake:
            await peer.handshake(settings)
        return peer

    async def mux(
        self, *, handshake: bool = True, settings: dict[int, int] | None = None
    ) -> MuxPeer:
        """Open a mux/msgpack connection; with ``handshake``, exchange prefaces and SETTINGS."""
        from mux.conformance.muxwire import MuxPeer

        stream = await open_transport(self.target, ["mux/1"])
        peer = MuxPeer(stream, self.timeout, self.target)
        self.peers.append(peer)
        if handshake:
            await peer.handshake(settings)
        return peer

    async def aclose(self) -> None:
        """Close every connection the case opened."""
        for peer in self.peers:
            await peer.aclose()
        self.peers.clear()
