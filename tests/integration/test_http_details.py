"""HTTP details a first user checks with curl: Allow on 405, Date, the demo's index, /healthz.

Real server on loopback; HTTP/1.1 and HTTP/2 through httpx, mux through the SDK.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import trio

import mux_client
from mux.config import ServerConfig
from mux.server import Request, Response, Router, Server
from mux.server.demo import SERVICES
from mux.server.demo import app as demo_app


def _app() -> Router:
    app = Router()

    @app.route("/only-get", methods=["GET"])
    async def only_get(request: Request) -> Response:
        return Response.text(200, "got\n")

    @app.route("/only-get", methods=["PUT", "DELETE"])
    async def also(request: Request) -> Response:
        return Response.text(200, "put\n")

    @app.route("/dated")
    async def dated(request: Request) -> Response:
        return Response.text(200, "x", {"date": "Sun, 06 Nov 1994 08:49:37 GMT"})

    for path in ("/", "/healthz", "/bytes/{n}", "/stream/{n}"):
        app.add(path, demo_app)
    return app


@pytest.fixture
async def base(nursery: trio.Nursery) -> AsyncIterator[str]:
    server: Server = await nursery.start(
        Server(_app(), ServerConfig(host="127.0.0.1", port=0)).serve
    )
    yield f"127.0.0.1:{server.port}"
    server.shutdown()


@pytest.mark.parametrize("http2", [False, True])
async def test_405_carries_allow(base: str, http2: bool) -> None:
    async with httpx.AsyncClient(http1=not http2, http2=http2) as client:
        resp = await client.post(f"http://{base}/only-get", content=b"x")
    assert resp.status_code == 405
    assert resp.headers["allow"] == "DELETE, GET, PUT"
    assert resp.text == "method POST not allowed on /only-get\n"


@pytest.mark.parametrize("http2", [False, True])
async def test_responses_carry_date(base: str, http2: bool) -> None:
    async with httpx.AsyncClient(http1=not http2, http2=http2) as client:
        for path in ("/healthz", "/bytes/3", "/nope", "/stream/1"):
            resp = await client.get(f"http://{base}{path}")
            stamp = email.utils.parsedate_to_datetime(resp.headers["date"]).timestamp()
            assert abs(stamp - time.time()) < 5, path
            assert resp.headers["date"].endswith(" GMT")
        kept = await client.get(f"http://{base}/dated")
    assert kept.headers.get_list("date") == ["Sun, 06 Nov 1994 08:49:37 GMT"]


async def test_date_over_mux(base: str) -> None:
    async with mux_client.connect(base) as client:
        resp = await client.request("GET", "/healthz")
    assert resp.headers["date"].endswith(" GMT")


async def test_demo_index_lists_every_service_and_healthz_answers(base: str) -> None:
    async with httpx.AsyncClient() as client:
        index = await client.get(f"http://{base}/")
        health = await client.get(f"http://{base}/healthz")
    assert index.status_code == 200
    for path, _ in SERVICES:
        assert f"  {path} " in index.text
    for route in ("/echo", "/bytes/{n}", "/stream/{n}", "/delay/{ms}", "/sink"):
        assert route in index.text
    assert (health.status_code, health.text) == (200, "ok\n")
