"""The README's examples work as written: the SDK snippet and examples/hello.py."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import trio

import mux_client
from mux.config import ServerConfig
from mux.server import Server
from mux.server.demo import app as demo_app

ROOT = Path(__file__).resolve().parents[2]


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


async def test_README_sdk_snippet_runs_against_the_demo(nursery: trio.Nursery) -> None:
    """The first Python block, pointed at a demo server, prints the echoed body."""
    server: Server = await nursery.start(
        Server(demo_app, ServerConfig(host="127.0.0.1", port=0)).serve
    )
    source = _python_blocks()[0].replace("127.0.0.1:8080", f"127.0.0.1:{server.port}")
    source = source.replace("trio.run(main)", "")
    printed: list[tuple[object, ...]] = []
    namespace: dict[str, object] = {"print": lambda *args: printed.append(args)}
    exec(compile(source, "README.md", "exec"), namespace)
    main = namespace["main"]
    await main()  # type: ignore[operator]
    assert printed == [(200, b"hello")]
    server.shutdown()


async def test_examples_hello_serves_unary_and_streaming(nursery: trio.Nursery) -> None:
    """examples/hello.py answers over mux/msgpack and HTTP/2 alike."""
    from examples.hello import app

    server: Server = await nursery.start(Server(app, ServerConfig(host="127.0.0.1", port=0)).serve)
    target = f"127.0.0.1:{server.port}"
    async with mux_client.connect(target) as client:
        resp = await client.request("GET", "/hello/world")
        assert (resp.status, resp.body) == (200, b"hello, world\n")
        async with client.open_call("POST", "/upper") as call:
            await call.send(b"abc")
            await call.send(b"def")
            await call.end()
            body = b"".join([chunk async for chunk in call])
            assert body == b"ABCDEF"
            assert (b"x-done", b"yes") in (call.trailers or [])
    async with httpx.AsyncClient(http1=False, http2=True) as h2:
        got = await h2.post(f"http://{target}/upper", content=b"over h2")
        assert (got.status_code, got.content) == (200, b"OVER H2")
    server.shutdown()
