"""Wiring: clusters, listeners, the forwarder, the admin listener, the embedded demo.

Theory of operation
-------------------
:func:`run_gateway` runs one validated :class:`~mux.gateway.model.GatewayConfig`:

1. ``open_clusters`` starts every cluster (pools, health checks) in its own
   nursery (a *generation*, :mod:`mux.ops.reload`: a reload starts a new one
   and retires the old one once its requests finished);
2. one :class:`~mux.gateway.forward.Forwarder` (route table + clusters),
   behind the reload :class:`~mux.ops.reload.Switch`, is the
   handler of a ``mux.server.Server`` per listener (each serving mux, HTTP/2
   and, unless disabled, HTTP/1.1 on its port; TLS with ALPN when configured);
3. the admin listener (:mod:`mux.admin.app`, shared with ``mux serve``), when
   configured, is one more ``Server`` on its own address; with it (or an
   access log) the listeners report to :class:`~mux.ops.metrics.Ops` and
   the clusters are scraped by :class:`~mux.ops.upstream.UpstreamCollector`.

``task_status.started`` receives the :class:`Gateway` (its bound addresses,
:meth:`Gateway.shutdown`). Shutdown drains like ``mux serve``: every listener
stops accepting and sends a graceful GOAWAY (new streams are refused with a
retryable code), in-flight forwarded streams finish within ``drain_timeout``,
and only then do the clusters close their upstream connections.

The embedded default (:func:`run_embedded`) starts three demo upstreams in
the same process (``mux.server.demo`` served by mux's own ``Server`` on free
loopback ports), one cluster per upstream protocol in front of them (mux,
h2c and HTTP/1.1 keep-alive), and routes by the ``x-upstream`` request header
(``mux``, ``h2`` or ``http1``; without it, the mux cluster), so ``/echo``,
``/bytes/{n}``, ... work through the gateway as they do on ``mux serve``.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio

from mux.admin.app import AdminSources, check_admin_address, config_json, start_admin
from mux.admin.registry import cluster_upstreams
from mux.config import ServerConfig
from mux.gateway.cluster import Cluster
from mux.gateway.config import ConfigError, parse_address
from mux.gateway.forward import Forwarder
from mux.gateway.model import (
    ClusterConfig,
    Endpoint,
    GatewayConfig,
    HeaderMatch,
    ListenerConfig,
    RouteConfig,
    UpstreamProtocol,
)
from mux.ops.accesslog import AccessLog
from mux.ops.metrics import Ops, flush_periodically
from mux.ops.reload import Reloader, Switch, run_generation
from mux.ops.upstream import UpstreamCollector
from mux.server.server import Server

logger = logging.getLogger("mux.gateway")

#: Where the embedded default listens.
DEFAULT_LISTEN = ("127.0.0.1", 8080)
DEFAULT_ADMIN = "127.0.0.1:9901"
#: The request header that picks a demo upstream in the embedded default.
DEMO_HEADER = "x-upstream"


def _address(server: Server) -> str:
    for listener in server.listeners:
        if isinstance(listener, trio.SocketListener):
            host, port = listener.socket.getsockname()[:2]
            return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return "?"


@attrs.define
class Gateway:
    """A running gateway."""

    config: GatewayConfig
    switch: Switch
    servers: list[Server] = attrs.field(factory=list)
    admin: Server | None = None
    ops: Ops | None = None
    reloader: Reloader | None = None

    @property
    def forwarder(self) -> Forwarder:
        """The current configuration's forwarder."""
        return self.switch.current.forwarder

    @property
    def clusters(self) -> Mapping[str, Cluster]:
        """The current configuration's clusters."""
        return self.switch.current.clusters

    @property
    def addresses(self) -> list[str]:
        """``host:port`` each listener is bound to."""
        return [_address(s) for s in self.servers]

    @property
    def admin_address(self) -> str | None:
        return None if self.admin is None else _address(self.admin)

    def shutdown(self) -> None:
        """Start draining (see the module docstring)."""
        for server in self.servers:
            server.shutdown()
        if self.admin is not None:
            self.admin.shutdown()

    @property
    def is_shutting_down(self) -> bool:
        return any(s.is_shutting_down for s in self.servers)

    def readiness_problems(self) -> list[str]:
        """Why the gateway is not ready (empty: ready)."""
        problems = []
        if len(self.servers) < len(self.config.listeners) or self.is_shutting_down:
            problems.append("listeners not serving")
        for name, cluster in self.clusters.items():
            if not cluster.has_healthy_endpoint():
                problems.append(f"cluster {name} has no healthy endpoint")
        return problems

    def admin_sources(self) -> AdminSources:
        """What the admin listener reports (see :mod:`mux.admin.app`)."""
        return AdminSources(
            kind="gateway",
            servers=lambda: self.servers,
            stats=self.stats,
            ready=self.readiness_problems,
            metrics=None if self.ops is None else self.ops.render_metrics,
            config=lambda: config_json(self.config),
            reload=None if self.reloader is None else self.reloader.reload,
            upstreams=cluster_upstreams(lambda: self.clusters),
        )

    def stats(self) -> dict[str, Any]:
        result = {
            "pid": os.getpid(),  # which worker answered, with --workers
            "requests": self.forwarder.requests,
            "failures": dict(self.forwarder.failures),
            "connections": sum(s.connection_count for s in self.servers),
            "clusters": {name: c.snapshot() for name, c in self.clusters.items()},
            "generations": len(self.switch.open_generations()),
        }
        if self.reloader is not None:
            result["reloads"] = {"applied": self.reloader.applied, "refused": self.reloader.refused}
        if self.ops is not None:
            result.update(self.ops.stats())
        return result


