"""What the server calls per connection and per request (metrics, access log).

Theory of operation
-------------------
:class:`Observer` is the interface :class:`mux.server.server.Server` calls
when :attr:`~mux.server.server.Server.ops` is set (``None``: nothing is
called, nothing costs): once per connection when its protocol is known and
when it closes, and once per request when its handler task ends. The one
implementation is :class:`mux.ops.metrics.Ops` (counters, histograms and the
access log); the interface lives here so the server imports no metrics code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from mux.driver.connection import ConnectionDriver
    from mux.driver.stream import Stream


class Observer(Protocol):
    """The server's hooks (see the module docstring)."""

    def connection_opened(self, protocol: str) -> None: ...

    def connection_closed(self, driver: ConnectionDriver | None) -> None: ...

    def request_started(self, stream: Stream) -> None: ...

    def request_done(self, stream: Stream, started: float) -> None: ...

    def stats(self) -> dict[str, Any]: ...

    def render_metrics(self) -> tuple[bytes, str]: ...


__all__ = ["Observer"]
