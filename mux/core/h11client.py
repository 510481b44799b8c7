"""The HTTP/1.1 client engine: an :class:`~mux.core.engine.Engine` over h11.

Theory of operation
-------------------
The client side of :mod:`mux.core.h11engine`. HTTP/1.1 carries one exchange at
a time, so the engine looks like an HTTP/2 connection whose peer allows one
concurrent stream (:attr:`H11ClientEngine.max_outbound_streams` is 1, which is
how the SDK pool learns it may put one call per connection): each request
gets the next odd stream id (1, 3, 5, ...), and the next one may start once
both the request and the response are complete (h11's ``start_next_cycle``:
keep-alive).

Requests are given in the mux shape: ``:method``, ``:path`` and
``:authority`` (sent as ``Host``, first) plus regular fields; ``:scheme`` is
dropped and hop-by-hop fields are removed. A request that is not ended with its
headers and has no ``content-length`` is sent chunked. The response becomes
``ResponseReceived`` with ``:status`` first; 1xx become
``InformationalResponseReceived``; the body arrives as ``DataReceived``
(content-length, chunked or close-delimited, h11 decides) and the end as
``TrailersReceived`` (chunked trailers) and ``StreamEnded``.

Flow control is TCP's: the send window is unbounded while the request body
may be sent, and ``acknowledge_received_data`` is a no-op. Like the server
engine, it offers :meth:`pending_events` (always empty) and :attr:`must_close`,
which tells the shared driver to pause reading while a response body is not
consumed (TCP backpressure) and to close the connection once the exchange is
over when it cannot be reused.

Connection reuse ends (``must_close``) when either side said
``Connection: close`` or spoke HTTP/1.0, after :meth:`reset_stream` (HTTP/1.1
cannot abort one exchange: the connection must close and is never returned to
the pool), after :meth:`close_connection`, and on any protocol error.

EOF: a server that closes while our request is still queued here (not yet
handed to the transport by :meth:`data_to_send`) provably never received it;
the engine then reports ``GoAwayReceived`` with ``last_stream_id`` below the
request's id before ``ConnectionClosed``, so the driver fails the stream as
*not processed* and the caller may retry it anywhere. EOF after the request
was written, before a complete response, leaves it *maybe processed*. A
response h11 cannot parse raises :class:`mux.errors.RemoteProtocolError`.
"""

from __future__ import annotations

from typing import Any

import h11

from mux.core import events as ev
from mux.core.events import Event, Headers
from mux.errors import ErrorCode, LocalProtocolError, RemoteProtocolError

#: Fields that are hop-by-hop (RFC 9112 §7.6.1 and friends) and never sent as given.
_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"transfer-encoding",
        b"upgrade",
        b"host",
        b"http2-settings",
    }
)
_UNBOUNDED_WINDOW = 2**31 - 1
#: States in which one side's message is complete.
_FINISHED = (h11.DONE, h11.MUST_CLOSE, h11.CLOSED)


