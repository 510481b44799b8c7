"""Serve gRPC methods through a mux handler (raw bytes in, raw bytes out).

Theory of operation
-------------------
:class:`GrpcService` is an ordinary mux handler (``await service(request)``),
so it can be mounted on a :class:`~mux.server.app.Router` or served directly,
over any framing (in practice gRPC clients speak HTTP/2). It routes on the
``:path`` ``/package.Service/Method`` and speaks the gRPC wire format of
:mod:`mux.server.grpcwire`; serialization is the caller's (protobuf's
``SerializeToString``/``FromString`` or anything else), so no protoc step is
needed here.

* unary: ``async def method(message: bytes) -> bytes``;
* bidi streaming: ``async def method(messages: AsyncIterator[bytes]) ->
  AsyncIterator[bytes]`` (an async generator); requests are read as the
  generator asks for them, responses sent as it yields them, so both
  directions flow at once and backpressure is end to end.

Raise :class:`GrpcError` for a status other than OK. Deadlines
(``grpc-timeout``) are applied by :func:`mux.server.app.handle_stream`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable

import attrs

from mux.server.app import Request, Response
from mux.server.grpcwire import (
    CONTENT_TYPE,
    DEFAULT_MAX_MESSAGE,
    GrpcWireError,
    MessageDecoder,
    StatusCode,
    encode_message,
    is_grpc,
    status_trailers,
    trailers_only,
)

UnaryMethod = Callable[[bytes], Awaitable[bytes]]
BidiMethod = Callable[[AsyncIterator[bytes]], AsyncIterator[bytes]]


class GrpcError(Exception):
    """Raise from a method to end the call with ``code`` and ``message``."""

    def __init__(self, code: StatusCode | int, message: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@attrs.frozen
class _Method:
    unary: UnaryMethod | None = None
    bidi: BidiMethod | None = None


async def read_messages(
    request: Request, max_message: int = DEFAULT_MAX_MESSAGE
) -> AsyncGenerator[bytes, None]:
    """Yield the request's length-prefixed messages as they arrive.

    Raises:
        GrpcError: malformed framing, oversized message, truncated body.
    """
    decoder = MessageDecoder(max_message)
    try:
        async for chunk in request:
            for message in decoder.feed(chunk):
                yield message
    except GrpcWireError as exc:
        raise GrpcError(exc.code, exc.message) from None
    if decoder.pending:
        raise GrpcError(StatusCode.INTERNAL, f"body ends inside a message ({decoder.pending} B)")


class GrpcService:
    """A handler serving registered gRPC methods.

    Args:
        max_message: largest request message accepted (bytes).
    """

    def __init__(self, max_message: int = DEFAULT_MAX_MESSAGE) -> None:
        self._methods: dict[str, _Method] = {}
        self._max_message = max_message

    def unary(self, path: str, method: UnaryMethod) -> None:
        """Serve ``path`` (``/pkg.Service/Method``) with a unary method."""
        self._methods[path] = _Method(unary=method)

    def bidi(self, path: str, method: BidiMethod) -> None:
        """Serve ``path`` with a bidirectional-streaming method."""
        self._methods[path] = _Method(bidi=method)

    async def __call__(self, request: Request) -> Response | None:
        if request.method != "POST" or not is_grpc(request.stream.headers):
            return Response.text(415, "gRPC needs POST with content-type application/grpc")
        method = self._methods.get(request.path)
        if method is None:
            return _status_only(StatusCode.UNIMPLEMENTED, f"unknown method {request.path}")
        messages = read_messages(request, self._max_message)
        try:
            if method.unary is not None:
                return await self._unary(method.unary, messages)
            assert method.bidi is not None
            await self._bidi(request, method.bidi, messages)
        except GrpcError as exc:
            await _error(request, exc)
        finally:
            await messages.aclose()
        return None

    async def _unary(self, method: UnaryMethod, messages: AsyncIterator[bytes]) -> Response:
        # Stop at a second message: a peer streaming into a unary method must
        # not make us buffer its whole body.
        received: list[bytes] = []
        async for message in messages:
            if received:
                raise GrpcError(StatusCode.INTERNAL, "unary call got more than one message")
            received.append(message)
        if not received:
            raise GrpcError(StatusCode.INTERNAL, "unary call got 0 messages")
        reply = await method(received[0])
        return Response(
            200,
            [(b"content-type", CONTENT_TYPE)],
            encode_message(reply),
            trailers=status_trailers(StatusCode.OK),
        )

    async def _bidi(
        self, request: Request, method: BidiMethod, messages: AsyncIterator[bytes]
    ) -> None:
        writer = None
        replies = method(messages)
        try:
            async for reply in replies:
                if writer is None:
                    writer = await request.respond(200, [(b"content-type", CONTENT_TYPE)])
                await writer.write(encode_message(reply))
        finally:
            aclose = getattr(replies, "aclose", None)
            if aclose is not None:
                await aclose()
        if writer is None:
            await request.stream.send_headers(trailers_only(StatusCode.OK), end_stream=True)
        else:
            await writer.send_trailers(status_trailers(StatusCode.OK))


def _status_only(code: StatusCode, message: str) -> Response:
    headers = trailers_only(code, message)
    return Response(200, [h for h in headers if h[0] != b":status"])


async def _error(request: Request, exc: GrpcError) -> None:
    stream = request.stream
    if stream.local_ended:
        return
    if stream.headers_sent:
        await stream.send_trailers(status_trailers(exc.code, exc.message))
    else:
        await stream.send_headers(trailers_only(exc.code, exc.message), end_stream=True)
