"""The SDK reads the way httpx users expect: str-keyed multi-mapping headers,
``text``/``json()``, and a SyncClient that streams too. Real demo server on loopback."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator

import pytest
import trio

import mux_client
from mux.config import ServerConfig
from mux.server import Request, Response, Router, Server
from mux.server.demo import app as demo_app
from mux_client import Call, HeaderMap


def _app() -> Router:
    app = Router()

    @app.route("/multi")
    async def multi(request: Request) -> Response:
        headers = [(b"set-cookie", b"a=1"), (b"Set-Cookie", b"b=2"), (b"x-caf", "é".encode())]
        return Response(
            200,
            [(b"content-type", b"text/plain; charset=latin-1"), *headers],
            "café".encode("latin-1"),
        )

    app.add("/{a}", demo_app)
    app.add("/{a}/{b}", demo_app)
    return app


@pytest.fixture
async def target(nursery: trio.Nursery) -> AsyncIterator[str]:
    server: Server = await nursery.start(
        Server(_app(), ServerConfig(host="127.0.0.1", port=0)).serve
    )
    yield f"127.0.0.1:{server.port}"
    server.shutdown()


@pytest.mark.parametrize("protocol", ["mux", "h2"])
async def test_headers_take_str_keys_case_insensitively(target: str, protocol: str) -> None:
    async with mux_client.connect(target, protocol=protocol) as client:  # type: ignore[arg-type]
        resp = await client.request("GET", "/multi")
    headers = resp.headers
    assert isinstance(headers, HeaderMap)
    assert headers["content-type"] == "text/plain; charset=latin-1"
    assert headers["Content-Type"] == headers["CONTENT-TYPE"]
    assert headers[b"content-type"] == b"text/plain; charset=latin-1"  # bytes stay available
    assert headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert headers["set-cookie"] == "a=1, b=2"
    assert headers["x-caf"] == "é"
    assert ("set-cookie", "b=2") in headers.multi_items()
    assert "SET-COOKIE" in headers and "nope" not in headers
    assert headers.get("nope") is None and headers.get("nope", "d") == "d"
    assert list(headers) == ["content-type", "set-cookie", "x-caf", "date"]
    assert (b"set-cookie", b"a=1") in headers.raw
    with pytest.raises(KeyError):
        headers["nope"]
    assert resp.text == "café"  # the charset of content-type


async def test_text_and_json(target: str) -> None:
    async with mux_client.connect(target) as client:
        sink = await client.request("POST", "/sink", body=b"abc")
        echo = await client.request("POST", "/echo", body="ünï".encode())
    assert sink.json()["bytes"] == 3
    assert sink.text.endswith("}\n")
    assert echo.text == "ünï"  # utf-8 by default


def test_public_properties_have_docstrings() -> None:
    for name in ("status", "headers", "phase", "trailers", "stream_id"):
        prop = inspect.getattr_static(Call, name)
        assert isinstance(prop, property) and prop.__doc__, name
    for name in ("text", "encoding", "is_success"):
        assert inspect.getattr_static(mux_client.Response, name).__doc__, name
    assert mux_client.Response.__doc__ and "headers:" in mux_client.Response.__doc__
    for name in ("status", "headers", "trailers"):
        assert inspect.getattr_static(mux_client.SyncCall, name).__doc__, name


async def test_streaming_call_headers_are_a_header_map(target: str) -> None:
    async with mux_client.connect(target) as client, client.stream("GET", "/stream/2") as call:
        assert call.status == 200
        assert call.headers["content-type"] == "application/x-ndjson"
        assert b"".join([c async for c in call]).count(b"\n") == 2


async def test_SyncClient_streams_both_ways(target: str) -> None:
    def script() -> tuple[list[bytes], bytes, int, str, bytes]:
        with mux_client.SyncClient(target) as client:
            with client.stream("GET", "/stream/3") as call:
                status, content_type = call.status, call.headers["content-type"]
                lines = list(call)
            with client.open_call("POST", "/echo", headers={"x-a": "1"}) as call:
                call.send(b"ab")
                call.send(b"cd")
                call.end()
                assert call.response()[0] == 200
                assert call.headers["x-a"] == "1"
                echoed = call.read()
            unary = client.request("POST", "/echo", body=b"after").body
        assert (status, content_type) == (200, "application/x-ndjson")
        return lines, echoed, status, content_type, unary

    lines, echoed, _, _, unary = await trio.to_thread.run_sync(script)
    assert b"".join(lines) == b'{"id": 0}\n{"id": 1}\n{"id": 2}\n'
    assert (echoed, unary) == (b"abcd", b"after")


async def test_SyncClient_stream_deadline_is_the_calls_error(target: str) -> None:
    def script() -> None:
        with mux_client.SyncClient(target) as client:
            call = client.open_call("POST", "/echo", timeout=0.3)
            with pytest.raises(mux_client.DeadlineExceeded), call:
                call.send(b"x")
                call.read()  # the echo never ends: the deadline resets the stream
            # the client is still usable afterwards
            assert client.request("GET", "/bytes/3").body == b"\x00\x01\x02"

    with trio.fail_after(20):
        await trio.to_thread.run_sync(script)


async def test_SyncClient_leaving_a_stream_early_resets_only_it(target: str) -> None:
    def script() -> bytes:
        with mux_client.SyncClient(target) as client:
            with client.stream("GET", "/bytes/10000000") as call:
                first = call.receive()
            assert first
            with pytest.raises(mux_client.ClientClosedError):
                call.receive()  # the call is over once its block exited
            return client.request("POST", "/echo", body=b"still fine").body

    with trio.fail_after(20):
        assert await trio.to_thread.run_sync(script) == b"still fine"