def server_config(
    listener: ListenerConfig, drain_timeout: float, *, reuse_port: bool = False
) -> ServerConfig:
    """The ``mux.server`` config of one listener (``reuse_port``: see :mod:`mux.workers`).

    Raises:
        ConfigError: the listener asks for something this build cannot do.
    """
    extra: dict[str, Any] = {}
    if listener.proxy_protocol:
        if "proxy_protocol" not in attrs.fields_dict(ServerConfig):
            raise ConfigError(
                [f"listener {listener.host}:{listener.port}: proxy_protocol is not supported yet"]
            )
        extra["proxy_protocol"] = True
    return ServerConfig(
        host=listener.host,
        port=listener.port,
        drain_timeout=drain_timeout,
        tls_cert=listener.tls.cert_file if listener.tls else None,
        tls_key=listener.tls.key_file if listener.tls else None,
        http1="http1" in listener.protocols,
        reuse_port=reuse_port,
        **extra,
    )


def admin_address(config: GatewayConfig) -> tuple[str, int] | None:
    """Where the admin listener goes (None: nowhere). Raises ConfigError when it
    would share a public listener's address."""
    if config.admin is None:
        return None
    address = parse_address(config.admin)
    assert not isinstance(address, str)  # validated with the config
    public = [(lst.host, lst.port) for lst in config.listeners]
    problem = check_admin_address(address, public)
    if problem is not None:
        raise ConfigError([f"{config.source or 'config'}: admin: {problem}"])
    return address


async def _start_server(nursery: trio.Nursery, server: Server) -> None:
    """Start ``server``; a failure to listen names the address."""
    try:
        await nursery.start(server.serve)
    except OSError as exc:
        where = f"{server.config.host}:{server.config.port}"
        raise OSError(exc.errno, f"{where}: {exc.strerror or exc}") from exc


