"""Active health checks: the state machine, the gRPC protobuf, and real checks over sockets."""

from __future__ import annotations

import random
from concurrent import futures

import grpc
import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st
from upstream_procs import eventually, hypercorn, upstreams

from mux.gateway.cluster import open_clusters
from mux.gateway.health import (
    Checker,
    HealthState,
    decode_check_response,
    encode_check_request,
    next_wait,
)
from mux.gateway.model import (
    ClusterConfig,
    Endpoint,
    HealthCheck,
    HealthCheckKind,
    UpstreamProtocol,
)
from mux.gateway.upstream import channel_options

FAST = HealthCheck(
    interval=0.1, jitter=0.2, timeout=1.0, unhealthy_threshold=2, healthy_threshold=2
)


def test_thresholds() -> None:
    state = HealthState()
    assert state.record(False, FAST, "refused") is False and state.healthy
    assert state.record(False, FAST, "refused") is True and not state.healthy
    assert state.last_error == "refused"
    assert state.record(True, FAST) is False and not state.healthy
    assert state.record(False, FAST, "again") is False  # a failure resets the success streak
    assert [state.record(True, FAST) for _ in range(2)] == [False, True] and state.healthy


def test_jitter_bounds() -> None:
    rng = random.Random(0)
    waits = [next_wait(FAST, rng) for _ in range(1000)]
    assert 0.08 <= min(waits) < 0.085 and 0.115 < max(waits) <= 0.12


def test_protobuf_by_hand() -> None:
    assert encode_check_request("") == b""
    assert encode_check_request("pkg.Svc") == b"\x0a\x07pkg.Svc"
    assert decode_check_response(b"\x08\x01") == 1
    assert decode_check_response(b"") == 0
    # Unknown fields of every wire type are skipped.
    assert decode_check_response(b"\x12\x02hi\x19" + b"\0" * 8 + b"\x25\0\0\0\0\x08\x02") == 2
    with pytest.raises(ValueError):
        decode_check_response(b"\x08")  # truncated varint
    with pytest.raises(ValueError):
        decode_check_response(b"\x12\x05ab")  # truncated field


@given(st.text(max_size=300))
def test_service_names_round_trip_through_protobuf_length(name: str) -> None:
    raw = encode_check_request(name)
    if name:
        assert raw.endswith(name.encode()) and raw[0] == 0x0A
        # The length varint decodes to the UTF-8 length (field 2 parsing skips it whole).
        assert decode_check_response(b"\x12" + raw[1:]) == 0


def cluster(port: int, protocol: UpstreamProtocol, check: HealthCheck) -> ClusterConfig:
    return ClusterConfig(
        name="c", endpoints=(Endpoint("127.0.0.1", port),), protocol=protocol, health_check=check
    )


async def checker_for(config: ClusterConfig, nursery: trio.Nursery) -> Checker:
    assert config.health_check is not None
    target = str(config.endpoints[0])
    return Checker(target, config.health_check, channel_options(config), nursery)


@pytest.mark.parametrize("protocol", list(UpstreamProtocol), ids=lambda p: p.value)
async def test_tcp_and_http_checks_against_mux_serve(
    protocol: UpstreamProtocol, nursery: trio.Nursery
) -> None:
    async with upstreams(1) as ups:
        port = ups[0].port
        tcp = await checker_for(cluster(port, protocol, FAST), nursery)
        http_ok = HealthCheck(kind=HealthCheckKind.HTTP, path="/echo", timeout=2.0)
        http_404 = HealthCheck(kind=HealthCheckKind.HTTP, path="/missing", timeout=2.0)
        good = await checker_for(cluster(port, protocol, http_ok), nursery)
        bad = await checker_for(cluster(port, protocol, http_404), nursery)
        assert await tcp.check() is None
        assert await good.check() is None
        assert await good.check() is None  # the check connection is reused
        assert "answered 404" in (await bad.check() or "")
        ups[0].kill()
        await trio.sleep(0.1)
        assert await tcp.check() is not None
        assert await good.check() is not None
        for c in (tcp, good, bad):
            await c.aclose()


async def test_http_check_against_hypercorn(nursery: trio.Nursery) -> None:
    async with hypercorn() as port:
        check = HealthCheck(kind=HealthCheckKind.HTTP, path="/healthz", timeout=5.0)
        checker = await checker_for(cluster(port, UpstreamProtocol.HTTP1, check), nursery)
        with trio.fail_after(20):
            while await checker.check() is not None:  # noqa: ASYNC110 (may still be starting)
                await trio.sleep(0.1)
        await checker.aclose()


class _Health:
    """A grpcio server answering grpc.health.v1.Health/Check (raw bytes, no protoc)."""

    def __init__(self) -> None:
        self.status = 1  # SERVING
        self.services: list[bytes] = []

    def check(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        self.services.append(request)
        if self.status < 0:
            context.abort(grpc.StatusCode.NOT_FOUND, "unknown service")
        return b"\x08" + bytes([self.status])


async def test_grpc_check_against_grpcio(nursery: trio.Nursery) -> None:
    health = _Health()
    handler = grpc.method_handlers_generic_handler(
        "grpc.health.v1.Health",
        {"Check": grpc.unary_unary_rpc_method_handler(health.check)},
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        check = HealthCheck(kind=HealthCheckKind.GRPC, service="pkg.Users", timeout=5.0)
        checker = await checker_for(cluster(port, UpstreamProtocol.H2, check), nursery)
        assert await checker.check() is None
        assert health.services[-1] == b"\x0a\x09pkg.Users"
        health.status = 2  # NOT_SERVING
        assert "not SERVING" in (await checker.check() or "")
        health.status = -1
        assert "grpc-status b'5'" in (await checker.check() or "")
        await checker.aclose()
    finally:
        server.stop(None)


async def test_cluster_marks_endpoints_down_and_up_again() -> None:
    check = HealthCheck(
        kind=HealthCheckKind.HTTP,
        path="/echo",
        interval=0.1,
        jitter=0.1,
        timeout=1.0,
        unhealthy_threshold=2,
        healthy_threshold=2,
    )
    async with upstreams(2) as ups:
        config = ClusterConfig(
            name="c",
            endpoints=tuple(Endpoint("127.0.0.1", u.port) for u in ups),
            protocol=UpstreamProtocol.H2,
            health_check=check,
        )
        async with open_clusters({"c": config}) as clusters:
            c = clusters["c"]
            ups[0].kill()
            await eventually(lambda: not c.endpoints[0].healthy)
            assert c.has_healthy_endpoint()
            assert c.snapshot()["endpoints"][0]["health_error"]  # type: ignore[index]
            ups[1].kill()
            await eventually(lambda: not c.has_healthy_endpoint())
            await ups[0].start()  # same port again
            await eventually(lambda: c.endpoints[0].healthy)
            assert not c.endpoints[1].healthy
