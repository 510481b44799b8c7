"""Forwarding semantics over real sockets: headers, deadlines, cancellation, errors, drain."""

from __future__ import annotations

import json

import attrs
import httpx
import pytest
import trio
from gwkit import UPSTREAMS, port_of, single_cluster, start_gateway, start_upstream

import mux_client
from mux.config import ServerConfig
from mux.errors import ErrorCode
from mux.gateway.model import RouteConfig, Timeouts, UpstreamProtocol
from mux.server.app import Request, Response, Router
from mux.server.server import Server


@pytest.fixture
async def upstream(nursery: trio.Nursery) -> Server:
    """The demo services plus the gRPC test methods (stopped with the test's nursery)."""
    return await start_upstream(nursery)


class Probe:
    """An upstream app recording what it received."""

    def __init__(self) -> None:
        self.app = Router()
        self.started = trio.Event()
        self.cancelled = trio.Event()
        self.app.route("/headers")(self.headers)
        self.app.route("/hold")(self.hold)
        self.app.route("/reset")(self.reset)

    async def headers(self, request: Request) -> Response:
        fields: dict[str, list[str]] = {}
        for name, value in request.headers:
            fields.setdefault(name.decode(), []).append(value.decode())
        fields[":authority"] = [request.authority]
        fields[":path"] = [request.path + ("?" + request.query if request.query else "")]
        return Response(200, [(b"content-type", b"application/json")], json.dumps(fields).encode())

    async def hold(self, request: Request) -> Response:
        self.started.set()
        try:
            await trio.sleep_forever()
        finally:
            self.cancelled.set()

    async def reset(self, request: Request) -> None:
        response = await request.respond(200, [(b"x-partial", b"1")])
        await response.write(b"partial")
        await trio.sleep(0.05)
        request.stream.reset(ErrorCode.INTERNAL_ERROR)


@pytest.fixture
async def probe(nursery: trio.Nursery) -> tuple[Probe, Server]:
    p = Probe()
    config = ServerConfig(host="127.0.0.1", port=0)
    server: Server = await nursery.start(Server(p.app, config).serve)
    return p, server


@pytest.mark.parametrize("protocol", UPSTREAMS)
async def test_hop_by_hop_removed_via_and_forwarded_added(
    nursery: trio.Nursery, probe: tuple[Probe, Server], protocol: UpstreamProtocol
) -> None:
    _, server = probe
    route = RouteConfig("up", path_prefix="/", host_rewrite="backend.internal")
    gateway = await start_gateway(nursery, single_cluster(protocol, server.port, route=route))
    headers = {
        "connection": "x-secret, keep-alive",
        "keep-alive": "timeout=5",
        "x-secret": "hop",
        "te": "trailers, deflate",
        "x-forwarded-for": "10.0.0.1",
        "via": "1.0 edge",
        "forwarded": "for=10.0.0.1",
        "x-end-to-end": "kept",
    }
    async with httpx.AsyncClient(http1=True, http2=False, timeout=10) as client:
        response = await client.get(
            f"http://127.0.0.1:{port_of(gateway)}/headers?q=1", headers=headers
        )
    got = response.json()
    assert response.status_code == 200
    for gone in ("connection", "keep-alive", "x-secret", "host", "transfer-encoding"):
        assert gone not in got, gone
    assert got["te"] == ["trailers"]
    assert got["x-end-to-end"] == ["kept"]
    assert got["via"] == ["1.0 edge, 1.1 mux"]
    assert got["x-forwarded-for"] == ["10.0.0.1, 127.0.0.1"]
    assert got["forwarded"][0].startswith("for=10.0.0.1, for=127.0.0.1;proto=http;host=")
    assert got[":authority"] == ["backend.internal"]
    assert got[":path"] == ["/headers?q=1"]
    # The response's via names the hop it was received over (from the upstream).
    assert response.headers["via"] == ("1.1 mux" if protocol is UpstreamProtocol.HTTP1 else "2 mux")


