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
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

import trio

from mux_client.calls import Response
from mux_client.client import Client, HeadersArg, connect
from mux_client.errors import ClientClosedError

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
        async with connect(self._target, **self._options) as client:
            self._client = client
            self._token = trio.lowlevel.current_trio_token()
            self._stop = trio.Event()
            self._ready.set()
            await self._stop.wait()

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
