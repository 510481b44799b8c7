"""Blocking API for scripts and notebooks, on top of the Trio client.

Theory of operation
-------------------
:class:`SyncClient` starts one daemon thread running ``trio.run``; inside it a
:func:`mux_client.connect` client lives until :meth:`SyncClient.close`. Calls
from any other thread are forwarded with :func:`trio.from_thread.run` (they
block the calling thread, never the event loop), so many threads may call
concurrently and all share the pooled connections. ``close`` sets a Trio event
in the loop, waits for the thread to end (the client closes its connections
with GOAWAY on the way out) and is idempotent. Calling from inside a Trio task
is refused: use the async API there.

Streaming calls (:meth:`SyncClient.stream`, :meth:`SyncClient.open_call`)
return a :class:`SyncCall`. A Trio call's deadline and reset-on-exit live in
cancel scopes that must be entered and left by one task, so each SyncCall gets
its own task in the loop (started in the client's nursery) that opens the
call and then runs, one at a time, the operations the calling thread sends it
through a memory channel; each result (or exception) comes back through a
one-slot queue. When the call ends (its block exits, or the deadline expires
and the task's cancel scope fires) the task closes its inbox, so a later
operation raises the call's own error (``DeadlineExceeded``, ``CallReset``...)
instead of blocking.
"""

from __future__ import annotations

import functools
import queue
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, TypeVar

import outcome
import trio

from mux.core.events import Headers
from mux_client.calls import Call, Response
from mux_client.client import Client, HeadersArg, connect
from mux_client.errors import ClientClosedError
from mux_client.headers import HeaderMap

_T = TypeVar("_T")


class SyncClient:
    """A blocking client for ``target``; keyword options are those of :func:`connect`.

    Use as a context manager, or call :meth:`close` when done.
    """

    def __init__(self, target: str, **options: Any) -> None:
        self._target = target
        self._options = options
        self._ready = threading.Event()
        self._client: Client | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop: trio.Event | None = None
        self._nursery: trio.Nursery | None = None
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name=f"mux-client {target}", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._failure is not None:
            self._thread.join()
            raise self._failure

    def _main(self) -> None:
        try:
            trio.run(self._serve)
        except BaseException as exc:
            self._failure = exc
        finally:
            self._client = None
            self._ready.set()

    async def _serve(self) -> None:
        # The nursery holds the streaming calls' tasks (SyncCall).
        async with connect(self._target, **self._options) as client, trio.open_nursery() as nursery:
            self._client = client
            self._nursery = nursery
            self._token = trio.lowlevel.current_trio_token()
            self._stop = trio.Event()
            self._ready.set()
            await self._stop.wait()
            nursery.cancel_scope.cancel()

    def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._client is None or self._token is None:
            raise ClientClosedError()
        try:
            return trio.from_thread.run(fn, *args, trio_token=self._token)
        except trio.RunFinishedError:
            raise ClientClosedError() from None

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        headers: HeadersArg | None = None,
        timeout: float | None = None,
    ) -> Response:
        """Blocking unary call; see :meth:`mux_client.Client.request`."""
        client = self._client
        if client is None:
            raise ClientClosedError()
        call = functools.partial(
            client.request, method, path, body=body, headers=headers, timeout=timeout
        )
        response: Response = self._run(call)
        return response

    def stream(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        headers: HeadersArg | None = None,
        timeout: float | None = None,
    ) -> SyncCall:
        """Server streaming, blocking: ``with client.stream("GET", "/stream/3") as call:``
        then ``for chunk in call``; see :meth:`mux_client.Client.stream`."""
        return SyncCall(
            self, lambda c: c.stream(method, path, body=body, headers=headers, timeout=timeout)
        )

    def open_call(
        self,
        method: str,
        path: str,
        *,
        headers: HeadersArg | None = None,
        timeout: float | None = None,
    ) -> SyncCall:
        """Client or bidirectional streaming, blocking: ``with client.open_call(...) as
        call:`` then ``call.send(...)``, ``call.end()``, ``for chunk in call``; see
        :meth:`mux_client.Client.open_call`."""
        return SyncCall(self, lambda c: c.open_call(method, path, headers=headers, timeout=timeout))

    def close(self) -> None:
        """Close the connections and stop the background thread (idempotent)."""
        stop, token = self._stop, self._token
        if stop is not None and token is not None and self._thread.is_alive():
            try:
                trio.from_thread.run_sync(stop.set, trio_token=token)
            except trio.RunFinishedError:
                pass
        self._thread.join()
        self._client = None

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


#: One operation for a SyncCall's task (None: close the call) and where its outcome goes.
_Op = tuple[Callable[[Call], Awaitable[Any]] | None, "queue.Queue[outcome.Outcome[Any]]"]


