"""Failure behaviours of a cluster against real ``mux serve`` processes.

Ejection and return, retries (what was not processed, idempotent routes) within
the retry budget, breakers tripping and recovering, a draining (SIGTERM) upstream,
an upstream dying mid-stream, timeouts, DNS endpoints and ring-hash stickiness.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import trio
from upstream_procs import Upstream, eventually, upstreams

import mux_client
from mux.gateway.cluster import Cluster, UpstreamRequest, open_clusters
from mux.gateway.errors import FailureKind, GatewayError
from mux.gateway.model import (
    CircuitBreakers,
    ClusterConfig,
    Endpoint,
    LbPolicy,
    OutlierDetection,
    PoolConfig,
    RetryPolicy,
    Timeouts,
    UpstreamProtocol,
)

H2 = UpstreamProtocol.H2


def config(ports: list[int], protocol: UpstreamProtocol = H2, **kw: object) -> ClusterConfig:
    endpoints = tuple(Endpoint("127.0.0.1", p) for p in ports)
    return ClusterConfig(name="c", endpoints=endpoints, protocol=protocol, **kw)  # type: ignore[arg-type]


def ports(ups: list[Upstream]) -> list[int]:
    return [u.port for u in ups]


def get(path: str, method: str = "GET", **kw: object) -> UpstreamRequest:
    return UpstreamRequest(method, path, None, [], end_stream=True, **kw)  # type: ignore[arg-type]


async def unary(cluster: Cluster, request: UpstreamRequest) -> tuple[str, int, int]:
    async with cluster.open_call(request) as up:
        status, _ = await up.call.response()
        await up.call.read()
        return up.endpoint, status, up.attempts


@contextmanager
def black_hole() -> Iterator[int]:
    """A port that accepts TCP connections (backlog) and never says a word."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield int(sock.getsockname()[1])
    finally:
        sock.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("protocol", list(UpstreamProtocol), ids=lambda p: p.value)
async def test_retry_on_connect_failure_counts_attempts(protocol: UpstreamProtocol) -> None:
    async with upstreams(1) as ups:
        cfg = config([closed_port(), ups[0].port], protocol)
        async with open_clusters({"c": cfg}) as cl:
            results = [await unary(cl["c"], get("/echo")) for _ in range(4)]
    assert {r[0] for r in results} == {ups[0].address}
    assert all(r[1] == 200 for r in results)
    assert 2 in {r[2] for r in results}  # some went to the dead one first, then retried


async def test_ejection_and_return_after_restart() -> None:
    outlier = OutlierDetection(
        consecutive_failures=2, base_ejection_time=0.5, max_ejection_time=5.0
    )
    async with upstreams(2) as ups, open_clusters({"c": config(ports(ups), outlier=outlier)}) as cl:
        c = cl["c"]
        ups[0].kill()
        await trio.sleep(0.1)
        for _ in range(6):
            endpoint, status, _ = await unary(c, get("/echo"))
            assert (endpoint, status) == (ups[1].address, 200)
        ejected = c.snapshot()["endpoints"][0]  # type: ignore[index]
        assert ejected["ejected"] and ejected["ejections"] == 1
        # While ejected, nothing is even attempted on it.
        before = c.endpoints[0].requests
        for _ in range(4):
            assert (await unary(c, get("/echo")))[2] == 1
        assert c.endpoints[0].requests == before
        await ups[0].start()  # same port
        await trio.sleep(0.6)  # the ejection ran out
        seen = {(await unary(c, get("/echo")))[0] for _ in range(6)}
        assert seen == {ups[0].address, ups[1].address}


