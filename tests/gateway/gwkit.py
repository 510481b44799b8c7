"""Helpers of the gateway tests: upstreams and gateways started in a nursery.

(A module, not a conftest.py: this directory has no ``__init__.py``, like the
other rootdir-style test directories, and a second ``conftest`` module there
would shadow ``tests/conftest.py`` for ``from conftest import ...``.)
"""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

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

ROOT = Path(__file__).resolve().parents[2]

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


async def start_embedded_gateway(tmp_path: Path) -> tuple[trio.Process, str, str]:
    """`mux gateway` with no config (what `make run` runs) as a subprocess on free ports:
    (process, listen address, admin address). The caller kills it."""
    log = open(tmp_path / "gateway.log", "wb")  # noqa: ASYNC230, SIM115 (the process keeps it)
    process = await trio.lowlevel.open_process(
        [
            sys.executable,
            "-m",
            "mux",
            "gateway",
            "--listen",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=log,
    )
    assert process.stdout is not None
    out = b""
    with trio.fail_after(20):
        while b"admin on" not in out or not out.endswith(b"\n"):
            data = await process.stdout.receive_some(4096)
            assert data, (tmp_path / "gateway.log").read_text()
            out += data
    lines = out.decode().splitlines()
    listen = next(li for li in lines if "listening on" in li).split("listening on ")[1].strip()
    admin = next(li for li in lines if "admin on" in li).split("admin on ")[1].strip()
    return process, listen, admin
