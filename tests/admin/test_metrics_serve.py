"""``/metrics`` of a server: each family produced by a real situation over loopback sockets,
read back through ``prometheus_client.parser`` (so the text format is checked too)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import attrs
import h2.config
import h2.connection
import h2.errors
import h2.events
import httpx
import trio
from prometheus_client.parser import text_string_to_metric_families

import mux_client
from mux.admin.app import start_admin
from mux.admin.serve import serve_sources
from mux.config import ServerConfig
from mux.ops.metrics import Ops
from mux.server.demo import app
from mux.server.server import Server
from tests.admin.opskit import eventually


@attrs.define
class Served:
    server: Server
    admin: Server
    address: str

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin.port}"


@asynccontextmanager
async def served(**config: object) -> AsyncIterator[Served]:
    async with trio.open_nursery() as nursery:
        server = Server(app, ServerConfig(host="127.0.0.1", port=0, drain_timeout=1.0, **config))  # type: ignore[arg-type]
        server.ops = Ops(lambda: [server])
        await nursery.start(server.serve)
        admin = await start_admin(nursery, serve_sources(server), ("127.0.0.1", 0))
        try:
            yield Served(server, admin, f"127.0.0.1:{server.port}")
        finally:
            nursery.cancel_scope.cancel()


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(url: str) -> Samples:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(url + "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[sample.name, frozenset(sample.labels.items())] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name`` over the samples whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, lab), v in samples.items() if n == name and wanted <= lab)


async def raw_h2(address: str) -> tuple[trio.SocketStream, h2.connection.H2Connection]:
    host, port = address.rsplit(":", 1)
    sock = await trio.open_tcp_stream(host, int(port))
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    await sock.send_all(conn.data_to_send())
    return sock, conn


async def read_until_closed(sock: trio.SocketStream) -> None:
    with trio.fail_after(5):
        while True:
            try:
                if not await sock.receive_some(65536):
                    return
            except trio.BrokenResourceError:
                return


REQUEST = [(":method", "GET"), (":scheme", "http"), (":authority", "x"), (":path", "/bytes/1")]


async def test_requests_connections_bytes_and_latency_by_protocol() -> None:
    async with served() as s:
        async with mux_client.connect(s.address) as client:
            assert (await client.request("POST", "/echo", body=b"hello")).status == 200
            assert (await client.request("GET", "/nope")).status == 404
        async with httpx.AsyncClient(timeout=10) as h1:
            assert (await h1.get(f"http://{s.address}/bytes/1000")).status_code == 200
        async with httpx.AsyncClient(http1=False, http2=True, timeout=10) as h2c:
            assert (
                await h2c.post(f"http://{s.address}/echo", content=b"x" * 300)
            ).status_code == 200
        await eventually(lambda: not s.server.connection_count)
        m = await scrape(s.admin_url)
    assert value(m, "mux_requests_total", protocol="mux", method="POST", status="2xx") == 1
    assert value(m, "mux_requests_total", protocol="mux", method="GET", status="4xx") == 1
    assert value(m, "mux_requests_total", protocol="http/1.1", method="GET", status="2xx") == 1
    assert value(m, "mux_requests_total", protocol="h2", method="POST", status="2xx") == 1
    assert value(m, "mux_streams_started_total", protocol="mux") == 2
    assert value(m, "mux_request_body_bytes_total", protocol="mux") == 5
    assert value(m, "mux_request_body_bytes_total", protocol="h2") == 300
    assert value(m, "mux_response_body_bytes_total", protocol="http/1.1") == 1000
    assert value(m, "mux_request_duration_seconds_count", protocol="mux") == 2
    assert value(m, "mux_request_duration_seconds_bucket", protocol="h2", le="+Inf") == 1
    for protocol in ("mux", "h2", "http/1.1"):
        assert value(m, "mux_connections_accepted_total", protocol=protocol) == 1
        assert value(m, "mux_connections_closed_total", protocol=protocol) == 1
        assert value(m, "mux_connections_open", protocol=protocol) == 0
    # the h2 and mux clients said goodbye with a GOAWAY
    assert value(m, "mux_goaway_received_total", code="NO_ERROR") >= 1


async def test_open_and_parked_connections_and_open_streams() -> None:
    async with served(park_delay=0.05) as s:
        sock, conn = await raw_h2(s.address)
        conn.send_headers(1, [*REQUEST[:3], (":path", "/delay/3000")], end_stream=True)
        await sock.send_all(conn.data_to_send())
        idle, _ = await raw_h2(s.address)
        await eventually(lambda: s.server.parked_count >= 1 and s.server.open_stream_count >= 1)
        m = await scrape(s.admin_url)
        assert value(m, "mux_connections_open", protocol="h2") == 2
        assert value(m, "mux_connections_parked") == 1
        assert value(m, "mux_streams_open") == 1
        # the client gives up on the slow request: a reset by CANCEL
        conn.reset_stream(1, h2.errors.ErrorCodes.CANCEL)
        await sock.send_all(conn.data_to_send())
        await eventually(lambda: not s.server.open_stream_count)
        m = await scrape(s.admin_url)
        assert value(m, "mux_stream_resets_total", protocol="h2", code="CANCEL") == 1
        assert value(m, "mux_requests_total", protocol="h2", status="reset") == 1
        await sock.aclose()
        await idle.aclose()


async def test_flow_control_stalls() -> None:
    async with served() as s:
        sock, conn = await raw_h2(s.address)  # a 65535-byte stream window, never opened
        conn.send_headers(1, [*REQUEST[:3], (":path", "/bytes/100000")], end_stream=True)
        await sock.send_all(conn.data_to_send())
        received = 0
        with trio.fail_after(5):
            while received < 65535:  # the server sends the window, then waits
                for event in conn.receive_data(await sock.receive_some(65536)):
                    if hasattr(event, "flow_controlled_length"):
                        received += event.flow_controlled_length
        await trio.sleep(0.2)  # the server's stream waits for credit meanwhile
        conn.increment_flow_control_window(100000)
        conn.increment_flow_control_window(100000, stream_id=1)
        await sock.send_all(conn.data_to_send())
        await eventually(lambda: not s.server.open_stream_count)
        m = await scrape(s.admin_url)
        await sock.aclose()
    assert value(m, "mux_flow_control_stalls_total") >= 1
    assert value(m, "mux_flow_control_stall_seconds_total") >= 0.15


#: What the flood/protocol-error/not-a-protocol connections add: (name, labels) -> count.
EXPECTED: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {
    ("mux_goaway_sent_total", (("code", "ENHANCE_YOUR_CALM"),)): 1,
    ("mux_goaway_sent_total", (("code", "PROTOCOL_ERROR"),)): 1,
    ("mux_peer_errors_total", (("kind", "ENHANCE_YOUR_CALM"),)): 1,
    ("mux_peer_errors_total", (("kind", "PROTOCOL_ERROR"),)): 1,
    ("mux_peer_errors_total", (("kind", "not a protocol"),)): 1,
    ("mux_connections_closed_total", (("protocol", "h2"), ("reason", "protocol_error"))): 2,
    ("mux_connections_closed_total", (("protocol", "none"), ("reason", "no_protocol"))): 1,
}


async def test_goaway_sent_peer_errors_floods_and_close_reasons() -> None:
    async with served() as s:
        # Some of these counters are process-wide (mux.logs.PEER_ERRORS, which the
        # periodic summary also reads, and the GOAWAY counts): earlier tests in
        # this process count too, so the test checks what it adds.
        first = await scrape(s.admin_url)
        before = {key: value(first, key[0], **dict(key[1])) for key in EXPECTED}
        # a flood of empty DATA frames: ENHANCE_YOUR_CALM
        sock, conn = await raw_h2(s.address)
        conn.send_headers(1, [*REQUEST[:3], (":path", "/sink")])
        for _ in range(20):
            conn.send_data(1, b"")
        await sock.send_all(conn.data_to_send())
        await read_until_closed(sock)
        # a frame that breaks the protocol (DATA on stream 0): PROTOCOL_ERROR
        sock2, _ = await raw_h2(s.address)
        await sock2.send_all(b"\x00\x00\x01\x00\x00\x00\x00\x00\x00x")
        await read_until_closed(sock2)
        # bytes of no protocol at all
        host, port = s.address.rsplit(":", 1)
        sock3 = await trio.open_tcp_stream(host, int(port))
        await sock3.send_all(b"\x16\x03\x01garbage that is not a preface\r\n\r\n")
        await read_until_closed(sock3)
        await eventually(lambda: not s.server.connection_count)
        m = await scrape(s.admin_url)
    added = {key: value(m, key[0], **dict(key[1])) - before[key] for key in EXPECTED}
    assert added == EXPECTED


async def test_graceful_shutdown_counts_goaway_no_error() -> None:
    async with served() as s:
        async with mux_client.connect(s.address) as client:
            assert (await client.request("GET", "/bytes/1")).status == 200
            before = value(await scrape(s.admin_url), "mux_goaway_sent_total", code="NO_ERROR")
            s.server.shutdown()
            await eventually(lambda: not s.server.connection_count)
        m = await scrape(s.admin_url)
    assert value(m, "mux_goaway_sent_total", code="NO_ERROR") >= before + 1
    assert value(m, "mux_connections_closed_total", protocol="mux", reason="graceful") == 1


async def test_an_h2c_upgrade_is_counted_as_the_http1_connection_it_began_as() -> None:
    async with served() as s:
        host, port = s.address.rsplit(":", 1)
        sock = await trio.open_tcp_stream(host, int(port))
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        settings = conn.initiate_upgrade_connection()
        await sock.send_all(
            b"GET /bytes/4 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
            b"Upgrade: h2c\r\nHTTP2-Settings: " + settings + b"\r\n\r\n"
        )
        head = b""
        with trio.fail_after(5):
            while b"\r\n\r\n" not in head:
                head += await sock.receive_some(65536)
        assert head.startswith(b"HTTP/1.1 101")
        await sock.send_all(conn.data_to_send())  # the client preface, after the 101
        events = conn.receive_data(head[head.index(b"\r\n\r\n") + 4 :])
        with trio.fail_after(5):  # the upgraded request's response, to its end
            while not any(isinstance(e, h2.events.StreamEnded) for e in events):
                data = await sock.receive_some(65536)
                assert data, "closed before the upgraded request's response ended"
                events += conn.receive_data(data)
                await sock.send_all(conn.data_to_send())
        await eventually(lambda: s.server.open_stream_count == 0)
        await sock.aclose()
        await eventually(lambda: not s.server.connection_count)
        m = await scrape(s.admin_url)
    assert value(m, "mux_requests_total", protocol="h2", status="2xx") == 1  # upgraded request
    assert value(m, "mux_connections_accepted_total", protocol="http/1.1") == 1
    assert value(m, "mux_connections_closed_total", protocol="http/1.1") == 1
    assert value(m, "mux_connections_open", protocol="http/1.1") == 0
    assert value(m, "mux_connections_open", protocol="h2") == 0
