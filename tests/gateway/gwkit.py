"""Helpers of the gateway tests: upstreams and gateways started in a nursery.

(A module, not a conftest.py: this directory has no ``__init__.py``, like the
other rootdir-style test directories, and a second ``conftest`` module there
would shadow ``tests/conftest.py`` for ``from conftest import ...``.)
"""

from __future__ import annotations

import functools

import trio

from mux.gateway.gateway import Gateway, run_gateway
from mux.gateway.model import (
    ClusterConfig,
    Endpoint,
    GatewayConfig,
    ListenerConfig,
    RouteConfig,
    UpstreamProtocol,
)
from mux.server.server import Server
from tests.interop import peerkit

#: Upstream protocols the gateway forwards to in these tests.
UPSTREAMS = [UpstreamProtocol.MUX, UpstreamProtocol.H2, UpstreamProtocol.HTTP1]


def single_cluster(
    protocol: UpstreamProtocol, *ports: int, route: RouteConfig | None = None, **cluster: object
) -> GatewayConfig:
    """One listener on a free port, a catch-all route to one cluster ``up``."""
    endpoints = tuple(Endpoint("127.0.0.1", port) for port in ports)
    return GatewayConfig(
        (ListenerConfig("127.0.0.1", 0),),
        (route or RouteConfig("up", path_prefix="/"),),
        {"up": ClusterConfig("up", endpoints, protocol, **cluster)},  # type: ignore[arg-type]
    )


async def start_gateway(nursery: trio.Nursery, config: GatewayConfig) -> Gateway:
    """Run ``config`` in ``nursery`` (cancelled when the test ends)."""
    gateway: Gateway = await nursery.start(
        functools.partial(run_gateway, config, drain_timeout=5.0)
    )
    return gateway


def port_of(gateway: Gateway) -> int:
    return gateway.servers[0].port


async def start_upstream(nursery: trio.Nursery) -> Server:
    """The demo services plus gRPC test methods (tests/interop/peerkit.py) on a free port."""
    return await peerkit.start(nursery)
