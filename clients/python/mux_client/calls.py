"""Calls (one request/response exchange on one stream) and responses.

Theory of operation
-------------------
A :class:`Call` wraps one driver stream (``mux.driver.stream``) and records how
far the exchange got (:class:`~mux_client.retry.Phase`), so that any failure is
translated, in :func:`translate_failure`, into a
:class:`~mux_client.errors.CallError` saying whether the server may have
processed the request. The driver's errors are translated at this one boundary.

Resource handling:
    :meth:`Call.abort` resets the stream with RST_STREAM(CANCEL) unless the
    exchange finished cleanly in both directions; the client calls it from a
    ``finally`` (it is synchronous), so deadline expiry, Trio cancellation and exceptions in
    user code all reset exactly this stream and nothing else.
"""

from __future__ import annotations

import json as _json
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import attrs
import trio

from mux.core.events import Headers
from mux.driver.stream import Stream
from mux.errors import ConnectionClosed, ErrorCode, StreamError, code_from_int
from mux_client.errors import CallError, CallReset, ConnectionLost, Processed, StatusError
from mux_client.headers import HeaderMap, header_map
from mux_client.messages import DEFAULT_MAX_MESSAGE, iter_messages, pack
from mux_client.retry import Phase, classify_connection_loss, classify_reset

_E = TypeVar("_E", bound=BaseException)


def _header(headers: Headers, name: bytes) -> bytes | None:
    for key, value in headers:
        if key == name:
            return value
    return None


def split_status(headers: Headers) -> tuple[int, Headers]:
    """Return the ``:status`` as an int and the headers without pseudo-headers."""
    raw = _header(headers, b":status")
    try:
        status = int(raw or b"")
    except ValueError:
        status = 0
    return status, [(k, v) for k, v in headers if not k.startswith(b":")]


@attrs.frozen
class Response:
    """A complete response to a unary call.

    Attributes:
        status: the HTTP status code (``int``).
        headers: the response headers, a case-insensitive multi-mapping
            (:class:`~mux_client.headers.HeaderMap`): ``headers["content-type"]``
            is a ``str``, ``headers[b"content-type"]`` the wire ``bytes``.
        body: the whole body (``bytes``); see also :attr:`text` and :meth:`json`.
        trailers: the trailers, a :class:`~mux_client.headers.HeaderMap` (empty if none).
        call: ``"METHOD /path"``, used in error messages.
    """

    status: int
    headers: HeaderMap = attrs.field(converter=header_map)
    body: bytes
    trailers: HeaderMap = attrs.field(factory=HeaderMap, converter=header_map)
    call: str = ""

    @property
    def is_success(self) -> bool:
        """True for a 2xx status."""
        return 200 <= self.status < 300

    @property
    def encoding(self) -> str:
        """The ``charset`` of ``content-type``, else ``utf-8``."""
        content_type: str = self.headers.get("content-type", "")
        for param in content_type.split(";")[1:]:
            name, _, value = param.strip().partition("=")
            if name.lower() == "charset" and value:
                return value.strip('"')
        return "utf-8"

    @property
    def text(self) -> str:
        """The body decoded with :attr:`encoding` (undecodable bytes replaced)."""
        try:
            return self.body.decode(self.encoding, errors="replace")
        except LookupError:  # an unknown charset
            return self.body.decode("utf-8", errors="replace")

    def json(self, **options: Any) -> Any:
        """The body parsed as JSON (``options`` go to :func:`json.loads`).

        Raises:
            json.JSONDecodeError: the body is not JSON.
        """
        return _json.loads(self.body, **options)

    def header(self, name: str | bytes) -> bytes | None:
        """The first header (or trailer) called ``name`` (case-insensitive), or None."""
        key = (name.encode("latin-1") if isinstance(name, str) else name).lower()
        found = self.headers.get_list(key) or self.trailers.get_list(key)
        return found[0] if found else None

    def raise_for_status(self) -> Response:
        """Raise :class:`~mux_client.errors.StatusError` unless the status is 2xx."""
        if not self.is_success:
            raise StatusError(self.call, self.status, self.body)
        return self


def _find_cause(exc: BaseException, kind: type[_E]) -> _E | None:
    seen: BaseException | None = exc
    for _ in range(8):  # bounded walk down __cause__/__context__
        if seen is None:
            return None
        if isinstance(seen, kind):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def translate_failure(
    exc: BaseException, *, phase: Phase, stream_id: int | None, what: str
) -> CallError | None:
    """Map a driver/transport exception to a :class:`CallError` (None: not ours).

    ``last_stream_id`` from a GOAWAY and the reset code decide ``processed``.
    """
    if isinstance(exc, CallError):
        return exc
    reset = _find_cause(exc, StreamError)
    if reset is not None:
        code = code_from_int(int(reset.code))
        processed = classify_reset(code, phase)
        return CallReset(reset.stream_id, code, remote=reset.remote, processed=processed)
    closed = _find_cause(exc, ConnectionClosed)
    if closed is not None:
        processed = classify_connection_loss(phase, stream_id, closed.last_stream_id)
        return ConnectionLost(
            f"{what}: connection closed ({closed})",
            processed=processed,
            code=closed.code,
            last_stream_id=closed.last_stream_id,
        )
    if isinstance(exc, (trio.BrokenResourceError, trio.ClosedResourceError, OSError)):
        processed = classify_connection_loss(phase, stream_id, None)
        return ConnectionLost(f"{what}: connection lost ({exc!r})", processed=processed)
    return None


#: The headers of a call whose response has not arrived (shared, never changed).
_NO_HEADERS: HeaderMap = HeaderMap([])