async def test_retry_budget_bounds_retries_in_flight() -> None:
    """Every try times out (an idempotent route, so each is retried): no more
    than the budget's retries are ever in flight, the rest fail at once."""
    async with upstreams(2) as ups:
        cfg = config(
            ports(ups),
            timeouts=Timeouts(per_try=0.2),
            retry=RetryPolicy(max_attempts=5, budget_ratio=0.0, budget_min_concurrency=2),
            outlier=OutlierDetection(consecutive_failures=1000),
        )
        async with open_clusters({"c": cfg}) as cl:
            c = cl["c"]
            errors: list[GatewayError] = []
            peak = 0

            async def one() -> None:
                try:
                    await unary(c, get("/delay/5000", idempotent=True))
                except GatewayError as exc:
                    errors.append(exc)

            async def watch() -> None:
                nonlocal peak
                while True:
                    peak = max(peak, c.breakers.retrying)
                    await trio.sleep(0.01)

            with trio.fail_after(20):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(watch)
                    async with trio.open_nursery() as calls:
                        for _ in range(10):
                            calls.start_soon(one)
                    nursery.cancel_scope.cancel()
            attempts = sum(ep.requests for ep in c.endpoints)
            assert len(errors) == 10
            assert {e.kind for e in errors} == {FailureKind.TIMEOUT}
            assert 1 <= peak <= 2
            assert c.breakers.tripped["retry_budget"] >= 8  # at first, 8 of 10 were refused
            assert attempts < 10 * 5  # no retry storm


async def test_breakers_trip_and_recover() -> None:
    breakers = CircuitBreakers(max_requests=2, max_pending_requests=100, max_connections=100)
    async with (
        upstreams(1) as ups,
        open_clusters({"c": config(ports(ups), breakers=breakers)}) as cl,
    ):
        c = cl["c"]
        async with trio.open_nursery() as nursery:
            for _ in range(2):
                nursery.start_soon(unary, c, get("/delay/400"))
            await eventually(lambda: c.breakers.active == 2)
            with pytest.raises(GatewayError) as info:
                await unary(c, get("/echo"))
            assert info.value.kind is FailureKind.OVERLOADED and not info.value.processed
        assert (await unary(c, get("/echo")))[1] == 200  # recovered
        assert c.breakers.tripped["requests"] == 1


async def test_pending_breaker_on_http1_pool() -> None:
    breakers = CircuitBreakers(max_requests=100, max_pending_requests=1)
    pool = PoolConfig(max_connections=1)
    cfg = config([0], UpstreamProtocol.HTTP1, breakers=breakers, pool=pool)
    async with upstreams(1) as ups:
        cfg = config(ports(ups), UpstreamProtocol.HTTP1, breakers=breakers, pool=pool)
        async with open_clusters({"c": cfg}) as cl:
            c = cl["c"]
            async with trio.open_nursery() as nursery:
                nursery.start_soon(unary, c, get("/delay/400"))  # holds the one connection
                await eventually(lambda: c.breakers.active == 1)
                nursery.start_soon(unary, c, get("/delay/10"))  # waits for it
                await eventually(lambda: c.breakers.pending == 1)
                with pytest.raises(GatewayError, match="max_pending_requests"):
                    await unary(c, get("/echo"))
            assert (await unary(c, get("/echo")))[1] == 200
            assert len(c.endpoints[0].channel.connections) == 1


async def test_connection_breaker() -> None:
    breakers = CircuitBreakers(max_connections=1)
    async with (
        upstreams(2) as ups,
        open_clusters({"c": config(ports(ups), breakers=breakers)}) as cl,
    ):
        c = cl["c"]
        assert (await unary(c, get("/echo")))[0] == ups[0].address
        with pytest.raises(GatewayError) as info:
            await unary(c, get("/echo"))  # would open a second upstream connection
        assert info.value.kind is FailureKind.OVERLOADED
        assert c.breakers.tripped["connections"] == 1