async def test_authority_passes_through_and_h2_via(
    nursery: trio.Nursery, probe: tuple[Probe, Server]
) -> None:
    _, server = probe
    gateway = await start_gateway(nursery, single_cluster(UpstreamProtocol.H2, server.port))
    async with mux_client.connect(f"127.0.0.1:{port_of(gateway)}", protocol="h2") as client:
        response = await client.request("GET", "/headers")
    got = json.loads(response.body)
    assert got[":authority"] == [f"127.0.0.1:{port_of(gateway)}"]
    assert got["via"] == ["2 mux"]


@pytest.mark.parametrize("protocol", UPSTREAMS)
async def test_deadline_propagates_as_time_left(
    nursery: trio.Nursery, probe: tuple[Probe, Server], protocol: UpstreamProtocol
) -> None:
    _, server = probe
    gateway = await start_gateway(nursery, single_cluster(protocol, server.port))
    async with mux_client.connect(f"127.0.0.1:{port_of(gateway)}") as client:
        response = await client.request("GET", "/headers", timeout=5.0)
        grpc = await client.request(
            "POST", "/headers", headers={"content-type": "application/grpc"}, timeout=5.0
        )
    got = json.loads(response.body)
    assert "grpc-timeout" not in got
    assert 0 < int(got["mux-timeout"][0]) <= 5000
    got = json.loads(grpc.body)
    assert "mux-timeout" not in got
    value = got["grpc-timeout"][0]
    assert value.endswith("m") and 0 < int(value[:-1]) <= 5000


async def test_client_deadline_expiry_cancels_upstream(
    nursery: trio.Nursery, probe: tuple[Probe, Server]
) -> None:
    p, server = probe
    gateway = await start_gateway(nursery, single_cluster(UpstreamProtocol.H2, server.port))
    async with mux_client.connect(f"127.0.0.1:{port_of(gateway)}") as client:
        with pytest.raises(mux_client.DeadlineExceeded):
            await client.request("GET", "/hold", timeout=0.5)
    with trio.fail_after(5):
        await p.cancelled.wait()


@pytest.mark.parametrize("downstream", ["mux", "h2"])
@pytest.mark.parametrize("protocol", UPSTREAMS)
async def test_client_cancel_resets_the_upstream_stream(
    nursery: trio.Nursery, probe: tuple[Probe, Server], downstream: str, protocol: UpstreamProtocol
) -> None:
    p, server = probe
    gateway = await start_gateway(nursery, single_cluster(protocol, server.port))
    target = f"127.0.0.1:{port_of(gateway)}"
    async with mux_client.connect(target, protocol=downstream) as client:  # type: ignore[arg-type]
        with trio.move_on_after(10) as scope:
            async with client.open_call("GET", "/hold") as call:
                await call.end()
                await p.started.wait()
                scope.cancel()
        with trio.fail_after(5):
            await p.cancelled.wait()
        # The connection still works after the reset.
        ok = await client.request("GET", "/headers")
        assert ok.status == 200


async def test_upstream_timeout_is_504_and_deadline_exceeded(
    nursery: trio.Nursery, upstream: Server
) -> None:
    config = single_cluster(UpstreamProtocol.MUX, upstream.port, timeouts=Timeouts(overall=0.3))
    gateway = await start_gateway(nursery, config)
    async with mux_client.connect(f"127.0.0.1:{port_of(gateway)}") as client:
        response = await client.request("GET", "/delay/3000")
        assert response.status == 504
        assert response.header("x-mux-failure") == b"timeout"
        grpc = await client.request(
            "POST", "/delay/3000", headers={"content-type": "application/grpc"}
        )
        assert grpc.status == 200 and grpc.header("grpc-status") == b"4"