async def run_gateway(
    config: GatewayConfig,
    *,
    drain_timeout: float = 30.0,
    access_log: AccessLog | None = None,
    reload: Callable[[], GatewayConfig] | None = None,
    reuse_port: bool = False,
    task_status: trio.TaskStatus[Gateway] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``config`` until :meth:`Gateway.shutdown` has drained it.

    ``access_log``: where finished requests are logged; ``reload``: reads the
    configuration again for :meth:`Gateway.reloader` (SIGHUP, ``POST /reload``).
    ``reuse_port``: every listener (admin included) sets SO_REUSEPORT, so that
    the worker processes of ``--workers`` share them (:mod:`mux.workers`).
    """
    configs = [
        server_config(listener, drain_timeout, reuse_port=reuse_port)
        for listener in config.listeners
    ]
    address = admin_address(config)
    async with trio.open_nursery() as generations:
        switch = Switch(await generations.start(run_generation, config))
        gateway = Gateway(config, switch)
        if address is not None or access_log is not None:
            gateway.ops = Ops(
                lambda: gateway.servers,
                access_log=access_log,
                collectors=[UpstreamCollector(lambda: gateway.clusters)],
            )
        if reload is not None:
            gateway.reloader = Reloader(
                generations, switch, reload, functools.partial(setattr, gateway, "config")
            )
        # The outer nursery holds what runs only while the servers do (a worker's
        # metrics flusher): it is cancelled once every server has drained.
        async with trio.open_nursery() as alongside:
            async with trio.open_nursery() as nursery:
                for server_conf in configs:
                    server = Server(switch, server_conf)
                    server.ops = gateway.ops
                    await _start_server(nursery, server)
                    gateway.servers.append(server)
                if address is not None:
                    gateway.admin = await start_admin(
                        nursery, gateway.admin_sources(), address, reuse_port=reuse_port
                    )
                    if reuse_port and gateway.ops is not None:  # a worker: see mux.ops.metrics
                        alongside.start_soon(flush_periodically, gateway.ops)
                task_status.started(gateway)
            alongside.cancel_scope.cancel()  # flush_periodically flushes once more on its way out
        logger.info("gateway drained; closing upstream connections")
        switch.retire_all()


# ----------------------------------------------------------- embedded default


@asynccontextmanager
async def demo_upstreams(count: int = 3) -> AsyncIterator[list[int]]:
    """``count`` demo servers (``mux.server.demo``) on free loopback ports."""
    from mux.server.demo import app

    async with trio.open_nursery() as nursery:
        servers = []
        for _ in range(count):
            config = ServerConfig(host="127.0.0.1", port=0, drain_timeout=1.0)
            servers.append(await nursery.start(Server(app, config).serve))
        try:
            yield [s.port for s in servers]
        finally:
            for server in servers:
                server.shutdown()


def embedded_config(
    ports: list[int],
    *,
    listen: tuple[str, int] = DEFAULT_LISTEN,
    admin: str | None = DEFAULT_ADMIN,
) -> GatewayConfig:
    """The embedded default's config in front of demo upstreams on ``ports``."""
    kinds = [
        ("mux", UpstreamProtocol.MUX),
        ("h2", UpstreamProtocol.H2),
        ("http1", UpstreamProtocol.HTTP1),
    ]
    clusters: dict[str, ClusterConfig] = {}
    routes = []
    for (name, protocol), port in zip(kinds, ports, strict=True):
        cluster = f"demo-{name}"
        clusters[cluster] = ClusterConfig(cluster, (Endpoint("127.0.0.1", port),), protocol)
        routes.append(
            RouteConfig(cluster, headers=(HeaderMatch(DEMO_HEADER, name),), name=f"to-{name}")
        )
    routes.append(RouteConfig("demo-mux", path_prefix="/", name="default"))
    return GatewayConfig(
        (ListenerConfig(listen[0], listen[1]),), tuple(routes), clusters, admin, "embedded default"
    )


async def run_embedded(
    *,
    listen: tuple[str, int] = DEFAULT_LISTEN,
    admin: str | None = DEFAULT_ADMIN,
    drain_timeout: float = 30.0,
    access_log: AccessLog | None = None,
    reuse_port: bool = False,
    task_status: trio.TaskStatus[Gateway] = trio.TASK_STATUS_IGNORED,
) -> None:
    """The embedded default: demo upstreams and a gateway in front of them."""
    async with demo_upstreams() as ports:
        config = embedded_config(ports, listen=listen, admin=admin)
        async with trio.open_nursery() as nursery:
            gateway: Gateway = await nursery.start(
                functools.partial(
                    run_gateway,
                    config,
                    drain_timeout=drain_timeout,
                    access_log=access_log,
                    reuse_port=reuse_port,
                )
            )
            task_status.started(gateway)


__all__ = [
    "DEMO_HEADER",
    "Gateway",
    "demo_upstreams",
    "embedded_config",
    "run_embedded",
    "run_gateway",
    "server_config",
]