@pytest.mark.parametrize("protocol", list(UpstreamProtocol), ids=lambda p: p.value)
async def test_draining_upstream_loses_nothing(protocol: UpstreamProtocol) -> None:
    """SIGTERM to one upstream: its in-flight calls finish, new ones go elsewhere."""
    # A request crossing the drained server's close can see ECONNRESET instead
    # of the final GOAWAY (mux serve closes a drained connection without
    # lingering, and an RST discards what we had not read yet): only "maybe
    # processed", but these GETs are idempotent, so they are retried; the
    # budget is sized for the 9 calls in flight.
    retry = RetryPolicy(budget_min_concurrency=9)
    async with (
        upstreams(2, "--drain-timeout", "5") as ups,
        open_clusters({"c": config(ports(ups), protocol, retry=retry)}) as cl,
    ):
        c = cl["c"]
        results: list[tuple[str, int, int]] = []
        stop = trio.Event()

        async def slow() -> None:
            results.append(await unary(c, get("/delay/1000")))

        async def steady() -> None:
            while not stop.is_set():
                results.append(await unary(c, get("/echo")))

        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                for _ in range(6):
                    nursery.start_soon(slow)
                for _ in range(3):
                    nursery.start_soon(steady)
                await eventually(lambda: c.breakers.active >= 9)
                await trio.sleep(0.3)  # connected and being served (HTTP/1.1: no handshake)
                code = await ups[0].terminate()
                stop.set()
        assert code == 0
        assert all(status == 200 for _, status, _ in results)
        assert sum(1 for r in results if r[0] == ups[0].address) >= 3  # the slow ones it had


async def test_upstream_dying_mid_stream_resets_only_its_calls() -> None:
    async with upstreams(2) as ups, open_clusters({"c": config(ports(ups))}) as cl:
        c = cl["c"]
        outcomes: list[tuple[str, object]] = []

        async def slow(idempotent: bool) -> None:
            try:
                # POST: only the route's flag makes it idempotent.
                request = get("/delay/1000", "POST", idempotent=idempotent)
                endpoint, _, attempts = await unary(c, request)
                outcomes.append(("ok", (endpoint, attempts, idempotent)))
            except GatewayError as exc:
                outcomes.append(("error", (exc.kind, exc.processed, exc.endpoint, idempotent)))

        with trio.fail_after(15):
            async with trio.open_nursery() as nursery:
                for i in range(8):
                    nursery.start_soon(slow, i % 2 == 0)
                await eventually(lambda: all(ep.active == 4 for ep in c.endpoints))
                await trio.sleep(0.3)  # the requests reached the servers
                ups[0].kill()
        errors = [o[1] for o in outcomes if o[0] == "error"]
        oks = [o[1] for o in outcomes if o[0] == "ok"]
        assert len(outcomes) == 8
        # Every call lands on the live upstream or fails clearly; the dead one
        # carried 4: the non-idempotent ones get RESET (maybe processed), the
        # idempotent ones were retried on the live upstream.
        assert {e for e, _, _ in oks} == {ups[1].address}
        assert all(e == (FailureKind.RESET, True, ups[0].address, False) for e in errors)
        retried = [idem for _, attempts, idem in oks if attempts == 2]
        assert all(retried) and len(errors) + len(retried) == 4
        assert sum(1 for _, attempts, _ in oks if attempts == 1) == 4


async def test_timeouts() -> None:
    async with upstreams(2) as ups:
        cfg = config(ports(ups), timeouts=Timeouts(per_try=0.2))
        async with open_clusters({"c": cfg}) as cl:
            c = cl["c"]
            with trio.fail_after(5), pytest.raises(GatewayError) as info:
                await unary(c, get("/delay/3000"))
            assert info.value.kind is FailureKind.TIMEOUT and info.value.processed
            # Idempotent: retried once per endpoint (max_attempts 3), then TIMEOUT.
            start = trio.current_time()
            with trio.fail_after(5), pytest.raises(GatewayError) as info:
                await unary(c, get("/delay/3000", idempotent=True))
            assert info.value.kind is FailureKind.TIMEOUT
            assert 0.5 < trio.current_time() - start < 2.0
            assert (await unary(c, get("/delay/50")))[1] == 200
        cfg = config(ports(ups), timeouts=Timeouts(overall=0.3))
        async with open_clusters({"c": cfg}) as cl:
            with trio.fail_after(5), pytest.raises(GatewayError) as info:
                await unary(cl["c"], get("/delay/3000", idempotent=True))
            assert info.value.kind is FailureKind.TIMEOUT
            # The deadline also bounds the call once handed out (a slow body).
            deadline = trio.current_time() + 0.3
            with trio.fail_after(5), pytest.raises(GatewayError) as info:
                async with cl["c"].open_call(get("/stream/1000", deadline=deadline)) as up:
                    async for _ in up.call:
                        await trio.sleep(0.05)  # a slow reader
            assert info.value.kind is FailureKind.TIMEOUT


