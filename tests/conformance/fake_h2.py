"""A small scripted HTTP/2 server, correct or broken in one chosen way.

It exists to show that the behaviour cases (HEAD, early responses, frames
after RST_STREAM, the MAX_FRAME_SIZE default) can fail and can pass whatever
mux's own server does: ``good`` behaves as RFC 9113 asks, each other
:data:`VARIANTS` entry breaks exactly one rule. It is built on the client-mode
server peer (:class:`~mux.conformance.serverwire_h2.H2ClientPeer`), so no
``h2`` state machine gets in the way.

Behaviour of ``good``: every request is answered at once (HEADERS, then 64
octets of DATA; for HEAD the HEADERS alone, with END_STREAM). A request body
keeps being read after that answer; a body longer than its content-length gets
RST_STREAM(PROTOCOL_ERROR); DATA on a reset stream is ignored; every DATA
octet is credited back on stream 0 at once; a HEADERS block over 16,384
octets is a connection error of type FRAME_SIZE_ERROR.
"""

from __future__ import annotations

from typing import Literal

import attrs
import hpack
import trio

from mux.conformance.h2wire import DATA, END_HEADERS, END_STREAM, HEADERS, MAX_FRAME_SIZE
from mux.conformance.serverwire_h2 import H2ClientPeer
from mux.conformance.wire import FrameEvent

Variant = Literal[
    "good", "big_frames", "head_body", "rst_each", "no_credit", "early_error", "early_reset"
]
#: Each variant and the cases it must fail (strict run of the behaviour cases).
VARIANTS: dict[Variant, set[str]] = {
    "good": set(),
    "big_frames": {"http2/4.2/3"},  # advertises 65,536 and takes a 17 KB HEADERS
    "head_body": {"h2/8.1/1"},  # sends the body in the response to HEAD
    "rst_each": {"h2/5.1/1"},  # RST_STREAM(STREAM_CLOSED) for each DATA on a reset stream
    "no_credit": {"h2/5.1/1"},  # ignores DATA on a reset stream without crediting it
    "early_error": {"h2/8.1/2", "h2/8.1/3"},  # RST_STREAM(INTERNAL_ERROR) after answering early
    "early_reset": {"h2/8.1/3"},  # RST_STREAM(NO_ERROR) after answering early (RFC-legal)
}
_BODY = b"b" * 64
PROTOCOL_ERROR, INTERNAL_ERROR, STREAM_CLOSED, FRAME_SIZE_ERROR = 0x1, 0x2, 0x5, 0x6


class _Peer(H2ClientPeer):
    """Reports HEADERS as ``METHOD content-length`` in ``detail`` (decoded once, in order)."""

    def _path(self, block: bytes) -> str:
        fields = {
            bytes(n).decode(): bytes(v).decode() for n, v in self.decoder.decode(block, raw=True)
        }
        return f"{fields.get(':method', '')} {fields.get('content-length', '-')}"


@attrs.define
class _Stream:
    declared: int | None
    received: int = 0
    reset: bool = False


async def _serve_one(variant: Variant, stream: trio.SocketStream) -> None:
    peer = _Peer(stream, 5.0)
    encoder = hpack.Encoder()
    streams: dict[int, _Stream] = {}
    try:
        if await peer.handshake() is not None:
            return
        if variant == "big_frames":
            await peer.send_settings({MAX_FRAME_SIZE: 65536})
        while True:
            event = await peer.next_frame(30.0)
            if not isinstance(event, FrameEvent):
                return
            if event.kind == "HEADERS" and event.stream_id not in streams:
                if len(event.payload) > 16384 and variant != "big_frames":
                    await peer.send_goaway(event.stream_id, FRAME_SIZE_ERROR)
                    return
                method, length = event.detail.split(" ")
                state = _Stream(int(length) if length.isdigit() else None)
                streams[event.stream_id] = state
                await _answer(peer, encoder, variant, event, method, state)
            elif event.kind == "DATA":
                await _data(peer, variant, event, streams.get(event.stream_id))
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    finally:
        await peer.aclose()


async def _answer(
    peer: _Peer, encoder: hpack.Encoder, variant: Variant, event: FrameEvent, method: str,
    state: _Stream,
) -> None:  # fmt: skip
    sid = event.stream_id
    fields = [(":status", "200"), ("content-length", str(len(_BODY)))]
    if method == "HEAD" and variant != "head_body":
        await peer.send_frame(HEADERS, END_HEADERS | END_STREAM, sid, encoder.encode(fields))
        return
    await peer.send_frame(HEADERS, END_HEADERS, sid, encoder.encode(fields))
    await peer.send_frame(DATA, END_STREAM, sid, _BODY)
    if "END_STREAM" in event.flags:
        return
    if variant == "early_error":
        await peer.send_rst_stream(sid, INTERNAL_ERROR)
        state.reset = True
    elif variant == "early_reset":
        await peer.send_rst_stream(sid, 0)
        state.reset = True


async def _data(peer: _Peer, variant: Variant, event: FrameEvent, state: _Stream | None) -> None:
    size = len(event.payload)
    if state is not None and state.reset:
        if variant == "rst_each":
            await peer.send_rst_stream(event.stream_id, STREAM_CLOSED)
        if variant != "no_credit" and size:
            await peer.send_window_update(0, size)
        return
    if size:
        await peer.send_window_update(0, size)
    if state is None:
        return
    state.received += size
    if state.declared is not None and state.received > state.declared:
        await peer.send_rst_stream(event.stream_id, PROTOCOL_ERROR)
        state.reset = True
        return
    if size and "END_STREAM" not in event.flags:
        await peer.send_window_update(event.stream_id, size)


async def serve_fake_h2(
    variant: Variant, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
) -> None:
    """Listen on a free loopback port (reported via ``task_status``) until cancelled."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port: int = listeners[0].socket.getsockname()[1]

    async def handler(stream: trio.SocketStream) -> None:
        await _serve_one(variant, stream)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, handler, listeners)
        task_status.started(port)
