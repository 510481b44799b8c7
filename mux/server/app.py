"""The handler API: Request, Response, incremental responses and a router.

Theory of operation
-------------------
A handler is ``async def handler(request: Request) -> Response | None``. It is
protocol-agnostic: it sees a :class:`Request` built on the one
:class:`~mux.driver.stream.Stream` abstraction, so the same handler answers
over mux/msgpack, HTTP/2 or HTTP/1.1.

Two styles, freely mixed:

* unary: ``return Response(200, headers, body=b"...", trailers=[...])``; the body
  may also be an async iterable of ``bytes`` (streamed as it is produced);
* streaming: ``async for chunk in request`` / ``await request.body()`` to read,
  ``resp = await request.respond(200, headers)`` then ``await resp.write(chunk)``,
  ``await resp.send_trailers(...)`` or ``await resp.end()`` to answer
  incrementally (returning ``None`` ends the response if needed).

:func:`handle_stream` adapts a handler to the driver: it applies the
``mux-timeout`` or ``grpc-timeout`` deadline, turns :class:`HTTPError` into its
status (always a final 4xx/5xx: the constructor refuses others, and one made
invalid later is answered 500 with one log line), and any other exception into a
500 (or RST_STREAM INTERNAL_ERROR when headers already went out). It never lets
an exception reach the connection.
For a gRPC request (``content-type: application/grpc``) failures are gRPC
statuses instead: a trailers-only response (``grpc-status`` 4
DEADLINE_EXCEEDED on expiry, 13 INTERNAL for a crash, ...), or status trailers
when the response headers already went out.
"""

from __future__ import annotations

import email.utils
import functools
import http
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any

import attrs
import trio

from mux.core.events import Headers
from mux.driver.stream import Stream
from mux.errors import ConnectionClosed, ErrorCode, StreamError
from mux.server import grpcwire

logger = logging.getLogger("mux.server")

#: Largest body :meth:`Request.body` reads by default (bytes).
DEFAULT_MAX_BODY = 64 * 1024 * 1024
#: Longest deadline applied (ms): one day; longer valid deadlines are clamped to it.
MAX_TIMEOUT_MS = 86_400_000
#: spec 5.7: ``mux-timeout`` is 1 to 10 ASCII digits of milliseconds.
_MAX_TIMEOUT_DIGITS = 10

HeadersLike = Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]]
Handler = Callable[["Request"], Awaitable["Response | None"]]


def _b(value: str | bytes) -> bytes:
    return value.encode("latin-1") if isinstance(value, str) else value


def to_headers(headers: HeadersLike | None) -> Headers:
    """Normalise a mapping or pairs of str/bytes to wire headers (lowercase names)."""
    if headers is None:
        return []
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return [
        (
            name.lower() if type(name) is bytes else _b(name).lower(),
            value if type(value) is bytes else _b(value),
        )
        for name, value in pairs
    ]


def _optional_headers(headers: HeadersLike | None) -> Headers | None:
    return None if headers is None else to_headers(headers)


#: Statuses an :class:`HTTPError` may carry: final error statuses only (4xx, 5xx).
ERROR_STATUSES = range(400, 600)


def _error_status_problem(status: object) -> type[Exception] | None:
    """The exception type ``status`` deserves as an HTTPError status, or None if valid."""
    if not isinstance(status, int) or isinstance(status, bool):
        return TypeError
    return None if status in ERROR_STATUSES else ValueError


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return f"Error {status}"


class HTTPError(Exception):
    """Raise from a handler to answer with ``status`` and a plain-text message.

    An error response is final and an error: ``status`` must be a 4xx or 5xx
    (400..599). 1xx are informational (never a final answer), 2xx would report
    success and 3xx needs a ``Location``: return a :class:`Response` for those.

    Args:
        status: the HTTP status, an ``int`` (or ``http.HTTPStatus``) in 400..599.
        message: the plain-text body; defaults to the reason phrase.

    Raises:
        TypeError: ``status`` is not an int.
        ValueError: ``status`` is outside 400..599 (raised here, at the bug).

    If ``status`` is changed to an invalid value afterwards, :func:`handle_stream`
    answers 500 instead and logs one line.
    """

    def __init__(self, status: int, message: str | None = None) -> None:
        problem = _error_status_problem(status)
        if problem is TypeError:
            raise TypeError(f"HTTPError status must be an int, got {type(status).__name__}")
        if problem is ValueError:
            raise ValueError(
                f"HTTPError status must be a final error status, 4xx or 5xx (400..599), "
                f"got {status}"
            )
        status = int(status)
        message = _reason(status) if message is None else message
        super().__init__(message)
        self.status = status
        self.message = message


