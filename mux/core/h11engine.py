"""The HTTP/1.1 server engine: an :class:`~mux.core.engine.Engine` over h11.

Theory of operation
-------------------
HTTP/1.1 has one exchange at a time, so each request gets the next stream id
(1, 3, 5, ...) and the engine looks like an HTTP/2 connection whose peer never
opens a second stream before the first is answered. Headers are translated to
the mux shape: request pseudo-headers ``:method``, ``:scheme``, ``:authority``
(from Host) and ``:path`` first, hop-by-hop fields dropped; a response is sent
from ``:status`` plus the other fields. Without a content-length, h11 sends the
body chunked (HTTP/1.1) or close-delimited (HTTP/1.0). Keep-alive is h11's.

Flow control is TCP's: ``acknowledge_received_data`` is a no-op and the send
window is unbounded while a response body may be sent. The driver gets
backpressure by not reading while the application is not consuming.

Early responses: a response complete before the request body keeps the
connection; the driver reads and drops the rest of the body (bounded, see
:mod:`mux.driver.lifecycle`), and once it ends the next cycle starts. Past the
bound the driver resets the stream, and a reset closes the connection.

``Expect: 100-continue``: ``100 Continue`` is queued as soon as such a request
head is parsed, so it always precedes the final response (h11 refuses one
after it). A response is sent with ``Connection: close`` when the connection
will close after it (a graceful shutdown, a reset).

Pipelining: h11 parses a second request only after the first response is
complete. The driver calls :meth:`H11Engine.pending_events` after finishing a
response (after ``send_data(..., end_stream=True)`` or ``end_stream``): it
returns the events of any request already buffered. Buffered pipelined bytes are
bounded (``max_buffered_bytes``).

Errors: a request h11 cannot parse gets ``400 Bad Request`` (``431`` when the
head exceeds ``max_incomplete_event_size``) with a text body naming the
problem in plain words (:func:`describe_h11_error`: no Python repr, no h11
state name) and ``Connection: close``; then ``receive_data`` raises
:class:`mux.errors.RemoteProtocolError` and the driver flushes and closes.
``reset_stream`` cannot be expressed in HTTP/1.1: it makes the connection close
(:attr:`H11Engine.must_close`).

``Upgrade: h2c`` (RFC 7540 §3.2): a body-less request carrying ``Upgrade: h2c``
and one ``HTTP2-Settings`` field is answered ``101 Switching Protocols``; an
:class:`~mux.core.h2engine.H2Engine` takes over (its SETTINGS follow the 101),
the request is reported as stream 1 with END_STREAM, and from then on this
object delegates every call to that engine (:attr:`upgraded_to`, and
``protocol`` becomes ``"h2"``). The driver therefore needs no switch; it may
replace its engine with ``upgraded_to`` after draining ``data_to_send()``.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import h11

from mux.core import events as ev
from mux.core.events import Event, Headers
from mux.core.h2engine import H2Engine
from mux.core.h2guard import H2Limits
from mux.errors import ErrorCode, LocalProtocolError, RemoteProtocolError
from mux.wording import plain_text

#: Request fields that are hop-by-hop and never reach the application.
_HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"}
)
_UNBOUNDED_WINDOW = 2**31 - 1
#: h11 error message prefixes and the plain wording a client is shown instead.
_H11_WORDING = (
    ("illegal request line", "malformed request line"),
    ("illegal header line", "malformed header line"),
    ("illegal chunk header", "malformed chunk header"),
    ("malformed chunk footer", "malformed chunk: no CRLF after the chunk data"),
    ("Receive buffer too long", "request head too large"),
    ("can't handle event type", "unexpected bytes after the request"),
    ("Can't receive data when peer state is ERROR", "the request already failed"),
    ("peer unexpectedly closed connection", "connection closed in the middle of a request"),
    ("peer closed connection without sending complete message body", "request body cut short"),
    ("continuation line at start of headers", "header block starts with a continuation line"),
    ("no request line received", "no request line"),
)


class H11Engine:
    """One HTTP/1.1 server connection as a mux Engine.

    Args:
        scheme: the ``:scheme`` reported for requests (``b"https"`` over TLS).
        max_incomplete_event_size: request head limit in bytes (431 beyond).
        max_buffered_bytes: unparsed pipelined bytes allowed while a response
            is pending.
        h2_limits: limits of the HTTP/2 engine used after ``Upgrade: h2c``;
            None disables the upgrade.
    """

    client_side = False

    def __init__(
        self,
        *,
        scheme: bytes = b"http",
        max_incomplete_event_size: int = 16 * 1024,
        max_buffered_bytes: int = 64 * 1024,
        h2_limits: H2Limits | None = None,
    ) -> None:
        self._conn = h11.Connection(h11.SERVER, max_incomplete_event_size=max_incomplete_event_size)
        self._scheme = scheme
        self._max_buffered = max_buffered_bytes
        self._h2_limits = h2_limits
        self._out = bytearray()
        self._stream_id = 1
        self._opened = 0
        self._response_started = False
        self._must_close = False
        self._failure: RemoteProtocolError | None = None
        self.upgraded_to: H2Engine | None = None

    @property
    def protocol(self) -> str:
        """ "http/1.1", or "h2" after an ``Upgrade: h2c``."""
        return "h2" if self.upgraded_to is not None else "http/1.1"

    @property
    def must_close(self) -> bool:
        """True when the driver must close the connection after flushing."""
        if self.upgraded_to is not None:
            return False
        return self._must_close or self._conn.our_state in (h11.MUST_CLOSE, h11.CLOSED)

    @property
    def header_block_open(self) -> bool:
        """True while a request head has begun and not ended (header timeout)."""
        if self.upgraded_to is not None:
            return self.upgraded_to.header_block_open
        return self._conn.their_state is h11.IDLE and bool(self._conn.trailing_data[0])

    def initiate_connection(self) -> None:
        """Nothing to send first in HTTP/1.1."""

    # ---------------------------------------------------------------- receive

    def receive_data(self, data: bytes) -> list[Event]:
        """Feed bytes (``b""`` = EOF) and return the events.

        Raises:
            RemoteProtocolError: unparseable request (400/431 queued) or too
                many buffered pipelined bytes; flush and close.
        """
        if self.upgraded_to is not None:
            return self.upgraded_to.receive_data(data)
        if self._failure is not None:
            raise self._failure
        if not data:
            self._conn.receive_data(b"")
            return [*self._next_events(), ev.ConnectionClosed()]
        self._conn.receive_data(data)
        events = self._next_events()
        if self.upgraded_to is None and len(self._conn.trailing_data[0]) > self._max_buffered:
            self._failure = RemoteProtocolError(
                f"more than {self._max_buffered} pipelined bytes buffered",
                ErrorCode.ENHANCE_YOUR_CALM,
            )
            self._must_close = True
            raise self._failure
        return events

    def pending_events(self) -> list[Event]:
        """Events for requests already buffered (pipelining), after a response ends."""
        if self.upgraded_to is not None or self._failure is not None:
            return []
        return self._next_events()

    def _next_events(self) -> list[Event]:
        out: list[Event] = []
        while True:
            try:
                event = self._conn.next_event()
            except h11.RemoteProtocolError as exc:
                self._bad_request(exc)
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return out
            out.extend(self._translate(event))
            if self.upgraded_to is not None:
                trailing = self._conn.trailing_data[0]
                return out + (self.upgraded_to.receive_data(trailing) if trailing else [])
            if isinstance(event, h11.ConnectionClosed):
                return out

    def _translate(self, event: Any) -> list[Event]:
        sid = self._stream_id
        if isinstance(event, h11.Request):
            self._opened += 1
            headers = _request_headers(event, self._scheme)
            no_body = not any(
                n in (b"content-length", b"transfer-encoding") for n, _ in event.headers
            )
            if no_body and self._wants_h2c(event):
                return self._upgrade(event, headers)
            if self._conn.they_are_waiting_for_100_continue:
                # The client holds its body back until told: tell it now
                # (before any final response can exist), not after its timeout.
                go_on = h11.InformationalResponse(status_code=100, headers=[], reason=_reason(100))
                self._send(go_on)
            return [ev.RequestReceived(sid, headers, end_stream=no_body)]
        if isinstance(event, h11.Data):
            return [ev.DataReceived(sid, bytes(event.data), len(event.data))]
        if isinstance(event, h11.EndOfMessage):
            trailers = [(bytes(n), bytes(v)) for n, v in event.headers]
            ended: list[Event] = [ev.TrailersReceived(sid, trailers)] if trailers else []
            if self._conn.our_state is h11.DONE:
                # The rest of a request body after an early response ended
                # (the driver discarded it): the connection is reusable.
                self._next_cycle()
            return [*ended, ev.StreamEnded(sid)]
        return []  # h11.ConnectionClosed: reported as ConnectionClosed by receive_data

    def _bad_request(self, exc: h11.RemoteProtocolError) -> Any:
        status = exc.error_status_hint
        message = (
            f"{status} {'Request Header Fields Too Large' if status == 431 else 'Bad Request'}"
        )
        reason = describe_h11_error(exc)
        body = f"{message}: {reason}\n".encode()
        if self._conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            headers = [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ]
            self._out += (
                self._conn.send(
                    h11.Response(status_code=status, headers=headers, reason=_reason(status))
                )
                or b""
            )
            self._out += self._conn.send(h11.Data(data=body)) or b""
            self._out += self._conn.send(h11.EndOfMessage()) or b""
        self._must_close = True
        self._failure = RemoteProtocolError(
            f"HTTP/1.1 {message}: {reason}", ErrorCode.PROTOCOL_ERROR
        )
        raise self._failure

    # -------------------------------------------------------------- h2c upgrade

    def _wants_h2c(self, request: Any) -> bool:
        if self._h2_limits is None or self._stream_id != 1:
            return False
        upgrade = [v.lower() for n, v in request.headers if n == b"upgrade"]
        settings = [v for n, v in request.headers if n == b"http2-settings"]
        return upgrade == [b"h2c"] and len(settings) == 1

    def _upgrade(self, request: Any, headers: Headers) -> list[Event]:
        settings = next(v for n, v in request.headers if n == b"http2-settings")
        engine = H2Engine(client_side=False, limits=self._h2_limits)
        try:
            engine.initiate_upgrade_connection(bytes(settings))
        except RemoteProtocolError:
            return [ev.RequestReceived(1, headers, end_stream=True)]  # serve as HTTP/1.1
        switch = h11.InformationalResponse(
            status_code=101,
            headers=[(b"connection", b"Upgrade"), (b"upgrade", b"h2c")],
            reason=_reason(101),
        )
        self._out += self._conn.send(switch) or b""
        self._out += engine.data_to_send()
        self.upgraded_to = engine
        h2_headers = [(n, v) for n, v in headers if n not in (b"http2-settings", b"te")]
        return [ev.RequestReceived(1, h2_headers, end_stream=True), ev.StreamEnded(1)]

    # --------------------------------------------------------------- commands

    def data_to_send(self) -> bytes:
        """Drain and return every byte queued for the peer."""
        if self.upgraded_to is not None:
            self._out += self.upgraded_to.data_to_send()
        data = bytes(self._out)
        self._out.clear()
        return data

    def _send(self, event: Any) -> None:
        try:
            self._out += self._conn.send(event) or b""
        except h11.LocalProtocolError as exc:
            raise LocalProtocolError(f"HTTP/1.1: {exc}") from exc

    def _check_stream(self, stream_id: int) -> None:
        if stream_id != self._stream_id or self._opened * 2 - 1 != stream_id:
            raise LocalProtocolError(f"stream {stream_id} is not the current HTTP/1.1 exchange")

    def get_next_available_stream_id(self) -> int:
        """Servers never open streams in HTTP/1.1."""
        raise LocalProtocolError("an HTTP/1.1 server cannot open streams")

    def send_headers(self, stream_id: int, headers: Headers, *, end_stream: bool = False) -> None:
        """Send the response head (or 1xx, or trailers once the body started)."""
        if self.upgraded_to is not None:
            return self.upgraded_to.send_headers(stream_id, headers, end_stream=end_stream)
        self._check_stream(stream_id)
        if self._response_started:
            self._send(h11.EndOfMessage(headers=[(n, v) for n, v in headers if n[:1] != b":"]))
            return self._finish()
        status, fields = _response_head(headers)
        if 100 <= status < 200:
            return self._send(
                h11.InformationalResponse(
                    status_code=status, headers=fields, reason=_reason(status)
                )
            )
        if self._must_close and not any(n == b"connection" for n, _ in fields):
            fields.append((b"connection", b"close"))  # closing after it: say so
        self._send(h11.Response(status_code=status, headers=fields, reason=_reason(status)))
        self._response_started = True
        if end_stream:
            self.end_stream(stream_id)
        return None

    def send_data(self, stream_id: int, data: bytes, *, end_stream: bool = False) -> None:
        """Send body bytes (chunked when no content-length was given)."""
        if self.upgraded_to is not None:
            return self.upgraded_to.send_data(stream_id, data, end_stream=end_stream)
        self._check_stream(stream_id)
        if data:
            self._send(h11.Data(data=data))
        if end_stream:
            self.end_stream(stream_id)
        return None

    def end_stream(self, stream_id: int) -> None:
        """Finish the response."""
        if self.upgraded_to is not None:
            return self.upgraded_to.end_stream(stream_id)
        self._check_stream(stream_id)
        self._send(h11.EndOfMessage())
        return self._finish()

    def _finish(self) -> None:
        self._response_started = False
        if self._conn.our_state is h11.DONE and self._conn.their_state is h11.DONE:
            self._next_cycle()
        # Otherwise the request body is still coming (an early response): the
        # next cycle starts once it ends (_translate); if the driver gives up
        # discarding it, it resets the stream and the connection closes.

    def _next_cycle(self) -> None:
        self._conn.start_next_cycle()
        self._stream_id += 2

    def reset_stream(self, stream_id: int, error_code: ErrorCode = ErrorCode.CANCEL) -> None:
        """HTTP/1.1 cannot reset an exchange: the connection must close."""
        if self.upgraded_to is not None:
            return self.upgraded_to.reset_stream(stream_id, error_code)
        if stream_id == self._stream_id and self._opened * 2 - 1 == stream_id:
            self._must_close = True
        return None

    def acknowledge_received_data(self, size: int, stream_id: int) -> None:
        """No-op: HTTP/1.1 flow control is TCP's."""
        if self.upgraded_to is not None:
            self.upgraded_to.acknowledge_received_data(size, stream_id)

    def local_flow_control_window(self, stream_id: int) -> int:
        """Unbounded while the response body may be sent, else 0."""
        if self.upgraded_to is not None:
            return self.upgraded_to.local_flow_control_window(stream_id)
        if stream_id == self._stream_id and self._conn.our_state is h11.SEND_BODY:
            return _UNBOUNDED_WINDOW
        return 0

    def ping(self, data: bytes) -> None:
        """HTTP/1.1 has no PING; ignored (HTTP/2 after an upgrade)."""
        if self.upgraded_to is not None:
            self.upgraded_to.ping(data)

    def close_connection(
        self,
        error_code: ErrorCode = ErrorCode.NO_ERROR,
        *,
        last_stream_id: int | None = None,
        debug_data: bytes = b"",
    ) -> None:
        """Stop after the current exchange (HTTP/1.1 has no GOAWAY)."""
        if self.upgraded_to is not None:
            self.upgraded_to.close_connection(
                error_code, last_stream_id=last_stream_id, debug_data=debug_data
            )
            return
        self._must_close = True

    @property
    def open_outbound_streams(self) -> int:
        """Always 0: the server opens no streams."""
        return 0 if self.upgraded_to is None else self.upgraded_to.open_outbound_streams

    @property
    def open_inbound_streams(self) -> int:
        """1 while a request is being handled, else 0."""
        if self.upgraded_to is not None:
            return self.upgraded_to.open_inbound_streams
        return int(self._opened * 2 - 1 == self._stream_id)

    @property
    def max_outbound_streams(self) -> int:
        """Always 0 for an HTTP/1.1 server."""
        return 0 if self.upgraded_to is None else self.upgraded_to.max_outbound_streams

    @property
    def highest_inbound_stream_id(self) -> int:
        """The id of the latest request (0 if none)."""
        if self.upgraded_to is not None:
            return self.upgraded_to.highest_inbound_stream_id
        return max(self._opened * 2 - 1, 0)


