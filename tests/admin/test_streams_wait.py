"""Each waiting reason of ``/streams`` comes from a real situation over real sockets
(a server, real clients, the admin listener answering over HTTP/1.1)."""

from __future__ import annotations

from functools import partial

import trio
from conftest import Harness
from waitkit import RawH2Client, app, get_json, start_admin, wait_for_rows

from mux.config import ServerConfig
from mux.server.server import Server


async def setup(harness: Harness, **config: object) -> tuple[Server, int]:
    server = await harness.server(app(), ServerConfig(host="127.0.0.1", port=0, **config))  # type: ignore[arg-type]
    admin = await start_admin(harness.nursery, lambda: [server])
    return server, admin.port


async def test_zero_stream_window_shows_peer_stream_window(harness: Harness) -> None:
    server, admin = await setup(harness)
    client = await RawH2Client.open(harness.nursery, server.port, initial_window=0)
    stream_id = await client.get("/big")
    [row] = await wait_for_rows(admin, "peer stream window")
    assert row["stream_id"] == stream_id
    assert row["protocol"] == "h2" and row["method"] == "GET" and row["path"] == "/big"
    assert row["send_window"] == 0
    assert row["send_connection_window"] > 0
    assert row["bytes_out"] == 0


async def test_zero_connection_window_shows_connection_window(harness: Harness) -> None:
    server, admin = await setup(harness)
    client = await RawH2Client.open(harness.nursery, server.port, initial_window=1 << 20)
    await client.get("/big")
    [row] = await wait_for_rows(admin, "connection window")
    assert row["send_connection_window"] == 0
    assert row["send_window"] > 0
    assert row["bytes_out"] == 65535  # the default connection window, all used
    assert client.received == 65535


async def test_handler_that_never_answers_shows_handler(harness: Harness) -> None:
    server, admin = await setup(harness)
    client = await harness.client(server.port)
    stream = await client.open_stream([(b":method", b"GET"), (b":path", b"/never")], True)
    [row] = await wait_for_rows(admin, "handler")
    assert row["stream_id"] == stream.stream_id and row["protocol"] == "mux"
    assert row["path"] == "/never"
    await trio.sleep(0.3)
    [row] = await wait_for_rows(admin, "handler")
    assert row["waiting"] >= 0.3  # the wait started when the request arrived


async def test_handler_that_never_reads_a_body_shows_downstream_reader(harness: Harness) -> None:
    server, admin = await setup(harness)
    client = await harness.client(server.port)
    stream = await client.open_stream([(b":method", b"POST"), (b":path", b"/never")])
    harness.nursery.start_soon(partial(stream.send_data, b"y" * 4_000_000, end_stream=True))
    [row] = await wait_for_rows(admin, "downstream reader")
    assert row["receive_window"] == 0 or row["receive_connection_window"] == 0
    assert row["bytes_in"] > 0


async def test_handler_reading_a_silent_client_shows_peer(harness: Harness) -> None:
    server, admin = await setup(harness)
    client = await harness.client(server.port)
    await client.open_stream([(b":method", b"POST"), (b":path", b"/read")])
    [row] = await wait_for_rows(admin, "peer")
    assert row["path"] == "/read" and not row["remote_ended"]


async def test_idle_connection_is_parked(harness: Harness) -> None:
    server, admin = await setup(harness, park_delay=0.05)
    client = await harness.client(server.port)
    status, _, _ = await harness.request(client, "/read", b"hi")
    assert status == 200
    with trio.fail_after(10):
        while True:
            body = await get_json(admin, "/streams")
            if body["totals"].get("parked idle") == 1:
                break
            await trio.sleep(0.05)
    assert body["streams"] == [] and body["parked"] == 1
    conns = await get_json(admin, "/connections")
    [conn] = conns["connections"]
    assert conn["parked"] and conn["state"] == "parked idle" and conn["protocol"] == "mux"
    assert conn["bytes_in"] > 0 and conn["bytes_out"] > 0 and conn["age"] > 0
    assert conn["peer"].startswith("127.0.0.1:")
    assert conns["totals"] == {"parked idle": 1}


async def test_filters_and_connections_totals(harness: Harness) -> None:
    server, admin = await setup(harness)
    client = await harness.client(server.port)
    await client.open_stream([(b":method", b"GET"), (b":path", b"/never")], True)
    await client.open_stream([(b":method", b"POST"), (b":path", b"/read")])
    await wait_for_rows(admin, "handler")
    await wait_for_rows(admin, "peer")
    body = await get_json(admin, "/streams")
    assert body["totals"] == {"handler": 1, "peer": 1}
    only = await get_json(admin, "/streams?reason=peer")
    assert [r["path"] for r in only["streams"]] == ["/read"]
    cid = body["streams"][0]["cid"]
    by_conn = await get_json(admin, f"/streams?connection={cid}")
    assert len(by_conn["streams"]) == 2
    none = await get_json(admin, "/streams?connection=nope")
    assert none["streams"] == []
    conns = await get_json(admin, "/connections")
    [conn] = conns["connections"]
    assert conn["cid"] == cid and conn["streams"] == 2 and not conn["parked"]