class H11ClientEngine:
    """One HTTP/1.1 client connection as a mux Engine.

    Args:
        max_incomplete_event_size: response head limit in bytes.
    """

    client_side = True
    protocol = "http/1.1"

    def __init__(self, *, max_incomplete_event_size: int = 64 * 1024) -> None:
        self._conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=max_incomplete_event_size)
        self._out = bytearray()
        #: The current exchange's stream id (0: none yet).
        self._stream_id = 0
        #: An exchange is in progress (request or response not complete).
        self._active = False
        self._must_close = False
        self._failure: RemoteProtocolError | None = None
        self._eof = False
        #: Some byte of the current request was handed to the transport.
        self._written = False

    @property
    def must_close(self) -> bool:
        """True when the connection cannot carry another exchange."""
        return (
            self._must_close
            or self._eof
            or self._conn.our_state in (h11.MUST_CLOSE, h11.CLOSED, h11.ERROR)
            or self._conn.their_state in (h11.MUST_CLOSE, h11.CLOSED, h11.ERROR)
        )

    def pending_events(self) -> list[Event]:
        """Nothing is ever pipelined on the client side (see the module docs)."""
        return []

    def initiate_connection(self) -> None:
        """Nothing to send first in HTTP/1.1."""

    # ---------------------------------------------------------------- receive

    def receive_data(self, data: bytes) -> list[Event]:
        """Feed bytes (``b""`` = EOF) and return the events.

        Raises:
            RemoteProtocolError: the response cannot be parsed.
        """
        if self._failure is not None:
            raise self._failure
        if data:
            self._conn.receive_data(data)
            return self._next_events()
        self._eof = True
        out: list[Event] = []
        if self._active and not self._written:
            # Our request never left: the server provably did not see it.
            out.append(ev.GoAwayReceived(ErrorCode.NO_ERROR, self._stream_id - 2))
        try:
            self._conn.receive_data(b"")
        except h11.RemoteProtocolError:
            pass
        if self._active:
            out.extend(self._next_events(at_eof=True))
        out.append(ev.ConnectionClosed())
        return out

    def _next_events(self, *, at_eof: bool = False) -> list[Event]:
        out: list[Event] = []
        while True:
            try:
                event = self._conn.next_event()
            except h11.RemoteProtocolError as exc:
                if at_eof:
                    return out  # truncated response: the driver reports the close
                self._must_close = True
                self._failure = RemoteProtocolError(
                    f"HTTP/1.1 response from the server is invalid: {exc}",
                    ErrorCode.PROTOCOL_ERROR,
                )
                raise self._failure from exc
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return out
            if isinstance(event, h11.ConnectionClosed):
                return out
            out.extend(self._translate(event))

    def _translate(self, event: Any) -> list[Event]:
        sid = self._stream_id
        if isinstance(event, h11.InformationalResponse):
            return [ev.InformationalResponseReceived(sid, _status_headers(event))]
        if isinstance(event, h11.Response):
            return [ev.ResponseReceived(sid, _status_headers(event))]
        if isinstance(event, h11.Data):
            return [ev.DataReceived(sid, bytes(event.data), len(event.data))]
        if isinstance(event, h11.EndOfMessage):
            trailers = [(bytes(n), bytes(v)) for n, v in event.headers]
            ended: list[Event] = [ev.TrailersReceived(sid, trailers)] if trailers else []
            self._cycle()
            return [*ended, ev.StreamEnded(sid)]
        return []

    def _cycle(self) -> None:
        """Both messages complete: the exchange is over; reuse the connection if allowed."""
        ours, theirs = self._conn.our_state, self._conn.their_state
        if ours is h11.DONE and theirs is h11.DONE:
            self._active = False
            self._conn.start_next_cycle()
        elif ours in _FINISHED and theirs in _FINISHED:
            self._active = False  # over, but the connection cannot be reused

    # --------------------------------------------------------------- commands

    def data_to_send(self) -> bytes:
        """Drain and return every byte queued for the peer."""
        data = bytes(self._out)
        self._out.clear()
        if data and self._active:
            self._written = True
        return data

    def _send(self, event: Any) -> None:
        try:
            self._out += self._conn.send(event) or b""
        except h11.LocalProtocolError as exc:
            raise LocalProtocolError(f"HTTP/1.1: {exc}") from exc

    def get_next_available_stream_id(self) -> int:
        """The id of the next exchange.

        Raises:
            LocalProtocolError: an exchange is in progress or the connection must close.
        """
        if self._active:
            raise LocalProtocolError("HTTP/1.1 carries one exchange at a time")
        if self.must_close:
            raise LocalProtocolError("this HTTP/1.1 connection cannot be reused")
        return self._stream_id + 2 if self._stream_id else 1

    def send_headers(self, stream_id: int, headers: Headers, *, end_stream: bool = False) -> None:
        """Send the request head (or the trailers that end a chunked request body)."""
        if self._active and stream_id == self._stream_id:
            self._check_body(stream_id)
            trailers = [(n, v) for n, v in headers if not n.startswith(b":")]
            self._send(h11.EndOfMessage(headers=trailers))
            return self._cycle()
        if stream_id != self.get_next_available_stream_id():
            raise LocalProtocolError(f"stream {stream_id} is not the next HTTP/1.1 exchange")
        method, target, fields = _request_head(headers, end_stream)
        try:
            request = h11.Request(method=method, target=target, headers=fields)
        except h11.LocalProtocolError as exc:
            raise LocalProtocolError(f"HTTP/1.1: invalid request: {exc}") from exc
        self._send(request)
        self._stream_id = stream_id
        self._active = True
        self._written = False
        if end_stream:
            self._send(h11.EndOfMessage())
        return None

    def _check_body(self, stream_id: int) -> None:
        if not (self._active and stream_id == self._stream_id):
            raise LocalProtocolError(f"stream {stream_id} is not the current HTTP/1.1 exchange")
        if self._conn.our_state is not h11.SEND_BODY:
            raise LocalProtocolError(f"stream {stream_id}: the request is already complete")

    def send_data(self, stream_id: int, data: bytes, *, end_stream: bool = False) -> None:
        """Send request body bytes (chunked when no content-length was given)."""
        self._check_body(stream_id)
        if data:
            self._send(h11.Data(data=data))
        if end_stream:
            self._send(h11.EndOfMessage())
            self._cycle()

    def end_stream(self, stream_id: int) -> None:
        """Finish the request body."""
        self._check_body(stream_id)
        self._send(h11.EndOfMessage())
        self._cycle()

    def reset_stream(self, stream_id: int, error_code: ErrorCode = ErrorCode.CANCEL) -> None:
        """HTTP/1.1 cannot abort one exchange: the connection must close."""
        if self._active and stream_id == self._stream_id:
            self._active = False
            self._must_close = True

    def acknowledge_received_data(self, size: int, stream_id: int) -> None:
        """No-op: HTTP/1.1 flow control is TCP's."""

    def local_flow_control_window(self, stream_id: int) -> int:
        """Unbounded while the request body may be sent, else 0."""
        if self._active and stream_id == self._stream_id and self._conn.our_state is h11.SEND_BODY:
            return _UNBOUNDED_WINDOW
        return 0

    def ping(self, data: bytes) -> None:
        """HTTP/1.1 has no PING; ignored."""

    def close_connection(
        self,
        error_code: ErrorCode = ErrorCode.NO_ERROR,
        *,
        last_stream_id: int | None = None,
        debug_data: bytes = b"",
    ) -> None:
        """No new exchange: the connection closes after the current one."""
        self._must_close = True

    @property
    def open_outbound_streams(self) -> int:
        """1 while an exchange is in progress, else 0."""
        return int(self._active)

    @property
    def open_inbound_streams(self) -> int:
        """Always 0: servers open no streams."""
        return 0

    @property
    def max_outbound_streams(self) -> int:
        """Always 1: one exchange at a time."""
        return 1

    @property
    def highest_inbound_stream_id(self) -> int:
        """Always 0."""
        return 0


def _request_head(headers: Headers, end_stream: bool) -> tuple[bytes, bytes, Headers]:
    method = target = authority = None
    fields: Headers = []
    has_length = False
    for name, value in headers:
        if name.startswith(b":"):
            if name == b":method":
                method = value
            elif name == b":path":
                target = value
            elif name == b":authority":
                authority = value
            elif name != b":scheme":
                raise LocalProtocolError(f"unknown request pseudo-header {name!r}")
            continue
        if name in _HOP_BY_HOP:
            if name == b"host" and authority is None:
                authority = value
            continue
        if name == b"content-length":
            has_length = True
        fields.append((name, value))
    if method is None or target is None:
        raise LocalProtocolError("a request needs :method and :path")
    head: Headers = [(b"host", authority or b"")]
    if not end_stream and not has_length:
        fields.append((b"transfer-encoding", b"chunked"))
    return method, target, head + fields


def _status_headers(event: Any) -> Headers:
    return [(b":status", b"%d" % event.status_code)] + [
        (bytes(n), bytes(v)) for n, v in event.headers
    ]


__all__ = ["H11ClientEngine"]