class Call:
    """One exchange on one stream: send the request, receive the response.

    Obtained from :meth:`mux_client.Client.stream` or
    :meth:`mux_client.Client.open_call`. Not safe for concurrent use by two tasks
    in the same direction (one sender and one receiver task is fine).
    """

    __slots__ = (
        "_aborted",
        "_headers",
        "_phase",
        "_request_ended",
        "_response_ended",
        "_status",
        "_stream",
        "_what",
    )

    def __init__(self, stream: Stream, *, what: str, request_ended: bool) -> None:
        self._stream = stream
        self._what = what
        self._request_ended = request_ended
        self._response_ended = False
        self._aborted = False
        self._phase = Phase.SENT
        self._status = 0
        self._headers = _NO_HEADERS

    @property
    def phase(self) -> Phase:
        """How far the exchange got: ``SENT`` until the response headers
        arrived, then ``ANSWERED`` (decides whether a failure may have been processed)."""
        return self._phase

    @property
    def status(self) -> int:
        """The response status code; 0 until the response headers arrived
        (``async with client.stream(...)`` returns once they did)."""
        return self._status

    @property
    def headers(self) -> HeaderMap:
        """The response headers without pseudo-headers, a case-insensitive
        multi-mapping (``call.headers["content-type"]``); empty until they arrived."""
        return self._headers

    @property
    def stream_id(self) -> int:
        """The id of the stream carrying this call."""
        return self._stream.stream_id

    @property
    def trailers(self) -> HeaderMap:
        """The response trailers, a :class:`~mux_client.headers.HeaderMap`
        (empty until the response ended, or if there were none)."""
        return HeaderMap(list(self._stream.trailers or []))

    @property
    def is_finished(self) -> bool:
        """True when both directions ended cleanly (no reset needed)."""
        return self._request_ended and self._response_ended

    async def send(self, data: bytes, *, end: bool = False) -> None:
        """Send a chunk of the request body (waits for flow-control credit).

        ``end=True`` also finishes the request body.
        """
        try:
            await self._stream.send_data(data, end_stream=end)
        except Exception as exc:
            self._raise_translated(exc)
            raise
        if end:
            self._request_ended = True

    async def end(self, trailers: Headers | None = None) -> None:
        """Finish the request body, optionally with trailers."""
        if self._request_ended:
            return
        try:
            if trailers:
                await self._stream.send_trailers(trailers)
            else:
                await self._stream.end()
        except Exception as exc:
            self._raise_translated(exc)
            raise
        self._request_ended = True

    async def response(self) -> tuple[int, HeaderMap]:
        """Wait for the response headers; return ``(status, headers)``."""
        if self._phase is not Phase.ANSWERED:
            try:
                raw = await self._stream.receive_headers()
            except Exception as exc:
                self._raise_translated(exc)
                raise
            status, headers = split_status(raw)
            self._status, self._headers = status, HeaderMap(headers)
            self._phase = Phase.ANSWERED
        return self._status, self._headers

    async def receive(self) -> bytes:
        """The next chunk of the response body; ``b""`` once it ended."""
        if self._phase is not Phase.ANSWERED:
            await self.response()
        if self._response_ended:
            await trio.lowlevel.checkpoint_if_cancelled()
            return b""
        try:
            chunk = await self._stream.receive_data()
        except Exception as exc:
            self._raise_translated(exc)
            raise
        if not chunk:
            self._response_ended = True
        return chunk

    async def read(self) -> bytes:
        """The rest of the response body."""
        first = await self.receive()
        if not first:
            return first
        parts = [first]
        while chunk := await self.receive():
            parts.append(chunk)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def __aiter__(self) -> Call:
        return self

    async def __anext__(self) -> bytes:
        """The next body chunk (``async for chunk in call``), no generator in between."""
        if self._phase is Phase.ANSWERED and not self._response_ended:
            # The hot path of a body being read: straight to the stream.
            try:
                chunk = await self._stream.receive_data()
            except Exception as exc:
                self._raise_translated(exc)
                raise
            if chunk:
                return chunk
            self._response_ended = True
            raise StopAsyncIteration
        chunk = await self.receive()
        if not chunk:
            raise StopAsyncIteration
        return chunk

    async def send_msg(self, obj: Any, *, end: bool = False) -> None:
        """Send one msgpack-encoded value as (part of) the request body."""
        await self.send(pack(obj), end=end)

    def messages(self, *, max_size: int = DEFAULT_MAX_MESSAGE) -> AsyncIterator[Any]:
        """Iterate over the msgpack values of the response body.

        ``max_size`` bounds one message (and what an incomplete one buffers);
        see :mod:`mux_client.messages`.
        """
        return iter_messages(self._chunks(), what=self._what, max_size=max_size)

    async def _chunks(self) -> AsyncIterator[bytes]:
        while chunk := await self.receive():
            yield chunk

    def to_response(self, body: bytes) -> Response:
        """Build the :class:`Response` of a finished call."""
        return Response(self._status, self._headers, body, self.trailers, self._what)

    def abort(self) -> None:
        """Reset the stream with CANCEL unless it finished cleanly (idempotent).

        Synchronous (the driver queues RST_STREAM and wakes its writer), so it
        is safe in ``finally`` blocks of cancelled tasks.
        """
        if self._aborted or (self._request_ended and self._response_ended):
            return
        self._aborted = True
        self._stream.reset(ErrorCode.CANCEL)

    def _raise_translated(self, exc: Exception) -> None:
        """Raise the :class:`CallError` for ``exc``; return if it is not ours."""
        error = translate_failure(
            exc, phase=self._phase, stream_id=self._stream.stream_id, what=self._what
        )
        if error is None or error is exc:
            return
        if isinstance(error, CallReset):
            self._aborted = True  # already reset: nothing to send
        raise error from exc


__all__ = ["Call", "HeaderMap", "Processed", "Response", "split_status", "translate_failure"]