def describe_h11_error(exc: h11.ProtocolError) -> str:
    """h11's complaint about a request in plain words (no repr, no state names).

    Known messages get a fixed wording; the offending bytes h11 quotes as a
    repr are kept, as quoted text (:func:`mux.wording.plain_text`).
    """
    text = str(exc)
    for prefix, wording in _H11_WORDING:
        if text.startswith(prefix):
            rest = text[len(prefix) :]
            quoted = plain_text(rest[1:].strip()) if rest.startswith(":") and "'" in rest else ""
            return f"{wording}: {quoted}" if quoted else wording
    if "state=" in text or "role=" in text:
        return "unexpected bytes from the client"
    return plain_text(text)


def _request_headers(request: Any, scheme: bytes) -> Headers:
    host = next((bytes(v) for n, v in request.headers if n == b"host"), b"")
    headers: Headers = [
        (b":method", bytes(request.method)),
        (b":scheme", scheme),
        (b":authority", host),
        (b":path", bytes(request.target)),
    ]
    # RFC 9110 7.6.1: the fields that Connection names are hop-by-hop too.
    named = {
        token.strip().lower()
        for n, v in request.headers
        if n == b"connection"
        for token in bytes(v).split(b",")
    }
    for name, value in request.headers:
        if name == b"host" or name in _HOP_BY_HOP or name in named:
            continue
        headers.append((bytes(name), bytes(value)))
    return headers


def _response_head(headers: Headers) -> tuple[int, Headers]:
    status = next((v for n, v in headers if n == b":status"), None)
    if status is None or not status.isdigit():
        raise LocalProtocolError("response headers need a numeric :status")
    return int(status), [(n, v) for n, v in headers if not n.startswith(b":")]


def _reason(status: int) -> bytes:
    """The standard reason phrase (RFC 9110 §15), or ``Unknown``: some clients
    (h2load --h1) reject a status line with an empty one."""
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b"Unknown"
