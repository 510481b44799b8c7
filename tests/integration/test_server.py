"""The mux server over real loopback sockets: demo services, handler errors, isolation."""

from __future__ import annotations

import hashlib
import json

import pytest
import trio
from conftest import Harness

from mux.config import ServerConfig
from mux.core import events as ev
from mux.core.connection import MuxConnection
from mux.core.limits import ProtocolLimits
from mux.errors import ErrorCode, StreamReset
from mux.server.app import Request, Response, Router
from mux.server.demo import app as demo_app
from mux.server.server import Server


async def test_echo_returns_body_and_headers(harness: Harness) -> None:
    server = await harness.server(demo_app)
    client = await harness.client(server.port)
    status, headers, body = await harness.request(
        client,
        "/echo",
        b"ping" * 1000,
        headers=[(b"x-trace", b"abc"), (b"content-length", b"4000")],
    )
    assert status == 200 and body == b"ping" * 1000
    assert (b"x-trace", b"abc") in headers
    assert b"content-length" not in dict(headers)


@pytest.mark.parametrize("n", [0, 1, 65536, 3_000_000])
async def test_bytes(harness: Harness, n: int) -> None:
    server = await harness.server(demo_app)
    client = await harness.client(server.port)
    status, headers, body = await harness.request(client, f"/bytes/{n}", method="GET")
    assert status == 200 and len(body) == n
    assert dict(headers)[b"content-length"] == str(n).encode()
    assert body == (bytes(range(256)) * (n // 256 + 1))[:n]


@pytest.mark.parametrize(
    "path",
    ["/bytes/-1", "/bytes/x", f"/bytes/{(1 << 30) + 1}", "/delay/61000", "/delay/" + "9" * 5000],
)
async def test_bad_parameters_are_400(harness: Harness, path: str) -> None:
    server = await harness.server(demo_app)
    client = await harness.client(server.port)
    status, _, body = await harness.request(client, path, method="GET")
    assert status == 400 and b"must be an integer" in body


async def test_non_ascii_digit_parameter_is_400(harness: Harness) -> None:
    # b"\xb2" decodes (latin-1) to "\u00b2", which str.isdigit() accepts and int() refuses.
    server = await harness.server(demo_app)
    client = await harness.client(server.port)
    stream = await client.open_stream([(b":method", b"GET"), (b":path", b"/delay/\xb2")], True)
    assert dict(await stream.receive_headers())[b":status"] == b"400"
    assert b"must be an integer" in b"".join([chunk async for chunk in stream])


async def test_stream_sends_separate_chunks(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Observe DATA frame boundaries: do not merge frames that arrive in one read.
    monkeypatch.setattr(MuxConnection, "merge_data", False)
    server = await harness.server(demo_app)
    client = await harness.client(server.port)
    stream = await client.open_stream([(b":method", b"GET"), (b":path", b"/stream/5")], True)
    assert (await stream.receive_headers())[0] == (b":status", b"200")
    chunks = [chunk async for chunk in stream]
    assert b"".join(chunks).splitlines() == [b'{"id": %d}' % i for i in range(5)]
    assert len(chunks) >= 2  # written one by one, not as one body


async def test_delay_sink_and_404(harness: Harness) -> None:
    server = await harness.server(demo_app)
    client = await harness.client(server.port)
    start = trio.current_time()
    status, _, body = await harness.request(client, "/delay/200", method="GET")
    assert status == 200 and json.loads(body) == {"delay_ms": 200}
    assert trio.current_time() - start >= 0.2
    payload = bytes(range(256)) * 8000
    status, _, body = await harness.request(client, "/sink", payload)
    expected = {"bytes": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}
    assert status == 200 and json.loads(body) == expected
    status, _, body = await harness.request(client, "/nowhere", method="GET")
    assert status == 404 and b"/nowhere" in body


async def test_handler_errors_never_kill_the_connection(harness: Harness) -> None:
    router = Router()

    @router.route("/boom")
    async def boom(request: Request) -> Response:
        raise RuntimeError("handler bug")

    @router.route("/late-boom")
    async def late_boom(request: Request) -> None:
        response = await request.respond(200)
        await response.write(b"partial")
        raise RuntimeError("bug after headers")

    @router.route("/ok")
    async def ok(request: Request) -> Response:
        return Response(201, {"x-kind": "ok"}, b"fine", trailers={"x-done": "1"})

    server = await harness.server(router)
    client = await harness.client(server.port)
    status, _, body = await harness.request(client, "/boom", method="GET")
    assert status == 500 and b"internal server error" in body
    with pytest.raises(StreamReset) as info:
        await harness.request(client, "/late-boom", method="GET")
    assert info.value.code == ErrorCode.INTERNAL_ERROR and info.value.remote
    stream = await client.open_stream([(b":method", b"GET"), (b":path", b"/ok")], True)
    assert dict(await stream.receive_headers())[b"x-kind"] == b"ok"
    assert await stream.receive_data() == b"fine"
    assert await stream.receive_trailers() == [(b"x-done", b"1")]


async def test_mux_timeout_header(harness: Harness) -> None:
    server = await harness.server(demo_app)
    client = await harness.client(server.port)
    status, _, _ = await harness.request(
        client, "/delay/5000", method="GET", headers=[(b"mux-timeout", b"100")]
    )
    assert status == 504
    status, _, body = await harness.request(
        client, "/delay/1", method="GET", headers=[(b"mux-timeout", b"soon")]
    )
    assert status == 400 and b"mux-timeout" in body


@pytest.mark.parametrize("value", [b"9" * 5000, b"12345678901", b"", b"\xd9\xa3", b"-1"])
async def test_mux_timeout_malformed_is_400(harness: Harness, value: bytes) -> None:
    # More digits than int() converts (4300) must not crash the handler into a 500.
    server = await harness.server(demo_app)
    client = await harness.client(server.port)
    status, _, body = await harness.request(
        client, "/delay/1", method="GET", headers=[(b"mux-timeout", value)]
    )
    assert status == 400 and b"mux-timeout" in body


async def test_mux_timeout_longer_than_a_day_is_clamped_not_refused(harness: Harness) -> None:
    """spec 5.7: up to 10 digits is valid; the server caps the deadline instead of a 400."""
    server = await harness.server(demo_app)
    client = await harness.client(server.port)
    status, _, _ = await harness.request(
        client, "/delay/1", method="GET", headers=[(b"mux-timeout", b"9999999999")]
    )
    assert status == 200


async def test_router_static_paths_keep_registration_order(harness: Harness) -> None:
    router = Router()

    @router.route("/{name}", methods=["POST"])
    async def named(request: Request) -> Response:
        return Response(200, body=b"param " + request.path_params["name"].encode())

    @router.route("/fixed")
    async def fixed(request: Request) -> Response:
        return Response(200, body=b"static")

    @router.route("/only-get", methods=["GET"])
    async def only_get(request: Request) -> Response:
        return Response(200, body=b"got")

    server = await harness.server(router)
    client = await harness.client(server.port)
    assert (await harness.request(client, "/fixed"))[2] == b"param fixed"  # earlier route wins
    assert (await harness.request(client, "/fixed", method="GET"))[2] == b"static"
    assert (await harness.request(client, "/only-get/", method="GET"))[2] == b"got"
    assert (await harness.request(client, "/only-get", method="PUT"))[0] == 405


async def test_peer_reset_cancels_a_handler_without_deadline(harness: Harness) -> None:
    router = Router()
    cancelled = trio.Event()

    @router.route("/hang")
    async def hang(request: Request) -> None:
        try:
            await trio.sleep_forever()
        finally:
            cancelled.set()

    server = await harness.server(router)
    client = await harness.client(server.port)
    stream = await client.open_stream([(b":method", b"GET"), (b":path", b"/hang")], True)
    await trio.sleep(0.05)
    stream.reset(ErrorCode.CANCEL)
    with trio.fail_after(5):
        await cancelled.wait()
    assert (await harness.request(client, "/hang/x", method="GET"))[0] == 404


async def test_disconnect_storms_leave_the_server_serving(harness: Harness) -> None:
    limits = ProtocolLimits(max_concurrent_streams=300)
    server = await harness.server(demo_app, ServerConfig(host="127.0.0.1", port=0, limits=limits))
    for _ in range(8):
        client = await harness.client(server.port)
        for i in range(250):
            path = "/delay/2000" if i % 2 else "/sink"
            stream = await client.open_stream([(b":method", b"POST"), (b":path", path.encode())])
            if i % 4 == 0:
                await stream.send_data(b"partial body")
        await trio.sleep(0.05)
        assert client.open_streams == 250
        await trio.aclose_forcefully(client._transport)  # vanish with 250 streams in flight
    for _ in range(500):  # bounded: 5 s
        if not server.connection_count:
            break
        await trio.sleep(0.01)
    assert server.connection_count == 0
    client = await harness.client(server.port)
    status, _, body = await harness.request(client, "/echo", b"alive")
    assert (status, body) == (200, b"alive")


async def _raw_exchange(port: int, data: bytes) -> bytes:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    await stream.send_all(data)
    received = b""
    with trio.fail_after(5):
        while chunk := await stream.receive_some(65536):
            received += chunk
    await stream.aclose()
    return received


@pytest.mark.parametrize(
    "garbage",
    [b"\x89MUX\r\n\x1a\x01" + b"\xff" * 64, b"\x89junk" * 20],
    ids=["mux-preface-then-junk", "mux-first-byte-then-junk"],
)
async def test_garbage_gets_goaway_and_others_are_unaffected(
    harness: Harness, garbage: bytes
) -> None:
    server = await harness.server(demo_app)
    client = await harness.client(server.port)
    slow = await client.open_stream([(b":method", b"GET"), (b":path", b"/delay/300")], True)
    reply = await _raw_exchange(server.port, garbage)
    peer = MuxConnection(client_side=True)
    peer.initiate_connection()
    events = peer.receive_data(reply)
    goaways = [e for e in events if isinstance(e, ev.GoAwayReceived)]
    assert goaways and goaways[-1].error_code != ErrorCode.NO_ERROR
    assert dict(await slow.receive_headers())[b":status"] == b"200"
    assert await slow.receive_data()


@pytest.mark.parametrize(
    ("garbage", "status"),
    [
        (b"GET /nowhere HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n", b"404"),
        (b"GET / HTTP/1.1\r\nbad header line\r\n\r\n", b"400"),
    ],
    ids=["http1-request", "bad-http1-header"],
)
async def test_non_mux_bytes_are_answered_as_http1(
    harness: Harness, garbage: bytes, status: bytes
) -> None:
    server = await harness.server(demo_app)
    client = await harness.client(server.port)
    slow = await client.open_stream([(b":method", b"GET"), (b":path", b"/delay/300")], True)
    reply = await _raw_exchange(server.port, garbage)
    assert reply.startswith(b"HTTP/1.1 " + status), reply[:80]
    assert dict(await slow.receive_headers())[b":status"] == b"200"


async def test_server_keeps_serving_when_a_connection_task_crashes(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mux.server.server as server_module

    calls = [0]
    real = server_module.select_engine

    def flaky(prefix: bytes, config: ServerConfig, *, tls: bool = False) -> MuxConnection | None:
        calls[0] += 1
        if calls[0] == 1:
            raise RuntimeError("simulated bug in one connection")
        return real(prefix, config, tls=tls)  # type: ignore[return-value]

    monkeypatch.setattr(server_module, "select_engine", flaky)
    server = await harness.server(demo_app)
    assert await _raw_exchange(server.port, b"\x89MUX\r\n\x1a\x01") == b""
    client = await harness.client(server.port)
    assert (await harness.request(client, "/echo", b"x"))[0] == 200
    assert isinstance(server, Server)
