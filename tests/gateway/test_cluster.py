"""The cluster API against real ``mux serve`` upstream processes, every upstream protocol."""

from __future__ import annotations

import pytest
import trio
from upstream_procs import Upstream, upstreams

from mux.gateway.cluster import Cluster, UpstreamRequest, open_clusters
from mux.gateway.errors import FailureKind, GatewayError
from mux.gateway.model import ClusterConfig, Endpoint, UpstreamProtocol

PROTOCOLS = list(UpstreamProtocol)


def config(ports: list[int], protocol: UpstreamProtocol, **kw: object) -> ClusterConfig:
    endpoints = tuple(Endpoint("127.0.0.1", p) for p in ports)
    return ClusterConfig(name="c", endpoints=endpoints, protocol=protocol, **kw)  # type: ignore[arg-type]


def cfg(ups: list[Upstream], protocol: UpstreamProtocol, **kw: object) -> ClusterConfig:
    return config([u.port for u in ups], protocol, **kw)


def echo(body: bytes) -> UpstreamRequest:
    return UpstreamRequest("POST", "/echo", None, [], end_stream=False, body=body)


async def unary(cluster: Cluster, request: UpstreamRequest) -> tuple[str, int, bytes, int]:
    async with cluster.open_call(request) as up:
        status, _ = await up.call.response()
        return up.endpoint, status, await up.call.read(), up.attempts


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=lambda p: p.value)
async def test_round_robin_over_pooled_connections(protocol: UpstreamProtocol) -> None:
    async with upstreams(2) as ups, open_clusters({"c": cfg(ups, protocol)}) as cl:
        cluster = cl["c"]
        results = [await unary(cluster, echo(b"m%d" % i)) for i in range(6)]
        assert [r[2] for r in results] == [b"m%d" % i for i in range(6)]
        assert all(r[1] == 200 and r[3] == 1 for r in results)
        order = [r[0] for r in results]
        assert order[0] != order[1] and order[::2] == [order[0]] * 3  # alternating
        # Sequential calls reuse one connection per endpoint (keep-alive / multiplexing).
        assert [len(ep.channel.connections) for ep in cluster.endpoints] == [1, 1]
        # A streamed request body: the forwarder sends it through the call.
        async with cluster.open_call(UpstreamRequest("POST", "/echo", None, [], False)) as up:
            await up.call.send(b"abc")
            await up.call.send(b"def")
            await up.call.end()
            assert (await up.call.response())[0] == 200
            assert await up.call.read() == b"abcdef"


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=lambda p: p.value)
async def test_failover_when_an_endpoint_is_killed(protocol: UpstreamProtocol) -> None:
    async with upstreams(2) as ups, open_clusters({"c": cfg(ups, protocol)}) as cl:
        cluster = cl["c"]
        for i in range(4):
            await unary(cluster, echo(b"warm%d" % i))
        ups[0].kill()
        # Let the pool see the EOF: a request written in the same instant the
        # process dies is "maybe processed" (not retried), by design.
        await trio.sleep(0.2)
        with trio.fail_after(10):
            results = [await unary(cluster, echo(b"x%d" % i)) for i in range(6)]
        assert {r[0] for r in results} == {ups[1].address}
        assert [r[2] for r in results] == [b"x%d" % i for i in range(6)]


async def test_no_endpoint_reachable_is_connect_failed() -> None:
    async with upstreams(1) as ups:
        port = ups[0].port
        ups[0].kill()
        async with open_clusters({"c": config([port], UpstreamProtocol.H2)}) as cl:
            with pytest.raises(GatewayError) as info:
                await unary(cl["c"], echo(b"x"))
    assert info.value.kind is FailureKind.CONNECT_FAILED
    assert info.value.processed is False
