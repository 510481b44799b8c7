"""The admin listener of ``mux serve`` and ``mux gateway``: its own address, never the public."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
import trio

from tests.admin.opskit import ROOT, run_mux


async def test_serve_admin_answers_health_ready_and_stats(tmp_path: Path) -> None:
    args = ["serve", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"]
    async with run_mux(args, tmp_path) as mux:
        assert mux.admin is not None and mux.admin != mux.listen
        async with httpx.AsyncClient(timeout=10) as http:
            assert (await http.get(f"http://{mux.admin}/healthz")).text == "ok\n"
            assert (await http.get(f"http://{mux.admin}/readyz")).text == "ready\n"
            # one request on the public port, held open by keep-alive: stats count it
            assert (await http.get(f"http://{mux.listen}/bytes/10")).status_code == 200
            stats = (await http.get(f"http://{mux.admin}/stats")).json()
            assert stats["connections"] >= 1 and stats["draining"] is False
            # the admin routes are not on the public listener (the demo has no /stats)
            assert (await http.get(f"http://{mux.listen}/stats")).status_code == 404
            assert (await http.get(f"http://{mux.listen}/metrics")).status_code == 404


async def test_serve_without_admin_prints_no_admin_address(tmp_path: Path) -> None:
    async with run_mux(["serve", "--listen", "127.0.0.1:0"], tmp_path, ready="serving on") as mux:
        assert mux.admin is None


def test_serve_refuses_an_admin_address_equal_to_the_public_listener() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mux", "serve", "--listen", "127.0.0.1:8123", "--admin", ":8123"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "would share the public listener 127.0.0.1:8123" in result.stderr


async def test_gateway_admin_is_its_own_listener(tmp_path: Path) -> None:
    args = ["gateway", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"]
    async with run_mux(args, tmp_path) as mux:
        assert mux.admin is not None
        async with httpx.AsyncClient(timeout=10) as http:
            assert (await http.get(f"http://{mux.admin}/readyz")).text == "ready\n"
            assert "clusters" in (await http.get(f"http://{mux.admin}/stats")).json()
            assert "listeners" in (await http.get(f"http://{mux.admin}/config")).json()
            # through the public listener, /stats is forwarded to the demo upstream: a 404
            assert (await http.get(f"http://{mux.listen}/stats")).status_code == 404


def test_gateway_refuses_an_admin_address_equal_to_the_public_listener() -> None:
    result = subprocess.run(
        [
            *(sys.executable, "-m", "mux", "gateway", "--listen", "127.0.0.1:8124"),
            *("--to", "h2c://127.0.0.1:9", "--admin", "127.0.0.1:8124"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "would share the public listener 127.0.0.1:8124" in result.stderr


async def test_gateway_reloads_on_sighup(tmp_path: Path) -> None:
    from tests.conformance.conftest import free_port

    admin, upstream = free_port(), free_port()
    config = tmp_path / "gw.toml"
    template = (
        'admin = "127.0.0.1:{admin}"\n[[listeners]]\naddress = "127.0.0.1:0"\n'
        '[[routes]]\ncluster = "{name}"\npath_prefix = "/"\n'
        '[clusters.{name}]\nendpoints = ["127.0.0.1:{upstream}"]\n'
    )
    config.write_text(template.format(admin=admin, name="first", upstream=upstream))
    async with run_mux(["gateway", "--config", str(config)], tmp_path) as mux:
        config.write_text(template.format(admin=admin, name="second", upstream=upstream))
        mux.process.send_signal(signal.SIGHUP)
        async with httpx.AsyncClient(timeout=10) as http:
            with trio.fail_after(10):
                while True:
                    stats = (await http.get(f"http://{mux.admin}/stats")).json()
                    if stats["reloads"]["applied"]:
                        break
                    await trio.sleep(0.05)
            assert set(stats["clusters"]) == {"second"}
            config.write_text("listeners = 3\n")
            mux.process.send_signal(signal.SIGHUP)
            with trio.fail_after(10):
                while True:
                    stats = (await http.get(f"http://{mux.admin}/stats")).json()
                    if stats["reloads"]["refused"]:
                        break
                    await trio.sleep(0.05)
            assert set(stats["clusters"]) == {"second"}
    log = mux.log.read_text()
    assert "reload refused; the running configuration keeps serving" in log
    assert "gw.toml: listeners:" in log
