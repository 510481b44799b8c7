"""The gateway's waiting reasons over real sockets: a stalled upstream, a full
MAX_CONCURRENT_STREAMS upstream, a client that does not read (both legs listed)."""

from __future__ import annotations

import attrs
import trio
from conftest import Harness
from waitkit import RawH2Client, get_json, start_admin, wait_for_rows

from mux.admin.registry import cluster_upstreams
from mux.config import ServerConfig
from mux.core.limits import ProtocolLimits
from mux.gateway.gateway import Gateway
from mux.gateway.model import PoolConfig, UpstreamProtocol
from mux.server.app import Request, Response, Router
from mux.server.server import Server
from tests.gateway.gwkit import port_of, single_cluster, start_gateway

HOLD = [(b":method", b"GET"), (b":path", b"/hold")]


def upstream_app() -> Router:
    router = Router()

    @router.route("/hold")
    async def hold(request: Request) -> Response:
        await trio.sleep_forever()
        raise AssertionError

    @router.route("/big")
    async def big(request: Request) -> Response:
        return Response(200, [], b"z" * 4_000_000)

    return router


async def setup(
    harness: Harness, protocol: UpstreamProtocol, max_streams: int = 100
) -> tuple[Gateway, int]:
    limits = ProtocolLimits(max_concurrent_streams=max_streams)
    upstream = await harness.server(
        upstream_app(), ServerConfig(host="127.0.0.1", port=0, limits=limits)
    )
    config = single_cluster(protocol, upstream.port)
    cluster = attrs.evolve(config.clusters["up"], pool=PoolConfig(max_connections=1))
    config = attrs.evolve(config, clusters={"up": cluster})
    gateway = await start_gateway(harness.nursery, config)
    admin: Server = await start_admin(
        harness.nursery, lambda: gateway.servers, cluster_upstreams(lambda: gateway.clusters)
    )
    return gateway, admin.port


async def test_stalled_upstream_shows_upstream(harness: Harness) -> None:
    gateway, admin = await setup(harness, UpstreamProtocol.MUX)
    client = await harness.client(port_of(gateway))
    stream = await client.open_stream(HOLD, end_stream=True)
    [row] = await wait_for_rows(admin, "upstream")
    assert row["side"] == "downstream" and row["stream_id"] == stream.stream_id
    assert row["path"] == "/hold"
    # The upstream leg: the gateway's call waits for the upstream's response.
    [leg] = await wait_for_rows(admin, "peer")
    assert leg["side"] == "upstream" and leg["where"] == "up" and leg["protocol"] == "mux"
    assert leg["method"] == "GET" and leg["path"] == "/hold"  # the request it carries


async def test_full_max_concurrent_streams_shows_stream_slot(harness: Harness) -> None:
    gateway, admin = await setup(harness, UpstreamProtocol.H2, max_streams=1)
    client = await harness.client(port_of(gateway))
    await client.open_stream(HOLD, end_stream=True)
    await wait_for_rows(admin, "upstream")
    second = await client.open_stream(HOLD, end_stream=True)
    [row] = await wait_for_rows(admin, "stream slot")
    assert row["stream_id"] == second.stream_id and row["side"] == "downstream"
    body = await get_json(admin, "/streams")
    assert body["totals"]["stream slot"] == 1 and body["totals"]["upstream"] == 1
    conns = await get_json(admin, "/connections")
    upstream = [c for c in conns["connections"] if c["side"] == "upstream"]
    assert len(upstream) == 1 and upstream[0]["streams"] == 1  # the one slot, taken


async def test_client_that_does_not_read_shows_downstream_reader(harness: Harness) -> None:
    gateway, admin = await setup(harness, UpstreamProtocol.H2)
    client = await RawH2Client.open(harness.nursery, port_of(gateway), initial_window=0)
    await client.get("/big")
    [down] = await wait_for_rows(admin, "peer stream window")
    assert down["side"] == "downstream" and down["path"] == "/big"
    # The gateway stopped taking the upstream's body: its receive buffer is full.
    [leg] = await wait_for_rows(admin, "downstream reader")
    assert leg["side"] == "upstream" and leg["protocol"] == "h2"
    assert leg["buffered"] > 0 and leg["status"] == "200"


async def test_upstream_that_never_handshakes_shows_upstream_connect(harness: Harness) -> None:
    # A listener nobody accepts on: TCP connects (the kernel's backlog), no SETTINGS ever.
    [silent] = await trio.open_tcp_listeners(0, host="127.0.0.1")
    try:
        config = single_cluster(UpstreamProtocol.H2, silent.socket.getsockname()[1])
        gateway = await start_gateway(harness.nursery, config)
        admin: Server = await start_admin(harness.nursery, lambda: gateway.servers)
        client = await harness.client(port_of(gateway))
        stream = await client.open_stream(HOLD, end_stream=True)
        [row] = await wait_for_rows(admin.port, "upstream connect")
        assert row["stream_id"] == stream.stream_id and row["path"] == "/hold"
    finally:
        await silent.aclose()