@attrs.define(slots=True)
class Response:
    """A complete response (unary handlers return one).

    Attributes:
        status: the status code (200..599).
        headers: response headers (a mapping or pairs of str/bytes).
        body: the body, or an async iterable of chunks streamed as produced.
        trailers: trailing headers, sent after the body.
    """

    status: int = 200
    headers: Headers = attrs.field(factory=list, converter=to_headers)
    body: bytes | AsyncIterable[bytes] = b""
    trailers: Headers | None = attrs.field(default=None, converter=_optional_headers)

    @classmethod
    def text(cls, status: int, text: str, headers: HeadersLike | None = None) -> Response:
        """A ``text/plain; charset=utf-8`` response."""
        hdrs = [(b"content-type", b"text/plain; charset=utf-8"), *to_headers(headers)]
        return cls(status, hdrs, text.encode())


class ResponseWriter:
    """An incremental response returned by :meth:`Request.respond`."""

    __slots__ = ("_stream",)

    def __init__(self, stream: Stream) -> None:
        self._stream = stream

    async def write(self, chunk: bytes) -> None:
        """Send a body chunk (waits for flow-control credit)."""
        if chunk:
            await self._stream.send_data(chunk)

    async def send_trailers(self, trailers: HeadersLike) -> None:
        """Send trailers; this ends the response."""
        await self._stream.send_trailers(to_headers(trailers))

    async def end(self) -> None:
        """End the response (no-op if already ended)."""
        if not self._stream.local_ended:
            await self._stream.end()


class Request:
    """An incoming request: method, path, headers, and a body to read.

    Attributes:
        method: e.g. ``"GET"``.
        path: the path without the query string.
        query: the raw query string (``""`` if none).
        scheme: the ``:scheme`` pseudo-header (``""`` if absent).
        authority: the ``:authority`` pseudo-header (``""`` if absent).
        headers: the regular (non-pseudo) headers.
        path_params: values captured by the :class:`Router` (``{n}`` segments).
        stream: the underlying stream (for forwarding).
    """

    __slots__ = (
        "_timeout",
        "authority",
        "headers",
        "method",
        "path",
        "path_params",
        "query",
        "scheme",
        "stream",
    )

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.method = self.scheme = self.authority = ""
        raw_path = b""
        regular: Headers = []
        #: Every mux-timeout or grpc-timeout field, in order (see :func:`_deadline_of`).
        self._timeout: list[tuple[bytes, bytes]] | None = None
        for name, value in stream.headers or ():
            if name in _TIMEOUT_HEADERS:
                if self._timeout is None:
                    self._timeout = []
                self._timeout.append((name, value))
            if name == b":method":
                self.method = value.decode("latin-1")
            elif name == b":path":
                raw_path = value
            elif name == b":scheme":
                self.scheme = value.decode("latin-1")
            elif name == b":authority":
                self.authority = value.decode("latin-1")
            elif not name.startswith(b":"):
                regular.append((name, value))
        path, _, query = raw_path.decode("latin-1").partition("?")
        self.path = path
        self.query = query
        self.headers = regular
        self.path_params: dict[str, str] = {}

    def header(self, name: str, default: str | None = None) -> str | None:
        """The first value of header ``name`` (case-insensitive), decoded latin-1."""
        key = name.lower().encode("latin-1")
        for hname, value in self.headers:
            if hname == key:
                return value.decode("latin-1")
        return default

    @property
    def client(self) -> tuple[str, int] | None:
        """The client ``(host, port)``: the PROXY protocol source, else the socket peer."""
        return self.stream.client_address

    @property
    def trailers(self) -> Headers | None:
        """The request trailers, once the body has been read to the end."""
        return self.stream.trailers

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self.stream.__aiter__()

    async def body(self, max_size: int = DEFAULT_MAX_BODY) -> bytes:
        """Read the whole body.

        Raises:
            HTTPError: 413 when it exceeds ``max_size`` bytes.
        """
        parts: list[bytes] = []
        size = 0
        async for chunk in self.stream:
            size += len(chunk)
            if size > max_size:
                raise HTTPError(413, f"request body exceeds {max_size} bytes")
            parts.append(chunk)
        return b"".join(parts)

    async def respond(
        self, status: int = 200, headers: HeadersLike | None = None
    ) -> ResponseWriter:
        """Send the response headers now and return a writer for the body."""
        await self.stream.send_headers(_status_headers(status, to_headers(headers)))
        return ResponseWriter(self.stream)


