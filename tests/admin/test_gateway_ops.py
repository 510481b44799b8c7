"""The gateway's operations over real sockets: upstream metrics (retries, connects, reuse,
ejections, breaker trips), its access log (upstream endpoint and attempts), and reload."""

from __future__ import annotations

import functools
import json
import textwrap
from pathlib import Path

import httpx
import trio

import mux_client
from mux.gateway.config import load_config
from mux.gateway.gateway import Gateway, run_gateway
from mux.gateway.model import (
    CircuitBreakers,
    ClusterConfig,
    Endpoint,
    GatewayConfig,
    ListenerConfig,
    OutlierDetection,
    RouteConfig,
    UpstreamProtocol,
)
from mux.ops.accesslog import AccessLog
from tests.admin.test_metrics_serve import scrape, value
from tests.conformance.conftest import free_port
from tests.gateway.gwkit import start_upstream


async def test_upstream_metrics_retries_ejections_and_breakers() -> None:
    async with trio.open_nursery() as nursery:
        upstream = await start_upstream(nursery)
        dead = free_port()  # nothing listens: connecting fails, the request is retried
        config = GatewayConfig(
            (ListenerConfig("127.0.0.1", 0),),
            (
                RouteConfig("tiny", path_prefix="/delay", name="slow"),
                RouteConfig("up", path_prefix="/"),
            ),
            {
                "up": ClusterConfig(
                    "up",
                    (Endpoint("127.0.0.1", dead), Endpoint("127.0.0.1", upstream.port)),
                    UpstreamProtocol.H2,
                    outlier=OutlierDetection(consecutive_failures=1),
                ),
                "tiny": ClusterConfig(
                    "tiny",
                    (Endpoint("127.0.0.1", upstream.port),),
                    UpstreamProtocol.MUX,
                    breakers=CircuitBreakers(max_requests=1),
                ),
            },
            admin="127.0.0.1:0",
        )
        gateway: Gateway = await nursery.start(functools.partial(run_gateway, config))
        address = gateway.addresses[0]
        async with mux_client.connect(address) as client:
            for _ in range(6):
                assert (await client.request("GET", "/bytes/10")).status == 200
            statuses: list[int] = []

            async def slow() -> None:
                statuses.append((await client.request("GET", "/delay/300")).status)

            async with trio.open_nursery() as calls:
                calls.start_soon(slow)
                await trio.sleep(0.1)
                calls.start_soon(slow)
        assert sorted(statuses) == [200, 503]  # the second one met the breaker
        assert gateway.admin is not None
        m = await scrape(f"http://127.0.0.1:{gateway.admin.port}")
        gateway.shutdown()
        nursery.cancel_scope.cancel()
    live = f"127.0.0.1:{upstream.port}"
    assert value(m, "mux_requests_total", route="up", status="2xx") == 6
    assert value(m, "mux_requests_total", route="tiny", status="5xx") == 1
    assert value(m, "mux_upstream_retries_total", cluster="up") >= 1
    assert value(m, "mux_upstream_ejections_total", cluster="up", endpoint=f"127.0.0.1:{dead}") == 1
    assert value(m, "mux_upstream_healthy", cluster="up", endpoint=f"127.0.0.1:{dead}") == 0
    assert value(m, "mux_upstream_requests_total", cluster="up", endpoint=live) == 6
    assert value(m, "mux_upstream_connects_total", cluster="up", endpoint=live) == 1
    assert value(m, "mux_upstream_reused_requests_total", cluster="up", endpoint=live) == 5
    assert value(m, "mux_upstream_connections", cluster="up", endpoint=live) == 1
    assert value(m, "mux_upstream_breaker_trips_total", cluster="tiny", breaker="requests") == 1


async def test_gateway_access_log_names_upstream_and_attempts(tmp_path: Path) -> None:
    log_path = tmp_path / "access.json"
    log = AccessLog(str(log_path), json_format=True)
    log.start()
    async with trio.open_nursery() as nursery:
        upstream = await start_upstream(nursery)
        dead = free_port()
        config = GatewayConfig(
            (ListenerConfig("127.0.0.1", 0),),
            (RouteConfig("up", path_prefix="/"),),
            {
                "up": ClusterConfig(
                    "up",
                    (Endpoint("127.0.0.1", dead), Endpoint("127.0.0.1", upstream.port)),
                    UpstreamProtocol.HTTP1,
                )
            },
        )
        gateway: Gateway = await nursery.start(
            functools.partial(run_gateway, config, access_log=log)
        )
        async with mux_client.connect(gateway.addresses[0], protocol="h2") as client:
            for _ in range(2):
                assert (await client.request("POST", "/echo", body=b"abc")).status == 200
        gateway.shutdown()
        nursery.cancel_scope.cancel()
    log.close()
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert len(lines) == 2
    for line in lines:
        assert line["protocol"] == "h2" and line["method"] == "POST" and line["path"] == "/echo"
        assert line["status"] == 200 and line["bytes_in"] == 3 and line["bytes_out"] == 3
        assert line["cluster"] == "up" and line["upstream"] == f"127.0.0.1:{upstream.port}"
    # round robin: one of the two requests first tried the dead endpoint
    assert sorted(line["attempts"] for line in lines) == [1, 2]


