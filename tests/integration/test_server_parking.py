"""Idle connections park (no task) and resume invisibly, over real loopback sockets.

Covers: park and serve again, hundreds parked at once, idle timeout and keepalive
while parked, graceful shutdown reaching parked connections, a peer closing a
parked connection, TLS connections parking and resuming.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path

import pytest
import trio
import trustme
from conftest import Harness

from mux.config import ServerConfig
from mux.core import events as ev
from mux.core.connection import MuxConnection
from mux.core.sniff import ALPN_PROTOCOLS
from mux.driver import ConnectionDriver
from mux.errors import ErrorCode
from mux.server.demo import app as demo_app
from mux.server.server import Server

PARK = 0.05


def _config(**kw: object) -> ServerConfig:
    return ServerConfig(host="127.0.0.1", port=0, park_delay=PARK, **kw)  # type: ignore[arg-type]


async def _until(predicate: Callable[[], bool], within: float = 5.0) -> None:
    with trio.fail_after(within):
        while not predicate():  # noqa: ASYNC110 (polling a server counter)
            await trio.sleep(0.01)


async def _raw_peer(port: int) -> tuple[trio.SocketStream, MuxConnection]:
    """A hand-driven mux client: handshake done, then idle."""
    tcp = await trio.open_tcp_stream("127.0.0.1", port)
    peer = MuxConnection(client_side=True)
    peer.initiate_connection()
    await tcp.send_all(peer.data_to_send())
    with trio.fail_after(5):
        while not any(isinstance(e, ev.SettingsChanged) for e in await _read(tcp, peer)):
            pass
    await tcp.send_all(peer.data_to_send())  # SETTINGS ack
    return tcp, peer


async def _read(tcp: trio.SocketStream, peer: MuxConnection) -> list[ev.Event]:
    data = await tcp.receive_some(65536)
    if not data:
        return [ev.ConnectionClosed()]
    return peer.receive_data(bytes(data))


async def _events_until_eof(
    tcp: trio.SocketStream, peer: MuxConnection, *, answer: bool
) -> list[ev.Event]:
    seen: list[ev.Event] = []
    while True:
        events = await _read(tcp, peer)
        seen += events
        if any(isinstance(e, ev.ConnectionClosed) for e in events):
            return seen
        if answer:
            out = peer.data_to_send()
            if out:
                await tcp.send_all(out)


async def test_idle_connection_parks_and_is_served_again(harness: Harness) -> None:
    server = await harness.server(demo_app, _config())
    client = await harness.client(server.port)
    assert (await harness.request(client, "/echo", b"one"))[2] == b"one"
    await _until(lambda: server.parked_count == 1)
    status, _, body = await harness.request(client, "/echo", b"two")
    assert (status, body) == (200, b"two")
    assert server.parked_count == 0 or server.parked_total >= 2
    await _until(lambda: server.parked_count == 1)
    assert server.parked_total >= 2 and server.connection_count == 1


async def test_parking_disabled_keeps_connections_active(harness: Harness) -> None:
    server = await harness.server(demo_app, ServerConfig(host="127.0.0.1", port=0, park_delay=None))
    client = await harness.client(server.port)
    await harness.request(client, "/echo", b"x")
    await trio.sleep(0.2)
    assert server.parked_total == 0 and server.connection_count == 1


async def test_hundreds_parked_at_once_all_served_again(harness: Harness) -> None:
    count = 500
    server = await harness.server(demo_app, _config())
    clients = [await harness.client(server.port) for _ in range(count)]
    await _until(lambda: server.parked_count == count, within=20)
    bodies: list[bytes] = []

    async def one(client: ConnectionDriver, i: int) -> None:
        status, _, body = await harness.request(client, "/echo", b"n%d" % i)
        assert status == 200
        bodies.append(body)

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            for i, client in enumerate(clients):
                nursery.start_soon(one, client, i)
    assert sorted(bodies) == sorted(b"n%d" % i for i in range(count))
    await _until(lambda: server.parked_count == count, within=20)
    assert server.connection_count == count


async def test_idle_timeout_closes_a_parked_connection(harness: Harness) -> None:
    server = await harness.server(demo_app, _config(idle_timeout=0.4))
    tcp, peer = await _raw_peer(server.port)
    await _until(lambda: server.parked_count == 1)
    with trio.fail_after(5):
        seen = await _events_until_eof(tcp, peer, answer=True)
    goaways = [e for e in seen if isinstance(e, ev.GoAwayReceived)]
    assert goaways and goaways[0].error_code == ErrorCode.NO_ERROR
    assert b"idle" in goaways[0].debug_data
    await _until(lambda: server.connection_count == 0)
    assert server.parked_count == 0


async def test_keepalive_pings_a_parked_connection(harness: Harness) -> None:
    server = await harness.server(demo_app, _config(keepalive_interval=0.2, keepalive_timeout=0.3))
    tcp, peer = await _raw_peer(server.port)
    pings = 0
    with trio.move_on_after(1.0):
        while True:
            events = await _read(tcp, peer)
            pings += sum(isinstance(e, ev.PingReceived) for e in events)
            assert not any(isinstance(e, ev.ConnectionClosed) for e in events)
            await tcp.send_all(peer.data_to_send())  # PONG
    assert pings >= 2
    assert server.connection_count == 1
    await _until(lambda: server.parked_count == 1)
    # Stop answering: the unanswered keepalive PING closes the connection.
    with trio.fail_after(5):
        seen = await _events_until_eof(tcp, peer, answer=False)
    assert any(isinstance(e, ev.GoAwayReceived) and b"keepalive" in e.debug_data for e in seen)
    await _until(lambda: server.connection_count == 0)


@pytest.mark.parametrize("answer", [True, False])
async def test_graceful_shutdown_reaches_parked_connections(answer: bool) -> None:
    done = trio.Event()
    async with trio.open_nursery() as nursery:

        async def run_server(task_status: trio.TaskStatus[Server]) -> None:
            config = _config(drain_timeout=3.0)
            await Server(demo_app, config).serve(task_status=task_status)
            done.set()

        server: Server = await nursery.start(run_server)
        peers = [await _raw_peer(server.port) for _ in range(20)]
        await _until(lambda: server.parked_count == 20)
        started = trio.current_time()
        server.shutdown()
        results: list[list[ev.Event]] = []

        async def drain(tcp: trio.SocketStream, peer: MuxConnection) -> None:
            results.append(await _events_until_eof(tcp, peer, answer=answer))

        with trio.fail_after(10):
            async with trio.open_nursery() as readers:
                for tcp, peer in peers:
                    readers.start_soon(drain, tcp, peer)
            await done.wait()
        assert trio.current_time() - started < 3.0 + 1.0
    assert len(results) == 20
    for seen in results:
        ids = [e.last_stream_id for e in seen if isinstance(e, ev.GoAwayReceived)]
        # Without a PONG the final GOAWAY waits for shutdown_ping (5 s), past
        # the drain timeout: the server closes after step one.
        assert ids == ([2**31 - 1, 0] if answer else [2**31 - 1])
    assert server.connection_count == 0 and server.parked_count == 0


async def test_peer_closing_a_parked_connection_frees_it(harness: Harness) -> None:
    server = await harness.server(demo_app, _config())
    peers = [await _raw_peer(server.port) for _ in range(10)]
    await _until(lambda: server.parked_count == 10)
    for tcp, _ in peers:
        await tcp.aclose()
    await _until(lambda: server.connection_count == 0)
    assert server.parked_count == 0


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, Path, Path]:
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    folder = tmp_path_factory.mktemp("tls")
    chain, key = folder / "chain.pem", folder / "key.pem"
    cert.private_key_pem.write_to_path(key)
    chain.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    return ca, chain, key


async def test_tls_connection_parks_and_resumes(
    harness: Harness, tls_files: tuple[trustme.CA, Path, Path]
) -> None:
    ca, chain, key = tls_files
    server = await harness.server(demo_app, _config(tls_cert=str(chain), tls_key=str(key)))
    context = ssl.create_default_context()
    ca.configure_trust(context)
    context.set_alpn_protocols(list(ALPN_PROTOCOLS))
    tcp = await trio.open_tcp_stream("127.0.0.1", server.port)
    tls = trio.SSLStream(tcp, context, server_hostname="localhost")
    await tls.do_handshake()
    assert tls.selected_alpn_protocol() == "mux/1"
    client = await harness.drive(tls, client_side=True)
    for i in range(3):
        await _until(lambda: server.parked_count == 1)
        status, _, body = await harness.request(client, "/echo", b"tls%d" % i)
        assert (status, body) == (200, b"tls%d" % i)
    assert server.parked_total >= 3
