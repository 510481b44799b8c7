"""gRPC end to end: grpcio (HTTP/2) and the mux SDK through the gateway to an HTTP/2 upstream."""

from __future__ import annotations

import grpc
import pytest
import trio
from gwkit import port_of, single_cluster, start_gateway, start_upstream

import mux_client
from mux.gateway.gateway import Gateway
from mux.gateway.model import RouteConfig, UpstreamProtocol
from mux.server.grpcwire import encode_message
from mux.server.server import Server

pytestmark = pytest.mark.interop
TIMEOUT = 10.0


@pytest.fixture
async def upstream(nursery: trio.Nursery) -> Server:
    """The demo services plus the gRPC test methods (stopped with the test's nursery)."""
    return await start_upstream(nursery)


@pytest.fixture
async def gateway(nursery: trio.Nursery, upstream: Server) -> Gateway:
    route = RouteConfig("up", grpc_service="test.Echo")
    return await start_gateway(
        nursery, single_cluster(UpstreamProtocol.H2, upstream.port, route=route)
    )


def _calls(port: int) -> list[object]:
    results: list[object] = []
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        results.append(channel.unary_unary("/test.Echo/Unary")(b"hi", timeout=TIMEOUT))
        requests = (f"m{i}".encode() * (i + 1) for i in range(100))
        results.append(list(channel.stream_stream("/test.Echo/Bidi")(requests, timeout=TIMEOUT)))
        for method, payload, timeout in (
            ("/test.Echo/Unary", b"fail", TIMEOUT),  # the upstream's own status
            ("/test.Echo/Sleep", b"x", 0.5),  # deadline crosses the hop
            ("/other.Svc/Call", b"x", TIMEOUT),  # no route at the gateway
        ):
            try:
                channel.unary_unary(method)(payload, timeout=timeout)
            except grpc.RpcError as exc:
                results.append(exc.code())
    return results


async def test_grpcio_through_the_gateway(gateway: Gateway) -> None:
    results = await trio.to_thread.run_sync(_calls, port_of(gateway))
    assert results[0] == b"echo:hi"
    assert results[1] == [f"M{i}".encode() * (i + 1) for i in range(100)]
    assert results[2:] == [
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
    ]


@pytest.mark.parametrize("downstream", ["mux", "h2"])
async def test_grpc_from_the_sdk_through_the_gateway(gateway: Gateway, downstream: str) -> None:
    target = f"127.0.0.1:{port_of(gateway)}"
    headers = {"content-type": "application/grpc", "te": "trailers"}
    async with mux_client.connect(target, protocol=downstream) as client:  # type: ignore[arg-type]
        response = await client.request(
            "POST", "/test.Echo/Unary", body=encode_message(b"abc"), headers=headers, timeout=5
        )
        assert response.status == 200
        assert response.body == encode_message(b"echo:abc")
        assert (b"grpc-status", b"0") in response.trailers.raw
        with trio.fail_after(5):
            slow = await client.request(
                "POST",
                "/test.Echo/Sleep",
                body=encode_message(b"x"),
                headers={**headers, "grpc-timeout": "300m"},
            )
        assert slow.status == 200 and slow.header("grpc-status") == b"4"  # DEADLINE_EXCEEDED
        async with client.open_call("POST", "/test.Echo/Bidi", headers=headers) as call:
            for word in (b"one", b"two"):
                await call.send(encode_message(word))
                got = b""
                while len(got) < 5 + len(word):
                    got += await call.receive()
                assert got == encode_message(word.upper())
            await call.end()
            assert await call.read() == b""
            assert (b"grpc-status", b"0") in call.trailers.raw
