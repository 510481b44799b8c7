"""The stream routes on the real admin listeners: ``mux serve --admin`` (a
subprocess) and ``mux gateway`` (its config's admin address), end to end."""

from __future__ import annotations

from pathlib import Path

import attrs
import trio
from conftest import Harness
from opskit import run_mux
from waitkit import http_get, wait_for_rows

from mux.config import ServerConfig
from mux.gateway.model import GatewayConfig, UpstreamProtocol
from tests.admin.test_streams_gateway import HOLD, upstream_app
from tests.gateway.gwkit import port_of, single_cluster, start_gateway


def _port(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


async def test_mux_serve_admin_lists_streams_and_serves_the_page(
    harness: Harness, tmp_path: Path
) -> None:
    args = ["serve", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"]
    async with run_mux(args, tmp_path) as running:
        assert running.admin is not None
        admin = _port(running.admin)
        client = await harness.client(_port(running.listen))
        # The demo app's /echo reads the body: a request whose body never comes.
        stream = await client.open_stream([(b":method", b"POST"), (b":path", b"/echo")])
        [row] = await wait_for_rows(admin, "peer")
        assert row["stream_id"] == stream.stream_id and row["path"] == "/echo"
        status, page = await http_get(admin, "/")
        assert status == 200 and b'fetch("/streams"' in page
        status, body = await http_get(admin, "/connections")
        assert status == 200 and b'"protocol": "mux"' in body


async def test_gateway_admin_lists_both_legs(harness: Harness) -> None:
    upstream = await harness.server(upstream_app(), ServerConfig(host="127.0.0.1", port=0))
    config: GatewayConfig = attrs.evolve(
        single_cluster(UpstreamProtocol.MUX, upstream.port), admin="127.0.0.1:0"
    )
    gateway = await start_gateway(harness.nursery, config)
    assert gateway.admin is not None
    client = await harness.client(port_of(gateway))
    await client.open_stream(HOLD, end_stream=True)
    [down] = await wait_for_rows(gateway.admin.port, "upstream")
    assert down["side"] == "downstream" and down["path"] == "/hold"
    [leg] = await wait_for_rows(gateway.admin.port, "peer")
    assert leg["side"] == "upstream" and leg["where"] == "up" and leg["path"] == "/hold"
    with trio.fail_after(5):
        status, _ = await http_get(gateway.admin.port, "/streams?reason=upstream")
    assert status == 200
