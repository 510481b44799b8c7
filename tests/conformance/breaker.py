"""A rule-breaking proxy: puts one protocol violation in front of a correct server.

The proxy forwards bytes between a client and an upstream server. In the
client-to-server direction it splits the stream into frames (after the
preface) and silently drops every frame a :class:`Rule` matches (frames of
types the rule does not watch stream through unbuffered, so a header-only
frame still reaches the server), so the
upstream server never sees that input and never reacts to it: the combination
behaves like a server that ignores exactly one rule. Server-to-client bytes
pass unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import attrs
import trio

#: (type, flags, stream id, payload) of one client frame.
FrameInfo = tuple[int, int, int, bytes]

_LAYOUT = {
    # protocol: (preface length, frame header length, bytes of the length field)
    "h2": (24, 9, 3),
    "mux": (8, 10, 4),
}
#: The client prefaces; a client that sends something else is passed through unfiltered.
_PREFACES = {"h2": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "mux": b"\x89MUX\r\n\x1a\x01"}


@attrs.frozen
class Rule:
    """Drop client frames that ``drops`` matches; ``breaks`` names the cases that must fail."""

    name: str
    protocol: Literal["h2", "mux"]
    breaks: frozenset[str]
    #: Frame types the rule inspects (others stream through unbuffered).
    watches: frozenset[int]
    drops: Callable[[FrameInfo], bool]
    #: False: ``drops`` decides from the header alone (payload passed as b"") and the
    #: payload streams through (or is discarded) unbuffered.
    needs_payload: bool = True


class _Filter:
    """Splits the client's bytes into frames; buffers only frames of watched types."""

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.preface_left, self.header_size, self.length_size = _LAYOUT[rule.protocol]
        self.buffer = bytearray()
        self.passthrough = 0  # payload bytes of an unwatched frame still to forward
        self.discard = False  # whether those bytes are dropped instead
        self.preface = _PREFACES[rule.protocol]
        self.raw = False  # not this protocol's preface: forward everything as it is

    def feed(self, data: bytes | bytearray) -> bytes:
        out = bytearray()
        if self.raw:
            return bytes(data)
        if self.preface_left:
            head = data[: self.preface_left]
            done = len(self.preface) - self.preface_left
            if bytes(head) != self.preface[done : done + len(head)]:
                self.raw = True
                return bytes(data)
            self.preface_left -= len(head)
            out += head
            data = data[len(head) :]
        self.buffer += data
        while self.buffer:
            if self.passthrough:
                chunk = self.buffer[: self.passthrough]
                del self.buffer[: len(chunk)]
                self.passthrough -= len(chunk)
                if not self.discard:
                    out += chunk
                continue
            if len(self.buffer) < self.header_size:
                break
            length = int.from_bytes(self.buffer[: self.length_size], "big")
            frame_type = self.buffer[self.length_size]
            if frame_type not in self.rule.watches or not self.rule.needs_payload:
                header = bytes(self.buffer[: self.header_size])
                del self.buffer[: self.header_size]
                self.discard = frame_type in self.rule.watches and self.rule.drops(
                    self._info(header, b"")
                )
                if not self.discard:
                    out += header
                self.passthrough = length
                continue
            if len(self.buffer) < self.header_size + length:
                break
            raw = bytes(self.buffer[: self.header_size + length])
            del self.buffer[: self.header_size + length]
            if not self.rule.drops(self._info(raw, raw[self.header_size :])):
                out += raw
        return bytes(out)

    def _info(self, header: bytes, payload: bytes) -> FrameInfo:
        frame_type, flags = header[self.length_size], header[self.length_size + 1]
        stream_id = int.from_bytes(header[self.length_size + 2 : self.header_size], "big")
        return frame_type, flags, stream_id & 0x7FFFFFFF, payload


async def _client_to_server(rule: Rule, source: trio.abc.Stream, sink: trio.abc.Stream) -> None:
    frames = _Filter(rule)
    while data := await source.receive_some(65536):
        out = frames.feed(data)
        if out:
            await sink.send_all(out)
    if isinstance(sink, trio.abc.HalfCloseableStream):
        await sink.send_eof()


async def _server_to_client(source: trio.abc.Stream, sink: trio.abc.Stream) -> None:
    while data := await source.receive_some(65536):
        await sink.send_all(data)


_GONE = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)


async def _pump_up(rule: Rule, client: trio.abc.Stream, server: trio.abc.Stream) -> None:
    try:
        await _client_to_server(rule, client, server)
    except _GONE:
        pass


async def _pump_down(
    server: trio.abc.Stream, client: trio.abc.Stream, scope: trio.CancelScope
) -> None:
    try:
        await _server_to_client(server, client)
    except _GONE:
        pass
    scope.cancel()


async def _handle(rule: Rule, upstream: tuple[str, int], client: trio.SocketStream) -> None:
    try:
        server = await trio.open_tcp_stream(*upstream)
    except OSError:
        await client.aclose()
        return
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_pump_up, rule, client, server)
            nursery.start_soon(_pump_down, server, client, nursery.cancel_scope)
    finally:
        await trio.aclose_forcefully(server)
        await trio.aclose_forcefully(client)


async def serve_breaker(
    rule: Rule,
    upstream: tuple[str, int],
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Listen on a free loopback port (reported via ``task_status``) until cancelled."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port: int = listeners[0].socket.getsockname()[1]

    async def handler(stream: trio.SocketStream) -> None:
        await _handle(rule, upstream, stream)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, handler, listeners)
        task_status.started(port)
