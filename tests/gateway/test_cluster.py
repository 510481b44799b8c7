"""The cluster API against real ``mux serve`` upstream processes, every upstream protocol."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
import trio
import trustme
from upstream_procs import CountingListener, Upstream, hypercorn, upstreams

from mux.config import ServerConfig
from mux.core.limits import endpoint_limits
from mux.gateway.cluster import Cluster, UpstreamRequest, open_clusters
from mux.gateway.errors import FailureKind, GatewayError
from mux.gateway.model import ClusterConfig, Endpoint, PoolConfig, TlsUpstream, UpstreamProtocol
from mux.server import Server
from mux.server.demo import app as demo_app

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


async def in_process(
    nursery: trio.Nursery, config: ServerConfig | None = None
) -> tuple[int, CountingListener]:
    """A mux server in this process whose accepted connections are counted."""
    inner = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    listener = CountingListener(inner)
    server = Server(demo_app, config or ServerConfig(host="127.0.0.1", port=0))
    await nursery.start(server.serve, [listener])
    return int(inner.socket.getsockname()[1]), listener


@pytest.mark.parametrize("protocol", [UpstreamProtocol.H2, UpstreamProtocol.MUX], ids=str)
async def test_multiplexed_pool_opens_connections_only_when_streams_run_out(
    protocol: UpstreamProtocol, nursery: trio.Nursery
) -> None:
    limits = attrs.evolve(endpoint_limits(), max_concurrent_streams=3)
    port, listener = await in_process(nursery, ServerConfig(host="127.0.0.1", limits=limits))
    cfg = config([port], protocol, pool=PoolConfig(max_connections=8))
    async with open_clusters({"c": cfg}) as cl:
        cluster = cl["c"]
        # 9 calls at once on a cold pool: one connect for all (single flight)
        # until the server's SETTINGS say 3 streams; then just enough more.
        slow = UpstreamRequest("GET", "/delay/300", None, [], True)
        async with trio.open_nursery() as calls:
            for _ in range(9):
                calls.start_soon(unary, cluster, slow)
        assert listener.accepted == 3  # 9 calls / 3 streams per connection
        for i in range(10):
            await unary(cluster, echo(b"%d" % i))
        assert listener.accepted == 3  # reused


async def test_single_flight_connect(nursery: trio.Nursery) -> None:
    port, listener = await in_process(nursery)
    async with open_clusters({"c": config([port], UpstreamProtocol.H2)}) as cl:
        async with trio.open_nursery() as calls:
            for i in range(50):
                calls.start_soon(unary, cl["c"], echo(b"%d" % i))
        assert listener.accepted == 1


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=lambda p: p.value)
async def test_tls_upstream_with_ca_and_sni(
    protocol: UpstreamProtocol, nursery: trio.Nursery, tmp_path: Path
) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("upstream.test")
    cert_file, key_file, ca_file = tmp_path / "c.pem", tmp_path / "k.pem", tmp_path / "ca.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    server_config = ServerConfig(host="127.0.0.1", tls_cert=str(cert_file), tls_key=str(key_file))
    port, listener = await in_process(nursery, server_config)
    tls = TlsUpstream(ca_file=str(ca_file), server_name="upstream.test")
    async with open_clusters({"c": config([port], protocol, tls=tls)}) as cl:
        for i in range(3):
            assert (await unary(cl["c"], echo(b"s%d" % i)))[1:3] == (200, b"s%d" % i)
        assert cl["c"].endpoints[0].channel.protocol == protocol.value  # ALPN agreed
    assert listener.accepted == 1
    # Without the right name the certificate check fails: a clear connect error.
    wrong = TlsUpstream(ca_file=str(ca_file), server_name="other.test")
    async with open_clusters({"c": config([port], protocol, tls=wrong)}) as cl:
        with pytest.raises(GatewayError) as info:
            await unary(cl["c"], echo(b"x"))
    assert info.value.kind is FailureKind.CONNECT_FAILED
    assert "certificate" in str(info.value).lower()


async def test_http1_cluster_survives_server_keepalive_closes() -> None:
    """hypercorn drops idle keep-alive connections after 1 s; the pool's own
    idle timeout is longer: requests after the close still all succeed."""
    async with hypercorn("--keep-alive", "1") as port:
        cfg = config([port], UpstreamProtocol.HTTP1, pool=PoolConfig(idle_timeout=30.0))
        async with open_clusters({"c": cfg}) as cl:
            with trio.fail_after(20):
                while True:  # hypercorn may still be starting
                    try:
                        await unary(cl["c"], echo(b"warm"))
                        break
                    except GatewayError:
                        await trio.sleep(0.1)
                await trio.sleep(1.6)
                for i in range(5):
                    assert (await unary(cl["c"], echo(b"%d" % i)))[1:3] == (200, b"%d" % i)
