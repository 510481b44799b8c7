"""``mux serve --workers 2 --admin``: the supervisor's ``/metrics`` sums every worker's
figures (prometheus-client multi-process mode), proven by requests each worker tagged."""

from __future__ import annotations

import collections
import os
import signal
import sys
from pathlib import Path

import httpx
import pytest
import trio

from tests.admin.opskit import run_mux
from tests.admin.test_metrics_serve import scrape, value

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="SO_REUSEPORT balancing")


async def test_supervisor_metrics_sum_every_worker(tmp_path: Path) -> None:
    args = ["serve", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--workers", "2"]
    async with run_mux(args, tmp_path, ready="serving on") as mux:
        assert mux.admin is not None
        served: collections.Counter[str] = collections.Counter()
        for _ in range(40):  # one connection each: the kernel spreads them over the workers
            async with httpx.AsyncClient(timeout=10) as http:
                response = await http.get(f"http://{mux.listen}/bytes/3")
            assert response.status_code == 200
            served[response.headers["mux-worker"]] += 1
        assert set(served) == {"1", "2"}, served  # both workers answered some
        url = f"http://{mux.admin}"

        async def total() -> float:
            return value(await scrape(url), "mux_requests_total", protocol="http/1.1")

        # each worker flushes its counts into the shared files every second
        with trio.fail_after(10):
            while await total() < 40:  # noqa: ASYNC110 (polling another process)
                await trio.sleep(0.2)
        metrics = await scrape(url)
        assert value(metrics, "mux_requests_total") == 40
        assert value(metrics, "mux_response_body_bytes_total") == 120
        assert value(metrics, "mux_connections_accepted_total", protocol="http/1.1") == 40
        async with httpx.AsyncClient(timeout=10) as http:
            stats = (await http.get(url + "/stats")).json()
            assert stats["requests"] == 40
            assert (await http.get(url + "/healthz")).text == "ok\n"


async def test_gateway_workers_reload_on_sighup_and_sum_metrics(tmp_path: Path) -> None:
    from tests.conformance.conftest import free_port

    admin, listen, upstream = free_port(), free_port(), free_port()
    config = tmp_path / "gw.toml"
    template = (
        'admin = "127.0.0.1:{admin}"\n[[listeners]]\naddress = "127.0.0.1:{listen}"\n'
        '[[routes]]\ncluster = "{name}"\npath_prefix = "/"\n'
        '[clusters.{name}]\nendpoints = ["127.0.0.1:{upstream}"]\n'
    )
    values = {"admin": admin, "listen": listen, "upstream": upstream}
    config.write_text(template.format(name="first", **values))
    args = ["gateway", "--config", str(config), "--workers", "2", "--access-log", "off"]
    async with run_mux(args, tmp_path) as mux:
        config.write_text(template.format(name="second", **values))
        mux.process.send_signal(signal.SIGHUP)  # the supervisor passes it on to each worker
        seen: dict[int, set[str]] = {}
        with trio.fail_after(15):
            while len(seen) < 2 or any(c != {"second"} for c in seen.values()):
                # a new connection each time: the kernel picks a worker
                async with httpx.AsyncClient(timeout=10) as one:
                    stats = (await one.get(f"http://{mux.admin}/stats")).json()
                seen[stats["pid"]] = set(stats["clusters"])
                await trio.sleep(0.05)
        # no upstream listens: each request fails (503) and is counted by its worker
        for _ in range(10):
            async with httpx.AsyncClient(timeout=10) as one:
                assert (await one.get(f"http://{mux.listen}/x")).status_code == 503
        with trio.fail_after(10):
            while True:
                total = value(await scrape(f"http://{mux.admin}"), "mux_requests_total")
                if total >= 10:
                    break
                await trio.sleep(0.2)
        assert total == 10
        # SIGTERM drains every worker and the supervisor exits 0 (a worker's metrics
        # flusher once kept its gateway running after the drain: workers outlived it).
        mux.process.terminate()
        with trio.fail_after(15):
            await mux.process.wait()
        assert mux.process.returncode == 0
        for pid in seen:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
