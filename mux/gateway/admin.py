"""The gateway's minimal admin listener: liveness, readiness, stats and config as JSON.

Theory of operation
-------------------
:func:`admin_app` builds a :class:`~mux.server.app.Router` served by its own
``mux.server.Server`` (any protocol, usually on 127.0.0.1:9901):

* ``GET /healthz``: 200 ``ok`` while the process serves;
* ``GET /readyz``: 200 when every listener is listening and every cluster has
  at least one healthy endpoint, else 503 naming what is not ready;
* ``GET /stats``: JSON: the forwarder's counters and every cluster's
  ``snapshot()``;
* ``GET /config``: the running :class:`~mux.gateway.model.GatewayConfig` as JSON.

It only reads state the gateway keeps anyway (no I/O of its own). The full
admin API (draining, ejection control, metrics) is a later issue.
"""

from __future__ import annotations

import enum
import json
from typing import TYPE_CHECKING, Any

import attrs

from mux.gateway.model import GatewayConfig
from mux.server.app import Request, Response, Router

if TYPE_CHECKING:
    from mux.gateway.gateway import Gateway


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if attrs.has(type(value)):
        return {f.name: _plain(getattr(value, f.name)) for f in attrs.fields(type(value))}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def config_json(config: GatewayConfig) -> dict[str, Any]:
    """The configuration as JSON-able data (enums by value)."""
    result: dict[str, Any] = _plain(config)
    return result


def _json(body: object, status: int = 200) -> Response:
    data = json.dumps(body, indent=2, sort_keys=True, default=str).encode() + b"\n"
    return Response(status, [(b"content-type", b"application/json")], data)


def admin_app(gateway: Gateway) -> Router:
    """The admin routes for ``gateway``."""
    app = Router()

    @app.route("/healthz")
    async def healthz(request: Request) -> Response:
        return Response.text(200, "ok\n")

    @app.route("/readyz")
    async def readyz(request: Request) -> Response:
        problems = gateway.readiness_problems()
        if problems:
            return Response.text(503, "not ready: " + "; ".join(problems) + "\n")
        return Response.text(200, "ready\n")

    @app.route("/stats")
    async def stats(request: Request) -> Response:
        return _json(gateway.stats())

    @app.route("/config")
    async def config(request: Request) -> Response:
        return _json(config_json(gateway.config))

    return app
