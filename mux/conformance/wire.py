"""The raw wire under a conformance case: transport, events, and the peer base.

Theory of operation
-------------------
The tester has to *break* the protocol on purpose, so it never runs a
connection state machine. A :class:`Peer` owns one byte stream (TCP, or TLS
with ALPN) and a frame parser for one framing; subclasses
(:class:`~mux.conformance.h2wire.H2Peer`,
:class:`~mux.conformance.muxwire.MuxPeer`) add frame builders. Whatever the
server sends comes back from :meth:`Peer.next_event` as a :class:`WireEvent`:
a received frame (:class:`FrameEvent`), the connection closing
(:class:`ClosedEvent`), bytes that do not parse (:class:`GarbageEvent`), or
nothing within the wait (:class:`TimeoutEvent`). The verifiers in
:mod:`mux.conformance.verify` only ever look at these events, so they serve
both framings.

Writes to a connection the server already closed are swallowed: the server's
GOAWAY is usually still waiting in our receive buffer, and that is what the
case is about.
"""

from __future__ import annotations

import abc
import collections
import ssl
from collections.abc import Callable

import attrs
import trio

from mux.conformance.verdicts import CaseFailed
from mux.errors import code_from_int, code_name

#: Bytes read per receive call.
_READ_SIZE = 65536


@attrs.frozen
class Target:
    """Where the server under test listens and how to talk to it."""

    host: str
    port: int
    tls: bool = False
    insecure: bool = False
    #: Server name for SNI and certificate checks (defaults to ``host``).
    server_name: str | None = None
    #: Request path used by cases that need a response (ideally with a body).
    path: str = "/"
    #: Path of a resource that keeps the request open without reading its body
    #: (flow-control and concurrency cases); defaults to ``path``.
    hold_path: str | None = None
    #: PEM file of the CA that signed the server's certificate (TLS only).
    ca_file: str | None = None
    #: The port speaks only mux (no protocol sniffing): input that is not a mux
    #: preface must be rejected as mux, not answered in another protocol.
    mux_only: bool = False


def negotiated_alpn(stream: trio.abc.Stream) -> str | None:
    """The ALPN protocol ``stream`` negotiated (None over plain TCP or without ALPN)."""
    if isinstance(stream, trio.SSLStream):
        selected: str | None = stream.selected_alpn_protocol()
        return selected
    return None


async def open_transport(target: Target, alpn: list[str]) -> trio.abc.Stream:
    """Connect to ``target`` over TCP, wrapped in TLS with ``alpn`` when asked."""
    tcp = await trio.open_tcp_stream(target.host, target.port)
    if not target.tls:
        return tcp
    context = ssl.create_default_context(cafile=target.ca_file)
    if target.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(alpn)
    stream = trio.SSLStream(tcp, context, server_hostname=target.server_name or target.host)
    await stream.do_handshake()
    return stream


@attrs.frozen
class FrameEvent:
    """A frame the server sent.

    Attributes:
        kind: frame type name (``GOAWAY``, ``RST_STREAM``, ``PING`` ...).
        stream_id: the frame's stream.
        flags: names of the flags set (``ACK``, ``END_STREAM`` ...).
        code: the error code of RST_STREAM / GOAWAY, else None.
        payload: the frame body (for PING the opaque bytes, for DATA the data).
        last_stream_id: GOAWAY's last stream id, else None.
        detail: extra text for reports (GOAWAY debug data, header names).
    """

    kind: str
    stream_id: int
    flags: frozenset[str] = frozenset()
    code: int | None = None
    payload: bytes = b""
    last_stream_id: int | None = None
    detail: str = ""

    def has(self, flag: str) -> bool:
        """True when the flag named ``flag`` is set."""
        return flag in self.flags

    def describe(self) -> str:
        """Readable form: ``GOAWAY(PROTOCOL_ERROR, last_stream_id=1, debug='...')``."""
        parts: list[str] = []
        if self.code is not None:
            parts.append(code_name(code_from_int(self.code)))
        if self.kind == "GOAWAY":
            parts.append(f"last_stream_id={self.last_stream_id}")
        elif self.stream_id:
            parts.append(f"stream {self.stream_id}")
        parts.extend(sorted(self.flags))
        if self.kind in ("DATA", "PING", "SETTINGS", "WINDOW_UPDATE") and not self.detail:
            parts.append(f"{len(self.payload)} bytes")
        if self.detail:
            parts.append(self.detail)
        return f"{self.kind}({', '.join(parts)})"


