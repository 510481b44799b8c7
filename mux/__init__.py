"""mux: a Trio-based connection-reuse multiplexing gateway (HTTP/2 and mux/msgpack).

Public names are re-exported here. Importing :mod:`mux` stays cheap and
trio-free (the sans-IO cores under :mod:`mux.core` must not pull trio in), so
the trio-based names (server, driver, handler API) are loaded lazily on first
attribute access.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mux.errors import (
    ConnectionClosed,
    ErrorCode,
    LocalProtocolError,
    MuxError,
    ProtocolError,
    RemoteProtocolError,
    StreamError,
    StreamRefused,
    StreamReset,
)

if TYPE_CHECKING:
    from mux.config import ConnectionTimeouts, ServerConfig
    from mux.driver.connection import ConnectionDriver
    from mux.driver.stream import Stream
    from mux.server.app import Request, Response, ResponseWriter, Router
    from mux.server.server import Server, serve

__version__ = "0.1.0"

_LAZY = {
    "ConnectionTimeouts": "mux.config",
    "ServerConfig": "mux.config",
    "ConnectionDriver": "mux.driver.connection",
    "Stream": "mux.driver.stream",
    "Request": "mux.server.app",
    "Response": "mux.server.app",
    "ResponseWriter": "mux.server.app",
    "Router": "mux.server.app",
    "Server": "mux.server.server",
    "serve": "mux.server.server",
}

__all__ = [
    "ConnectionClosed",
    "ConnectionDriver",
    "ConnectionTimeouts",
    "ErrorCode",
    "LocalProtocolError",
    "MuxError",
    "ProtocolError",
    "RemoteProtocolError",
    "Request",
    "Response",
    "ResponseWriter",
    "Router",
    "Server",
    "ServerConfig",
    "Stream",
    "StreamError",
    "StreamRefused",
    "StreamReset",
    "__version__",
    "serve",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mux' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
