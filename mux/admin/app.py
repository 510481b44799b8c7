"""The admin listener shared by ``mux serve`` and ``mux gateway``.

Theory of operation
-------------------
:func:`admin_router` builds a :class:`~mux.server.app.Router` from an
:class:`AdminSources` (the providers of one process: what to report, how to
tell readiness, the metrics, the config, reload); :func:`start_admin` serves
it with mux's own ``mux.server.Server`` on its own address (loopback unless
told otherwise; refused when it is the public listener's address, so the
admin API is never reachable through the public port). Routes:

* ``GET /healthz``: 200 ``ok`` while the process serves;
* ``GET /readyz``: 200 ``ready`` when :attr:`AdminSources.ready` names no
  problem (``mux serve``: listening and not draining; the gateway: also at
  least one healthy endpoint per cluster), else 503 naming each problem;
* ``GET /metrics``: Prometheus text format (:mod:`mux.ops.metrics`), when
  the process has metrics;
* ``GET /stats``: JSON counters (connections, streams, requests, clusters);
* ``GET /config``: the running configuration as JSON (the gateway);
* ``POST /reload``: re-read the configuration (the gateway): 200 with the
  outcome, or 400 with every error (the old configuration keeps serving).

**Extension point.** Further routes (the live stream table: ``/streams``,
``/connections``, the page at ``/``) are installed by *extensions*: a callable
``install(router, sources) -> None`` that adds routes reading
``sources.servers()`` (every public :class:`~mux.server.server.Server` of the
process) and whatever else it needs. :func:`admin_router` calls every
extension of its ``extra`` argument, after the built-in routes;
:data:`EXTENSIONS` is the list serve and the gateway pass by default, so a
module adds its routes to both with one line here::

    EXTENSIONS: list[Extension] = [streams.install]

The admin handlers only read state the process keeps anyway (no I/O of
their own besides answering).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import trio

from mux.admin import streams
from mux.admin.registry import Upstreams
from mux.config import ServerConfig
from mux.server.app import Request, Response, Router
from mux.server.server import Server

if TYPE_CHECKING:
    from mux.gateway.model import GatewayConfig


@attrs.frozen
class AdminSources:
    """What one process's admin API reports (each a provider called per request).

    Attributes:
        kind: ``"serve"`` or ``"gateway"``.
        servers: the public servers (their connections, drivers, streams).
        stats: the JSON ``/stats`` answers.
        ready: why the process is not ready (empty: ready).
        metrics: the ``/metrics`` body and content type (None: no metrics).
        config: the running configuration as JSON-able data (None: no ``/config``).
        reload: re-read the configuration; returns the errors (empty: applied).
        upstreams: the gateway's upstream connections, ``(cluster, driver)``
            (listed by ``/streams`` and ``/connections``; None: none).
    """

    kind: str
    servers: Callable[[], Sequence[Server]]
    stats: Callable[[], dict[str, Any]]
    ready: Callable[[], list[str]]
    metrics: Callable[[], tuple[bytes, str]] | None = None
    config: Callable[[], dict[str, Any]] | None = None
    reload: Callable[[], Awaitable[list[str]]] | None = None
    upstreams: Upstreams | None = None


#: An extension: adds routes to the admin router (see the module docstring).
Extension = Callable[[Router, AdminSources], None]
#: The extensions ``mux serve`` and ``mux gateway`` install.
EXTENSIONS: list[Extension] = [streams.install]


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


def json_response(body: object, status: int = 200) -> Response:
    """``body`` as indented JSON."""
    data = json.dumps(body, indent=2, sort_keys=True, default=str).encode() + b"\n"
    return Response(status, [(b"content-type", b"application/json")], data)


def admin_router(sources: AdminSources, extra: Sequence[Extension] = ()) -> Router:
    """The admin routes of ``sources`` plus those of every extension in ``extra``."""
    app = Router()

    @app.route("/healthz")
    async def healthz(request: Request) -> Response:
        return Response.text(200, "ok\n")

    @app.route("/readyz")
    async def readyz(request: Request) -> Response:
        problems = sources.ready()
        if problems:
            return Response.text(503, "not ready: " + "; ".join(problems) + "\n")
        return Response.text(200, "ready\n")

    @app.route("/stats")
    async def stats(request: Request) -> Response:
        return json_response(sources.stats())

    metrics = sources.metrics
    if metrics is not None:

        @app.route("/metrics", methods=["GET", "HEAD"])
        async def metrics_route(request: Request) -> Response:
            assert metrics is not None
            body, content_type = metrics()
            return Response(200, [(b"content-type", content_type.encode())], body)

    config = sources.config
    if config is not None:

        @app.route("/config")
        async def config_route(request: Request) -> Response:
            assert config is not None
            return json_response(config())

    reload = sources.reload
    if reload is not None:

        @app.route("/reload", methods=["POST"])
        async def reload_route(request: Request) -> Response:
            assert reload is not None
            errors = await reload()
            if errors:
                return json_response({"reloaded": False, "errors": errors}, 400)
            return json_response({"reloaded": True, "errors": []})

    for install in extra:
        install(app, sources)
    return app


def check_admin_address(admin: tuple[str, int], public: Sequence[tuple[str, int]]) -> str | None:
    """Why ``admin`` may not be used next to the ``public`` listeners (None: it may)."""
    wildcard = {"", "0.0.0.0", "::"}
    for host, port in public:
        if (
            port != 0
            and admin[1] == port
            and (host == admin[0] or host in wildcard or admin[0] in wildcard)
        ):
            return (
                f"the admin listener {admin[0]}:{admin[1]} would share the public "
                f"listener {host}:{port}; give it its own port"
            )
    return None


async def start_admin(
    nursery: trio.Nursery,
    sources: AdminSources,
    address: tuple[str, int],
    extra: Sequence[Extension] | None = None,
    *,
    reuse_port: bool = False,
) -> Server:
    """Serve the admin API of ``sources`` on ``address`` (a Server of its own)."""
    router = admin_router(sources, EXTENSIONS if extra is None else extra)
    config = ServerConfig(
        host=address[0], port=address[1], drain_timeout=1.0, reuse_port=reuse_port
    )
    server = Server(router, config)
    try:
        await nursery.start(server.serve)
    except OSError as exc:
        where = f"{address[0]}:{address[1]}"
        raise OSError(exc.errno, f"admin {where}: {exc.strerror or exc}") from exc
    return server


__all__ = [
    "EXTENSIONS",
    "AdminSources",
    "Extension",
    "admin_router",
    "check_admin_address",
    "config_json",
    "json_response",
    "start_admin",
]