@attrs.frozen
class ClosedEvent:
    """The server closed the connection (EOF or reset)."""

    reason: str = "connection closed"

    def describe(self) -> str:
        """Readable form."""
        return self.reason


@attrs.frozen
class GarbageEvent:
    """The server sent bytes that do not parse as a frame."""

    reason: str

    def describe(self) -> str:
        """Readable form."""
        return f"unparsable bytes ({self.reason})"


@attrs.frozen
class TimeoutEvent:
    """Nothing arrived within the wait."""

    waited: float

    def describe(self) -> str:
        """Readable form."""
        return f"nothing within {self.waited:g} s"


WireEvent = FrameEvent | ClosedEvent | GarbageEvent | TimeoutEvent


class Peer(abc.ABC):
    """A raw-frame client connection; subclasses parse and build one framing.

    Args:
        stream: the connected byte stream (owned by this peer).
        timeout: default wait for :meth:`next_event`, in seconds.
    """

    def __init__(self, stream: trio.abc.Stream, timeout: float) -> None:
        self.stream = stream
        self.timeout = timeout
        self.closed = False
        self.send_failed = False
        self._buffer = bytearray()
        self._events: collections.deque[WireEvent] = collections.deque()
        #: Every frame received so far, for "actual" reports.
        self.history: list[FrameEvent] = []
        #: The server's SETTINGS as the handshake received them.
        self.server_settings: dict[int, int] = {}
        #: The first bytes the server sent (what it speaks, for error messages).
        self.first_bytes = b""

    @abc.abstractmethod
    def _parse(self, buffer: bytearray) -> list[FrameEvent | GarbageEvent]:
        """Consume whole frames from ``buffer`` (in place) and return them."""

    @abc.abstractmethod
    async def send_ping(self, data: bytes, *, ack: bool = False) -> None:
        """Send a PING (or its ACK) carrying ``data``."""

    async def send_raw(self, data: bytes) -> None:
        """Write bytes as they are; a write to a closed connection is ignored."""
        if self.send_failed:
            return
        try:
            await self.stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            self.send_failed = True

    async def settings_handshake(
        self, opening: bytes, ack: bytes, parse: Callable[[FrameEvent], dict[int, int]], first: str
    ) -> None:
        """Send ``opening``, then ACK the server's SETTINGS and wait for the ACK of ours.

        Args:
            opening: our preface and SETTINGS.
            ack: our SETTINGS(ACK) frame.
            parse: reads the server's settings out of its SETTINGS frame.
            first: what the server owes first, for the failure message.
        """
        await self.send_raw(opening)
        got_settings = got_ack = False
        while not (got_settings and got_ack):
            event = await self.next_event()
            if isinstance(event, FrameEvent) and event.kind == "SETTINGS":
                if event.has("ACK"):
                    got_ack = True
                else:
                    got_settings = True
                    self.server_settings.update(parse(event))
                    await self.send_raw(ack)
            elif not isinstance(event, FrameEvent):
                wanted = "SETTINGS ACK" if got_settings else first
                raise CaseFailed(f"{wanted} during the handshake", event.describe())

    async def next_event(self, wait: float | None = None) -> WireEvent:
        """The next thing the server did, waiting at most ``wait`` seconds (default timeout)."""
        if wait is None:
            wait = self.timeout
        if self._events:
            return self._events.popleft()
        if self.closed:
            return ClosedEvent()
        with trio.move_on_after(wait):
            while not self._events:
                await self._fill()
            return self._events.popleft()
        return TimeoutEvent(wait)

    async def _fill(self) -> None:
        try:
            data = await self.stream.receive_some(_READ_SIZE)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            data = b""
            reason = f"connection reset ({type(exc).__name__})"
        else:
            reason = "connection closed"
        if data:
            if not self.first_bytes:
                self.first_bytes = bytes(data[:48])
            self._buffer += data
            for event in self._parse(self._buffer):
                if isinstance(event, FrameEvent):
                    self.history.append(event)
                self._events.append(event)
            return
        self.closed = True
        if self._buffer:
            self._events.append(GarbageEvent(f"{len(self._buffer)} trailing bytes before EOF"))
        self._events.append(ClosedEvent(reason))

    async def aclose(self) -> None:
        """Close the connection without waiting."""
        self.closed = True
        await trio.aclose_forcefully(self.stream)
