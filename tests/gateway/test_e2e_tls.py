"""TLS on both sides of the gateway: a TLS listener (ALPN picks mux/1, h2 or http/1.1) in front
of TLS upstreams verified with the test CA (``h2`` and ``muxs``)."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest
import trio
import trustme
from gwkit import port_of, start_gateway

import mux_client
from mux.config import ServerConfig
from mux.gateway.model import (
    ClusterConfig,
    Endpoint,
    GatewayConfig,
    ListenerConfig,
    RouteConfig,
    TlsListener,
    TlsUpstream,
    UpstreamProtocol,
)
from tests.interop import peerkit


@pytest.mark.parametrize("protocol", [UpstreamProtocol.MUX, UpstreamProtocol.H2])
async def test_tls_listener_and_tls_upstream(
    nursery: trio.Nursery, tmp_path: Path, protocol: UpstreamProtocol
) -> None:
    ca = trustme.CA()
    cert, key = peerkit.write_tls_files(ca, tmp_path)
    ca_file = str(tmp_path / "ca.pem")
    ca.cert_pem.write_to_path(ca_file)
    upstream = await peerkit.start(
        nursery, ServerConfig(host="127.0.0.1", port=0, tls_cert=cert, tls_key=key)
    )
    cluster = ClusterConfig(
        "up",
        (Endpoint("127.0.0.1", upstream.port),),
        protocol,
        tls=TlsUpstream(ca_file=ca_file, server_name="localhost"),
    )
    config = GatewayConfig(
        (ListenerConfig("127.0.0.1", 0, tls=TlsListener(cert, key)),),
        (RouteConfig("up", path_prefix="/"),),
        {"up": cluster},
    )
    gateway = await start_gateway(nursery, config)
    target = f"127.0.0.1:{port_of(gateway)}"
    context = ssl.create_default_context(cafile=ca_file)
    for client_protocol in ("mux", "h2"):
        async with mux_client.connect(target, tls=context, protocol=client_protocol) as client:  # type: ignore[arg-type]
            response = await client.request("POST", "/echo", body=b"secret")
            assert response.body == b"secret"
            assert response.header("via") == b"2 mux, 2 mux"
    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=ca_file)) as http:
        response = await http.get(f"https://{target}/bytes/10")
        assert response.status_code == 200 and len(response.content) == 10
