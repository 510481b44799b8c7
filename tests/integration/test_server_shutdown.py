"""Graceful shutdown: two-step GOAWAY, in-flight streams finish, new ones refused.

Includes a real ``mux serve`` subprocess receiving SIGTERM.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest
import trio
from conftest import Harness

from mux.config import ServerConfig
from mux.core import events as ev
from mux.core.connection import MuxConnection
from mux.errors import ConnectionClosed
from mux.server.demo import app as demo_app
from mux.server.server import Server
from tests.subprocs import start_mux_serve

ROOT = Path(__file__).resolve().parents[2]


async def test_two_step_goaway_on_the_wire() -> None:
    done = trio.Event()
    async with trio.open_nursery() as nursery:

        async def run_server(task_status: trio.TaskStatus[Server]) -> None:
            await Server(demo_app, ServerConfig(host="127.0.0.1", port=0)).serve(
                task_status=task_status
            )
            done.set()

        server: Server = await nursery.start(run_server)
        tcp = await trio.open_tcp_stream("127.0.0.1", server.port)
        peer = MuxConnection(client_side=True)
        peer.initiate_connection()
        peer.send_headers(1, [(b":method", b"GET"), (b":path", b"/delay/300")], end_stream=True)
        await tcp.send_all(peer.data_to_send())
        await trio.sleep(0.1)
        server.shutdown()
        seen: list[object] = []
        body = b""
        with trio.fail_after(10):
            while data := await tcp.receive_some(65536):
                for event in peer.receive_data(bytes(data)):
                    if isinstance(event, ev.DataReceived):
                        body += event.data
                        peer.acknowledge_received_data(event.flow_controlled_length, 1)
                    seen.append(event)
                await tcp.send_all(peer.data_to_send())  # PONG, ACKs
            await done.wait()
    goaways = [e.last_stream_id for e in seen if isinstance(e, ev.GoAwayReceived)]
    assert goaways == [2**31 - 1, 1]
    first, final = (i for i, e in enumerate(seen) if isinstance(e, ev.GoAwayReceived))
    assert any(isinstance(e, ev.PingReceived) for e in seen[first:final])
    assert any(isinstance(e, ev.StreamEnded | ev.DataReceived) and e.stream_id == 1 for e in seen)
    assert json.loads(body) == {"delay_ms": 300}


async def test_inflight_finish_new_streams_refused(harness: Harness) -> None:
    server = await harness.server(demo_app)
    client = await harness.client(server.port)
    results: list[int] = []

    async def slow_call() -> None:
        results.append((await harness.request(client, "/delay/300", method="GET"))[0])

    async with trio.open_nursery() as nursery:
        for _ in range(5):
            nursery.start_soon(slow_call)
        await trio.sleep(0.1)
        server.shutdown()
        await trio.sleep(0.05)
        with pytest.raises(ConnectionClosed, match="safe to retry"):
            await client.open_stream([(b":method", b"GET"), (b":path", b"/echo")])
    assert results == [200] * 5
    with trio.fail_after(5):
        await client.wait_closed()
    with pytest.raises(OSError):
        await trio.open_tcp_stream("127.0.0.1", server.port)


async def test_drain_timeout_bounds_shutdown(harness: Harness) -> None:
    config = ServerConfig(host="127.0.0.1", port=0, drain_timeout=0.3)
    server = await harness.server(demo_app, config)
    client = await harness.client(server.port)
    stream = await client.open_stream([(b":method", b"GET"), (b":path", b"/delay/60000")], True)
    await trio.sleep(0.05)
    start = trio.current_time()
    server.shutdown()
    with pytest.raises(ConnectionClosed), trio.fail_after(5):
        await stream.receive_headers()
    assert 0.25 < trio.current_time() - start < 3


async def test_cli_serve_sigterm_drains(harness: Harness) -> None:
    proc, port = await start_mux_serve("--log-level", "WARNING", stderr=subprocess.PIPE, limit=20)
    try:
        client = await harness.client(port)
        assert (await harness.request(client, "/echo", b"hi"))[2] == b"hi"
        stream = await client.open_stream([(b":method", b"GET"), (b":path", b"/delay/400")], True)
        await trio.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        with trio.fail_after(10):
            assert dict(await stream.receive_headers())[b":status"] == b"200"
            assert json.loads(b"".join([c async for c in stream])) == {"delay_ms": 400}
            code = await trio.to_thread.run_sync(proc.wait)
        assert code == 0
    finally:
        proc.kill()
        proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


def test_cli_errors() -> None:
    from mux.cli import main, parse_listen

    assert parse_listen("0.0.0.0:9000") == ("0.0.0.0", 9000)
    assert parse_listen("[::1]:80") == ("::1", 80)
    assert main(["serve", "--app", "no_such_module_xyz:app"]) == 2
    with pytest.raises(SystemExit):
        main(["serve", "--listen", "nope"])


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--log-level", "bogus", "unknown log level 'bogus'"),
        ("--idle-timeout", "soon", "expected seconds >= 0, got 'soon'"),
        ("--idle-timeout", "nan", "expected seconds >= 0, got 'nan'"),
    ],
)
def test_cli_bad_flag_values_are_usage_errors(
    capsys: pytest.CaptureFixture[str], flag: str, value: str, message: str
) -> None:
    from mux.cli import main

    with pytest.raises(SystemExit) as info:
        main(["serve", flag, value])
    assert info.value.code == 2
    assert message in capsys.readouterr().err