async def test_no_route_and_connect_failure(nursery: trio.Nursery, upstream: Server) -> None:
    with trio.socket.socket() as sock:  # a port nobody listens on
        await sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    route = RouteConfig("up", path_prefix="/api/")
    gateway = await start_gateway(nursery, single_cluster(UpstreamProtocol.H2, dead, route=route))
    async with mux_client.connect(f"127.0.0.1:{port_of(gateway)}") as client:
        missing = await client.request("GET", "/elsewhere")
        assert missing.status == 404 and missing.header("x-mux-failure") == b"no_route"
        assert b"no route for /elsewhere" in missing.body
        down = await client.request("GET", "/api/x")
        assert down.status == 503 and down.header("x-mux-failure") == b"connect_failed"
        grpc = await client.request(
            "POST", "/other.Svc/M", headers={"content-type": "application/grpc"}
        )
        assert grpc.header("grpc-status") == b"12"  # UNIMPLEMENTED
        grpc = await client.request("POST", "/api/x", headers={"content-type": "application/grpc"})
        assert grpc.header("grpc-status") == b"14"  # UNAVAILABLE


@pytest.mark.parametrize("downstream", ["mux", "h2"])
async def test_upstream_reset_after_headers_resets_downstream_with_its_code(
    nursery: trio.Nursery, probe: tuple[Probe, Server], downstream: str
) -> None:
    _, server = probe
    gateway = await start_gateway(nursery, single_cluster(UpstreamProtocol.H2, server.port))
    target = f"127.0.0.1:{port_of(gateway)}"
    async with mux_client.connect(target, protocol=downstream) as client:  # type: ignore[arg-type]
        with pytest.raises(mux_client.CallReset) as info:
            async with client.stream("GET", "/reset") as call:
                assert call.status == 200 and (b"x-partial", b"1") in call.headers.raw
                await call.read()
        assert info.value.code == ErrorCode.INTERNAL_ERROR
    # The cluster saw the failure (it feeds outlier detection).
    endpoints = gateway.clusters["up"].snapshot()["endpoints"]
    assert sum(ep["failures"] for ep in endpoints) >= 1  # type: ignore[attr-defined]


async def test_drain_finishes_in_flight_and_refuses_new(
    nursery: trio.Nursery, upstream: Server
) -> None:
    gateway = await start_gateway(nursery, single_cluster(UpstreamProtocol.MUX, upstream.port))
    target = f"127.0.0.1:{port_of(gateway)}"
    results: list[int] = []
    async with mux_client.connect(target) as client:

        async def slow() -> None:
            results.append((await client.request("GET", "/delay/700")).status)

        async with trio.open_nursery() as inner:
            inner.start_soon(slow)
            await trio.sleep(0.3)
            gateway.shutdown()
            await trio.sleep(0.1)
            with pytest.raises(mux_client.CallError) as info:
                await client.request("GET", "/bytes/1", timeout=5)
            assert info.value.processed is mux_client.Processed.NOT_PROCESSED
    assert results == [200]


@pytest.mark.skipif(
    "proxy_protocol" not in attrs.fields_dict(ServerConfig),
    reason="PROXY protocol listeners are gw-proxy's (ServerConfig.proxy_protocol) and not merged",
)
async def test_proxy_protocol_source_becomes_the_forwarded_client(
    nursery: trio.Nursery, probe: tuple[Probe, Server]
) -> None:
    _, server = probe
    config = single_cluster(UpstreamProtocol.H2, server.port)
    listener = attrs.evolve(config.listeners[0], proxy_protocol=True)
    gateway = await start_gateway(nursery, attrs.evolve(config, listeners=(listener,)))
    stream = await trio.open_tcp_stream("127.0.0.1", port_of(gateway))
    async with stream:
        await stream.send_all(
            b"PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n"
            b"GET /headers HTTP/1.1\r\nhost: gw.test\r\nconnection: close\r\n\r\n"
        )
        data = b""
        with trio.fail_after(10):
            while chunk := await stream.receive_some(65536):
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    got = json.loads(body if b"transfer-encoding: chunked" not in head.lower() else _dechunk(body))
    assert got["x-forwarded-for"] == ["203.0.113.7"]
    assert got["forwarded"] == ['for=203.0.113.7;proto=http;host="gw.test"']


def _dechunk(body: bytes) -> bytes:
    out = b""
    while body:
        size, _, rest = body.partition(b"\r\n")
        n = int(size, 16)
        if n == 0:
            break
        out += rest[:n]
        body = rest[n + 2 :]
    return out