CONFIG = """
admin = "127.0.0.1:{admin}"
[[listeners]]
address = "127.0.0.1:{listen}"
[[routes]]
cluster = "{cluster}"
path_prefix = "/"
[clusters.{cluster}]
endpoints = ["127.0.0.1:{port}"]
protocol = "{protocol}"
"""


async def test_reload_valid_invalid_and_listener_change(tmp_path: Path) -> None:
    path = tmp_path / "gw.toml"
    admin, listen = free_port(), free_port()

    def write(**fields: object) -> None:
        values = {"admin": admin, "listen": listen, "protocol": "h2", **fields}
        path.write_text(textwrap.dedent(CONFIG.format(**values)))

    async with trio.open_nursery() as nursery:
        upstream = await start_upstream(nursery)
        write(cluster="first", port=upstream.port)
        gateway: Gateway = await nursery.start(
            functools.partial(
                run_gateway, load_config(str(path)), reload=lambda: load_config(str(path))
            )
        )
        url = f"http://127.0.0.1:{admin}"
        async with (
            httpx.AsyncClient(timeout=10) as http,
            mux_client.connect(f"127.0.0.1:{listen}") as client,
        ):
            assert (await client.request("GET", "/bytes/1")).status == 200
            # valid: a new cluster, another upstream protocol, on the same connection
            write(cluster="second", port=upstream.port, protocol="mux")
            answer = await http.post(url + "/reload")
            assert answer.status_code == 200 and answer.json()["reloaded"] is True
            assert (await client.request("GET", "/bytes/1")).status == 200
            assert set(gateway.clusters) == {"second"}
            assert (await http.get(url + "/config")).json()["clusters"]["second"]
            # invalid: refused with the key path; the running config keeps serving
            write(cluster="third", port=upstream.port, protocol="h3")
            answer = await http.post(url + "/reload")
            assert answer.status_code == 400
            errors = answer.json()["errors"]
            assert any("clusters.third.protocol: unknown value 'h3'" in e for e in errors)
            assert str(path) in errors[0]
            assert (await client.request("GET", "/bytes/1")).status == 200
            assert set(gateway.clusters) == {"second"}
            # a listener change needs a restart
            write(cluster="third", port=upstream.port, listen=free_port())
            answer = await http.post(url + "/reload")
            assert answer.status_code == 400
            assert "restart the gateway to change listeners" in answer.json()["errors"][0]
            stats = (await http.get(url + "/stats")).json()
            assert stats["reloads"] == {"applied": 1, "refused": 2}
            assert stats["generations"] == 1  # the first one closed once idle
        gateway.shutdown()
        nursery.cancel_scope.cancel()


async def test_reload_under_load_loses_no_request(tmp_path: Path) -> None:
    path = tmp_path / "gw.toml"
    admin, listen = free_port(), free_port()
    async with trio.open_nursery() as nursery:
        upstream = await start_upstream(nursery)

        def write(cluster: str, protocol: str) -> None:
            path.write_text(
                CONFIG.format(
                    admin=admin,
                    listen=listen,
                    cluster=cluster,
                    port=upstream.port,
                    protocol=protocol,
                )
            )

        write("a", "h2")
        gateway: Gateway = await nursery.start(
            functools.partial(
                run_gateway, load_config(str(path)), reload=lambda: load_config(str(path))
            )
        )
        assert gateway.reloader is not None
        done = 0
        failures: list[object] = []
        stop = trio.Event()

        async def loop(protocol: str) -> None:
            nonlocal done
            async with mux_client.connect(f"127.0.0.1:{listen}", protocol=protocol) as client:  # type: ignore[arg-type]
                while not stop.is_set():
                    response = await client.request("POST", "/echo", body=b"ping")
                    if response.status != 200 or response.body != b"ping":
                        failures.append((response.status, response.body))
                    done += 1

        async with trio.open_nursery() as load:
            for protocol in ("mux", "h2", "http1"):
                load.start_soon(loop, protocol)
            for cluster, protocol in (("b", "mux"), ("c", "http1")):
                await trio.sleep(0.3)
                write(cluster, protocol)
                assert await gateway.reloader.reload() == []
            await trio.sleep(0.3)
            stop.set()
        assert failures == []
        assert done > 20
        assert gateway.reloader.applied == 2
        gateway.shutdown()
        nursery.cancel_scope.cancel()