async def test_dns_endpoint_and_ring_hash() -> None:
    async with upstreams(2) as ups:
        cfg = ClusterConfig(
            name="c",
            endpoints=(Endpoint("localhost", ups[0].port), Endpoint("127.0.0.1", ups[1].port)),
            protocol=H2,
            lb=LbPolicy.RING_HASH,
            hash_header="x-user",
            dns_refresh=0.2,
        )
        async with open_clusters({"c": cfg}) as cl:
            c = cl["c"]
            keys = [ep.key for ep in c.endpoints]
            assert ups[0].address in keys and ups[1].address in keys
            assert all("localhost" not in k for k in keys)
            await trio.sleep(0.5)  # refreshed a few times: same set, same state
            assert [ep.key for ep in c.endpoints] == keys
            chosen = set()
            for _ in range(10):
                endpoint, status, _ = await unary(c, get("/echo", hash_key=b"user-7"))
                assert status == 200
                chosen.add(endpoint)
            assert len(chosen) == 1
            spread = {(await unary(c, get("/echo", hash_key=b"u%d" % i)))[0] for i in range(40)}
            assert spread == {ups[0].address, ups[1].address}


async def test_has_healthy_endpoint_and_no_healthy_upstream() -> None:
    outlier = OutlierDetection(consecutive_failures=1, max_ejection_percent=100)
    cfg = config([closed_port()], outlier=outlier, retry=RetryPolicy(max_attempts=1))
    async with open_clusters({"c": cfg}) as cl:
        c = cl["c"]
        assert c.has_healthy_endpoint()
        with pytest.raises(GatewayError) as info:
            await unary(c, get("/echo"))
        assert info.value.kind is FailureKind.CONNECT_FAILED
        assert not c.has_healthy_endpoint()
        with pytest.raises(GatewayError) as info:
            await unary(c, get("/echo"))
        assert info.value.kind is FailureKind.NO_HEALTHY_UPSTREAM


@pytest.mark.parametrize("protocol", list(UpstreamProtocol), ids=lambda p: p.value)
async def test_failure_caught_by_the_forwarder_still_counts(protocol: UpstreamProtocol) -> None:
    """The upstream dies mid-body; the forwarder handles the SDK error inside the
    block (as it must, to answer its client): outlier detection still sees it."""
    outlier = OutlierDetection(consecutive_failures=1, max_ejection_percent=100)
    async with (
        upstreams(1) as ups,
        open_clusters({"c": config(ports(ups), protocol, outlier=outlier)}) as cl,
    ):
        c = cl["c"]
        caught: list[BaseException] = []
        with trio.fail_after(10):
            async with c.open_call(UpstreamRequest("POST", "/echo", None, [], False)) as up:
                await up.call.send(b"first")
                assert (await up.call.response())[0] == 200
                assert await up.call.receive() == b"first"
                ups[0].kill()
                try:
                    await up.call.send(b"more")
                    await up.call.receive()
                except mux_client.CallError as exc:
                    caught.append(exc)
        assert caught, "the dead upstream went unnoticed"
        assert not c.has_healthy_endpoint()  # ejected: the failure was recorded
