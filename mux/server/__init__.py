"""The mux server: handler API (:mod:`mux.server.app`), listener and connection
lifecycle (:mod:`mux.server.server`) and the demo services (:mod:`mux.server.demo`)."""

from __future__ import annotations

from mux.server.app import HTTPError, Request, Response, ResponseWriter, Router
from mux.server.server import Server, serve

__all__ = ["HTTPError", "Request", "Response", "ResponseWriter", "Router", "Server", "serve"]
