"""A gateway cluster whose upstream rolls its connections: no call is lost.

``mux serve --max-streams-per-connection`` ends every upstream connection after
that many streams with a final GOAWAY while the cluster's pool has calls in
flight on it (the default cap, 10,000, does the same to a long-lived pool).
The calls above the GOAWAY's last id were never processed and are retried on a
new connection; the others must be answered before the upstream closes (it
lingers after its final GOAWAY instead of resetting the connection under its
last responses). Non-idempotent POSTs, so only provable refusals are retried:
any lost response surfaces as an error here.
"""

from __future__ import annotations

import pytest
import trio
from upstream_procs import upstreams

from mux.gateway.cluster import Cluster, UpstreamRequest, open_clusters
from mux.gateway.model import ClusterConfig, Endpoint, UpstreamProtocol

CAP = 50
CONCURRENCY = 32
PER_WORKER = 40  # 1,280 calls: 25 connection rolls


async def post(cluster: Cluster, body: bytes) -> tuple[int, bytes]:
    request = UpstreamRequest("POST", "/echo", None, [], end_stream=False, body=body)
    async with cluster.open_call(request) as up:
        status, _ = await up.call.response()
        return status, await up.call.read()


@pytest.mark.parametrize(
    "protocol", [UpstreamProtocol.MUX, UpstreamProtocol.H2], ids=lambda p: p.value
)
async def test_upstream_stream_cap_rolls_lose_no_call(protocol: UpstreamProtocol) -> None:
    async with upstreams(1, "--max-streams-per-connection", str(CAP)) as ups:
        endpoint = Endpoint("127.0.0.1", ups[0].port)
        config = ClusterConfig(name="c", endpoints=(endpoint,), protocol=protocol)
        async with open_clusters({"c": config}) as clusters:
            cluster = clusters["c"]
            failures: list[str] = []
            answered = 0

            async def worker(n: int) -> None:
                nonlocal answered
                for i in range(PER_WORKER):
                    body = f"{n}-{i}".encode()
                    try:
                        status, data = await post(cluster, body)
                    except Exception as exc:  # any error is a lost call
                        failures.append(f"{type(exc).__name__}: {exc}")
                        continue
                    assert (status, data) == (200, body)
                    answered += 1

            with trio.fail_after(60):
                async with trio.open_nursery() as nursery:
                    for n in range(CONCURRENCY):
                        nursery.start_soon(worker, n)
    assert failures[:3] == [] and answered == CONCURRENCY * PER_WORKER