_TIMEOUT_HEADERS = frozenset({b"mux-timeout", b"grpc-timeout"})
_STATUS_FIELDS = {code: (b":status", str(code).encode()) for code in range(100, 600)}


#: ``[second, formatted]``: the ``date`` value changes once a second, so it is formatted once.
_DATE_CACHE: list[Any] = [0, b""]


def http_date() -> bytes:
    """The current time as an HTTP ``date`` value (RFC 9110 §5.6.7 IMF-fixdate)."""
    now = int(time.time())
    if now != _DATE_CACHE[0]:
        _DATE_CACHE[:] = [now, email.utils.formatdate(now, usegmt=True).encode("ascii")]
    value: bytes = _DATE_CACHE[1]
    return value


def _status_headers(status: int, headers: Headers) -> Headers:
    """The response head: ``:status``, the handler's headers, and ``date`` (RFC 9110
    §6.6.1: an origin server with a clock sends it) unless the handler set one."""
    field = _STATUS_FIELDS.get(status)
    if field is None:
        raise ValueError(f"status must be in 100..599, got {status}")
    for name, _ in headers:
        if name == b"date":
            return [field, *headers]
    return [field, *headers, (b"date", http_date())]


async def send_response(stream: Stream, response: Response) -> None:
    """Write a complete :class:`Response` on ``stream``."""
    headers = _status_headers(response.status, response.headers)
    body = response.body
    trailers = response.trailers
    if isinstance(body, bytes | bytearray | memoryview):
        if not body and trailers is None:
            await stream.send_headers(headers, end_stream=True)
            return
        await stream.send_headers(headers)
        if body:
            await stream.send_data(bytes(body), end_stream=trailers is None)
    else:
        await stream.send_headers(headers)
        async for chunk in body:
            if chunk:
                await stream.send_data(chunk)
        if trailers is None:
            await stream.end()
    if trailers is not None:
        await stream.send_trailers(trailers)


def _deadline_of(request: Request) -> float:
    """The deadline the ``mux-timeout`` / ``grpc-timeout`` fields ask for.

    Spec 5.7 (revision 1.1): every such field must be valid, and the smallest
    deadline applies, so every hop picks the same one whatever the field order.
    """
    assert request._timeout is not None
    return min(_one_deadline(name, value) for name, value in request._timeout)


def _one_deadline(name: bytes, value: bytes) -> float:
    """The deadline one ``mux-timeout`` or ``grpc-timeout`` field asks for."""
    if name == b"mux-timeout":
        # Length first: int() refuses more than 4300 digits (a ValueError, not a 400).
        if not (value.isdigit() and value.isascii() and len(value) <= _MAX_TIMEOUT_DIGITS):
            shown = value[:20] + (b"..." if len(value) > 20 else b"")
            raise HTTPError(400, f"invalid mux-timeout {shown!r}: 1 to 10 digits of milliseconds")
        return trio.current_time() + min(int(value), MAX_TIMEOUT_MS) / 1000
    try:
        seconds = grpcwire.parse_grpc_timeout(value)
    except ValueError as exc:
        raise HTTPError(400, str(exc)) from None
    return trio.current_time() + min(seconds, MAX_TIMEOUT_MS / 1000)


async def handle_stream(handler: Handler, stream: Stream) -> None:
    """Run ``handler`` for one request stream; map its failures to responses.

    A deadline costs a cancel scope only for requests that carry one.
    """
    try:
        request = Request(stream)
        if request._timeout is None:
            await _finish(stream, await handler(request))
            return
        with trio.move_on_at(_deadline_of(request)) as scope:
            result = await handler(request)
            await _finish(stream, result)
        if scope.cancelled_caught:
            await _fail(stream, 504, "deadline exceeded", ErrorCode.CANCEL)
    except (StreamError, ConnectionClosed, trio.TooSlowError):
        raise
    except HTTPError as exc:
        await _fail_http_error(stream, exc)
    except Exception:
        logger.exception("handler failed on stream %d", stream.stream_id)
        await _fail(stream, 500, "internal server error", ErrorCode.INTERNAL_ERROR)


