"""The embedded default (``mux gateway`` with no config): demo upstreams over mux, h2c and
HTTP/1.1 behind one listener, routed by ``x-upstream``, plus the admin listener."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import trio

import mux_client
from tests.gateway.gwkit import start_embedded_gateway

ROOT = Path(__file__).resolve().parents[2]


async def test_embedded_default_forwards_to_each_demo_upstream(tmp_path: Path) -> None:
    process, listen, admin = await start_embedded_gateway(tmp_path)
    try:
        async with mux_client.connect(listen) as client:
            default = await client.request("POST", "/echo", body=b"hello")
            assert default.status == 200 and default.body == b"hello"
            for name in ("mux", "h2", "http1"):
                response = await client.request(
                    "POST", "/echo", body=name.encode(), headers={"x-upstream": name}
                )
                assert response.body == name.encode()
                # /echo returns the request's via ("2 mux", added by the gateway);
                # the gateway then appends the hop the response came over.
                hop = b"1.1 mux" if name == "http1" else b"2 mux"
                assert response.header("via") == b"2 mux, " + hop
            assert len((await client.request("GET", "/bytes/100000")).body) == 100_000
        async with httpx.AsyncClient(timeout=10) as http:
            curl_like = await http.get(f"http://{listen}/stream/3", headers={"x-upstream": "h2"})
            assert curl_like.text.count("\n") == 3
            assert (await http.get(f"http://{admin}/healthz")).text == "ok\n"
            assert (await http.get(f"http://{admin}/readyz")).status_code == 200
            stats = (await http.get(f"http://{admin}/stats")).json()
            config = (await http.get(f"http://{admin}/config")).json()
        requests = {
            name: sum(ep["requests"] for ep in cluster["endpoints"])
            for name, cluster in stats["clusters"].items()
        }
        assert requests == {"demo-mux": 3, "demo-h2": 2, "demo-http1": 1}
        assert {c["protocol"] for c in config["clusters"].values()} == {"mux", "h2", "http1"}
        assert json.dumps(config)  # plain JSON
    finally:
        process.terminate()
        with trio.fail_after(10):
            assert await process.wait() == 0