class SyncCall:
    """A streaming call of a :class:`SyncClient`, used as a context manager.

    ``with client.stream("GET", "/stream/3") as call:`` returns once the
    response headers arrived; ``for chunk in call`` reads the body. With
    :meth:`SyncClient.open_call`, :meth:`send` and :meth:`end` write the
    request body. Leaving the block resets the stream unless the exchange
    finished (see :meth:`mux_client.Client.stream`).
    """

    def __init__(
        self, client: SyncClient, opener: Callable[[Client], AbstractAsyncContextManager[Call]]
    ) -> None:
        self._client = client
        self._opener = opener
        self._call: Call | None = None
        self._inbox: trio.MemorySendChannel[_Op] | None = None
        self._failure: BaseException | None = None
        self._closed = False

    # -- the task in the Trio loop --------------------------------------------------------

    async def _own(
        self, inbox: trio.MemoryReceiveChannel[_Op], task_status: trio.TaskStatus[Call]
    ) -> None:
        client = self._client._client
        if client is None:
            raise ClientClosedError()
        waiting: queue.Queue[outcome.Outcome[Any]] | None = None
        started = False
        result: outcome.Outcome[Any] = outcome.Value(None)
        try:
            async with self._opener(client) as call:
                task_status.started(call)
                started = True
                async for operation, reply in inbox:
                    waiting = reply
                    if operation is None:
                        break
                    value = await operation(call)
                    waiting = None
                    reply.put(outcome.Value(value))
        except Exception as exc:
            if not started:
                self._settle(inbox, waiting, outcome.Error(exc))
                raise  # nursery.start hands it to the opening thread
            result = outcome.Error(exc)
        except BaseException:
            self._settle(inbox, waiting, outcome.Error(ClientClosedError()))
            raise
        self._settle(inbox, waiting, result)

    def _settle(
        self,
        inbox: trio.MemoryReceiveChannel[_Op],
        waiting: queue.Queue[outcome.Outcome[Any]] | None,
        result: outcome.Outcome[Any],
    ) -> None:
        """Answer the operation in flight and any queued one; close the inbox."""
        if isinstance(result, outcome.Error):
            self._failure = result.error
        if waiting is not None:
            waiting.put(result)
        error = self._failure or ClientClosedError("the call is closed")
        while True:
            try:
                _, reply = inbox.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                break
            reply.put(outcome.Error(error))
        inbox.close()

    # -- the calling thread ---------------------------------------------------------------

    def _do(self, operation: Callable[[Call], Awaitable[_T]] | None) -> _T:
        token, inbox = self._client._token, self._inbox
        if inbox is None or token is None or self._closed:
            raise self._failure or ClientClosedError("the call is closed")
        reply: queue.Queue[outcome.Outcome[Any]] = queue.Queue(maxsize=1)
        try:
            trio.from_thread.run_sync(inbox.send_nowait, (operation, reply), trio_token=token)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise self._failure or ClientClosedError("the call is closed") from None
        except trio.RunFinishedError:
            raise ClientClosedError() from None
        value: _T = reply.get().unwrap()
        return value

    def __enter__(self) -> SyncCall:
        nursery, token = self._client._nursery, self._client._token
        if nursery is None or token is None or self._client._client is None:
            raise ClientClosedError()
        inbox, receive = trio.open_memory_channel[_Op](float("inf"))
        try:
            self._call = trio.from_thread.run(nursery.start, self._own, receive, trio_token=token)
        except trio.RunFinishedError:
            raise ClientClosedError() from None
        self._inbox = inbox
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
            return
        try:
            self.close()
        except Exception:
            pass  # the block's own exception is the one to see

    def close(self) -> None:
        """End the call (resetting the stream unless it finished); idempotent.

        Raises:
            CallError: the call failed (for instance its deadline expired).
        """
        if self._closed or self._inbox is None:
            return
        try:
            self._do(None)
        finally:
            self._closed = True

    @property
    def _open(self) -> Call:
        if self._call is None:
            raise RuntimeError("use the call as a context manager: `with client.stream(...)`")
        return self._call

    @property
    def status(self) -> int:
        """The response status code (0 until the response headers arrived)."""
        return self._open.status

    @property
    def headers(self) -> HeaderMap:
        """The response headers, a case-insensitive multi-mapping."""
        return self._open.headers

    @property
    def trailers(self) -> HeaderMap:
        """The response trailers (empty until the response ended)."""
        return self._open.trailers

    def response(self) -> tuple[int, HeaderMap]:
        """Wait for the response headers; return ``(status, headers)``."""
        return self._do(Call.response)

    def receive(self) -> bytes:
        """The next chunk of the response body; ``b""`` once it ended."""
        return self._do(Call.receive)

    def read(self) -> bytes:
        """The rest of the response body."""
        return self._do(Call.read)

    def send(self, data: bytes, *, end: bool = False) -> None:
        """Send a chunk of the request body (``end=True`` also finishes it)."""
        self._do(functools.partial(_send, data=data, end=end))

    def end(self, trailers: Headers | None = None) -> None:
        """Finish the request body, optionally with trailers."""
        self._do(functools.partial(_end, trailers=trailers))

    def __iter__(self) -> Iterator[bytes]:
        """The response body chunk by chunk (``for chunk in call``)."""
        while chunk := self.receive():
            yield chunk


async def _send(call: Call, *, data: bytes, end: bool) -> None:
    await call.send(data, end=end)


async def _end(call: Call, *, trailers: Headers | None) -> None:
    await call.end(trailers)


__all__ = ["SyncCall", "SyncClient"]