async def _fail_http_error(stream: Stream, exc: HTTPError) -> None:
    """Answer ``exc``; a status made invalid after construction becomes a 500."""
    if _error_status_problem(exc.status) is None:
        from mux.wording import quote_reprs  # bytes reprs never reach a response body

        await _fail(stream, exc.status, quote_reprs(str(exc.message)), ErrorCode.INTERNAL_ERROR)
        return
    shown = repr(exc.status)[:20]
    logger.error(
        "handler on stream %d raised HTTPError with invalid status %s (not 400..599): answered 500",
        stream.stream_id,
        shown,
    )
    message = f"internal server error: invalid HTTPError status {shown}"
    await _fail(stream, 500, message, ErrorCode.INTERNAL_ERROR)


async def _finish(stream: Stream, result: Response | None) -> None:
    if result is not None:
        if stream.headers_sent:
            logger.error(
                "handler on stream %d returned a Response after respond()", stream.stream_id
            )
            stream.reset(ErrorCode.INTERNAL_ERROR)
            return
        await send_response(stream, result)
    elif not stream.headers_sent:
        await _fail(stream, 500, "handler returned no response", ErrorCode.INTERNAL_ERROR)
    elif not stream.local_ended:
        await stream.end()


async def _fail(stream: Stream, status: int, message: str, code: ErrorCode) -> None:
    """Answer ``status`` if headers are not out yet, else reset with ``code``
    (gRPC: trailers-only, or status trailers after the response headers)."""
    if stream.is_done:
        return
    if grpcwire.is_grpc(stream.headers):
        grpc_status = grpcwire.status_for_http(status)
        if not stream.headers_sent:
            await stream.send_headers(grpcwire.trailers_only(grpc_status, message), end_stream=True)
        elif not stream.local_ended:
            await stream.send_trailers(grpcwire.status_trailers(grpc_status, message))
        return
    if stream.headers_sent:
        stream.reset(code)
        return
    await send_response(stream, Response.text(status, message + "\n"))


def stream_handler(handler: Handler) -> Callable[[Stream], Awaitable[None]]:
    """Adapt a request handler to the driver's per-stream callback."""

    return functools.partial(handle_stream, handler)


@attrs.frozen
class _Route:
    segments: tuple[str, ...]
    handler: Handler
    methods: frozenset[str] | None

    def match(self, parts: list[str]) -> dict[str, str] | None:
        if len(parts) != len(self.segments):
            return None
        params: dict[str, str] = {}
        for pattern, part in zip(self.segments, parts, strict=True):
            if pattern.startswith("{") and pattern.endswith("}"):
                params[pattern[1:-1]] = part
            elif pattern != part:
                return None
        return params


class Router:
    """Dispatch by path (``/bytes/{n}`` captures one segment) and method."""

    def __init__(self) -> None:
        self._routes: list[_Route] = []
        # Parameter-free paths no earlier route can capture: found by one lookup.
        self._static: dict[str, _Route] = {}

    def add(self, pattern: str, handler: Handler, methods: Iterable[str] | None = None) -> None:
        """Route ``pattern`` to ``handler`` (optionally only for ``methods``)."""
        allowed = frozenset(m.upper() for m in methods) if methods is not None else None
        route = _Route(tuple(pattern.strip("/").split("/")), handler, allowed)
        path = "/".join(route.segments)
        if "{" not in path and not any(r.match(list(route.segments)) for r in self._routes):
            self._static[path] = route
        self._routes.append(route)

    def route(self, pattern: str, methods: Iterable[str] | None = None) -> Callable[[Any], Any]:
        """Decorator form of :meth:`add`."""

        def register(handler: Handler) -> Handler:
            self.add(pattern, handler, methods)
            return handler

        return register

    async def __call__(self, request: Request) -> Response | None:
        path = request.path.strip("/")
        route = self._static.get(path)
        if route is not None and (route.methods is None or request.method in route.methods):
            return await route.handler(request)
        parts = path.split("/")
        allowed: set[str] = set()
        for route in self._routes:
            params = route.match(parts)
            if params is None:
                continue
            if route.methods is not None and request.method not in route.methods:
                allowed |= route.methods
                continue
            request.path_params = params
            return await route.handler(request)
        if allowed:  # RFC 9110 §15.5.6: a 405 lists the methods the resource supports
            return Response.text(
                405,
                f"method {request.method} not allowed on {request.path}\n",
                {"allow": ", ".join(sorted(allowed))},
            )
        return Response.text(404, f"not found: {request.path}\n")
