"""The forwarding loop: header rewriting (pure) and backpressure across the hop (real sockets)."""

from __future__ import annotations

import math
import tracemalloc

import pytest
import trio
from gwkit import UPSTREAMS, port_of, single_cluster, start_gateway

import mux_client
from mux.config import ServerConfig
from mux.gateway.forward import (
    forwarded_for,
    grpc_timeout_value,
    response_headers,
    strip_hop_by_hop,
    upstream_headers,
)
from mux.gateway.model import UpstreamProtocol
from mux.server.app import Request
from mux.server.server import Server


def test_strip_hop_by_hop_and_connection_named_fields() -> None:
    headers = [
        (b"connection", b"X-Foo, close"),
        (b"x-foo", b"1"),
        (b"keep-alive", b"5"),
        (b"transfer-encoding", b"chunked"),
        (b"upgrade", b"h2c"),
        (b"http2-settings", b"AAA"),
        (b"te", b"gzip, trailers"),
        (b"mux-timeout", b"100"),
        (b"x-bar", b"2"),
    ]
    assert strip_hop_by_hop(headers, keep_te=True) == [(b"x-bar", b"2"), (b"te", b"trailers")]
    assert strip_hop_by_hop([(b"te", b"gzip")], keep_te=True) == []
    assert strip_hop_by_hop(headers, keep_te=False) == [(b"x-bar", b"2")]


def test_upstream_headers_add_via_forwarded_and_the_time_left() -> None:
    out = upstream_headers(
        [(b"via", b"1.0 a"), (b"x-forwarded-for", b"1.2.3.4"), (b"x", b"y")],
        client="::1",
        downstream_protocol="h2",
        scheme="https",
        authority="api.test",
        grpc=False,
        deadline=10.0,
        now=8.5,
    )
    fields = dict(out)
    assert fields[b"via"] == b"1.0 a, 2 mux"
    assert fields[b"x-forwarded-for"] == b"1.2.3.4, ::1"
    assert fields[b"forwarded"] == b'for="[::1]";proto=https;host="api.test"'
    assert fields[b"mux-timeout"] == b"1500"
    grpc = dict(
        upstream_headers(
            [], client=None, downstream_protocol="http/1.1", scheme="", authority="",
            grpc=True, deadline=10.0, now=9.9995,
        )
    )  # fmt: skip
    assert grpc[b"via"] == b"1.1 mux" and grpc[b"forwarded"] == b"for=unknown;proto=http"
    assert grpc[b"grpc-timeout"] == b"1m"
    none = dict(
        upstream_headers(
            [], client="1.2.3.4", downstream_protocol="mux", scheme="http", authority="",
            grpc=False, deadline=math.inf, now=0.0,
        )
    )  # fmt: skip
    assert b"mux-timeout" not in none and b"grpc-timeout" not in none


def test_grpc_timeout_values_fit_eight_digits() -> None:
    assert grpc_timeout_value(0.25) == b"250m"
    assert grpc_timeout_value(10**6) == b"1000000S"
    assert grpc_timeout_value(10**9) == b"99999999S"
    assert forwarded_for("10.0.0.1") == b"10.0.0.1"


def test_response_headers_via_by_upstream_protocol() -> None:
    upstream = [(b"connection", b"keep-alive"), (b"keep-alive", b"5"), (b"x", b"1")]
    assert response_headers(upstream, UpstreamProtocol.HTTP1) == [
        (b"x", b"1"),
        (b"via", b"1.1 mux"),
    ]
    assert response_headers([], UpstreamProtocol.H2) == [(b"via", b"2 mux")]


# ------------------------------------------------------------- backpressure

TOTAL = 32 * 1024 * 1024
PIECE = 256 * 1024


class Counted:
    """An upstream writing TOTAL bytes as fast as flow control lets it, counting them."""

    def __init__(self) -> None:
        self.written = 0

    async def __call__(self, request: Request) -> None:
        response = await request.respond(200, [(b"content-length", str(TOTAL).encode())])
        block = b"\x5a" * PIECE
        while self.written < TOTAL:
            await response.write(block)
            self.written += PIECE
        await response.end()


@pytest.mark.parametrize("downstream", ["mux", "h2"])
@pytest.mark.parametrize("protocol", UPSTREAMS)
async def test_slow_reader_stalls_the_upstream_and_memory_stays_bounded(
    nursery: trio.Nursery, downstream: str, protocol: UpstreamProtocol
) -> None:
    app = Counted()
    upstream: Server = await nursery.start(
        Server(app, ServerConfig(host="127.0.0.1", port=0)).serve
    )
    gateway = await start_gateway(nursery, single_cluster(protocol, upstream.port))
    target = f"127.0.0.1:{port_of(gateway)}"
    tracemalloc.start()
    try:
        async with (
            mux_client.connect(target, protocol=downstream) as client,  # type: ignore[arg-type]
            client.stream("GET", "/big") as call,
        ):
            received = len(await call.receive())
            # The client stops reading: the upstream must stop writing (windows full).
            before = -1
            with trio.fail_after(10):
                while app.written != before:
                    before = app.written
                    await trio.sleep(0.3)
            stalled_at = app.written
            assert stalled_at < 8 * 1024 * 1024, stalled_at  # measured 0.25-0.75 MiB
            await trio.sleep(0.3)
            assert app.written == stalled_at  # still stalled: nothing buffers the rest
            # Read the rest at a limited rate; traced memory stays bounded by the windows.
            tracemalloc.reset_peak()
            with trio.fail_after(60):
                async for chunk in call:
                    received += len(chunk)
                    if received % (4 * 1024 * 1024) < len(chunk):
                        await trio.sleep(0.01)
            _, peak = tracemalloc.get_traced_memory()
        assert received == TOTAL
        assert peak < 16 * 1024 * 1024, peak  # measured 1.7-5.9 MB
    finally:
        tracemalloc.stop()
