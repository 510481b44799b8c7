"""The README's examples work as written: the SDK snippet and examples/hello.py."""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import sys
from pathlib import Path

import httpx
import pytest
import trio

import mux_client
from mux.config import ServerConfig
from mux.gateway import errormap
from mux.server import Server
from mux.server.demo import app as demo_app
from tests.gateway.gwkit import start_embedded_gateway

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


#: The demo's /stream/3 body.
LINES = [b'{"id": %d}\n' % i for i in range(3)]


def _block(marker: str) -> str:
    """The README's Python block that contains ``marker``."""
    (found,) = [block for block in _python_blocks() if marker in block]
    return found


def _exec(source: str, port: int, printed: list[tuple[object, ...]]) -> dict[str, object]:
    source = source.replace("127.0.0.1:8080", f"127.0.0.1:{port}").replace("trio.run(main)", "")
    namespace: dict[str, object] = {"print": lambda *args: printed.append(args)}
    exec(compile(source, "README.md", "exec"), namespace)
    return namespace


async def test_README_streaming_sdk_snippet(nursery: trio.Nursery) -> None:
    server: Server = await nursery.start(
        Server(demo_app, ServerConfig(host="127.0.0.1", port=0)).serve
    )
    printed: list[tuple[object, ...]] = []
    namespace = _exec(_block("async with client.stream("), server.port, printed)
    await namespace["main"]()  # type: ignore[operator]
    assert printed[0] == (200, "application/x-ndjson")
    assert printed[-1] == (b"ping pong",)
    # chunks already buffered together may be read as one
    assert b"".join(chunk for (chunk,) in printed[1:-1]) == b"".join(LINES)
    server.shutdown()


async def test_README_SyncClient_snippet(nursery: trio.Nursery) -> None:
    server: Server = await nursery.start(
        Server(demo_app, ServerConfig(host="127.0.0.1", port=0)).serve
    )
    printed: list[tuple[object, ...]] = []
    source = _block("with mux_client.SyncClient(")
    await trio.to_thread.run_sync(_exec, source, server.port, printed)
    sink = {"bytes": 5, "sha256": hashlib.sha256(b"hello").hexdigest()}
    assert (printed[0], printed[-1]) == ((sink,), (b"hi",))
    assert b"".join(chunk for (chunk,) in printed[1:-1]) == b"".join(LINES)
    server.shutdown()


async def test_README_grpc_service_answers_grpcio(nursery: trio.Nursery) -> None:
    """The gRPC service block, served as written, answers the grpcio block."""
    grpc = pytest.importorskip("grpc")
    service: dict[str, object] = {}
    exec(compile(_block("GrpcService()"), "README.md", "exec"), service)
    app = service["app"]
    server: Server = await nursery.start(
        Server(app, ServerConfig(host="127.0.0.1", port=0)).serve  # type: ignore[arg-type]
    )
    printed: list[tuple[object, ...]] = []
    client = _block("insecure_channel")
    with trio.fail_after(30):
        await trio.to_thread.run_sync(_exec, client, server.port, printed)
    assert printed == [(b"hello, grpc",), ([b"A", b"B"],)]

    def empty_name() -> object:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            try:
                channel.unary_unary("/demo.Greeter/SayHello")(b"")
            except grpc.RpcError as exc:
                return exc.code()
        return None

    code = await trio.to_thread.run_sync(empty_name)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    server.shutdown()


def _shell_commands() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith((".venv/bin/mux call", "curl "))]


async def test_README_shell_calls_work_as_written(tmp_path: Path) -> None:
    """Every `mux call` and curl line of the README, against what `make run` runs: the
    gateway's embedded default (on free ports), so each goes through the forwarding path."""
    gateway, listen, admin = await start_embedded_gateway(tmp_path)
    try:
        commands = _shell_commands()
        assert len([c for c in commands if "mux call" in c]) >= 3
        assert any("9901" in c for c in commands)
        env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'clients' / 'python'}"}
        for command in commands:
            command = command.replace("127.0.0.1:8080", listen)
            argv = shlex.split(command.replace("127.0.0.1:9901", admin))
            if argv[0] == "curl":
                if shutil.which("curl") is None:
                    continue
            else:
                argv = [sys.executable, "-m", "mux", *argv[1:]]
            with trio.fail_after(30):
                done = await trio.run_process(
                    argv, capture_stdout=True, capture_stderr=True, check=False, env=env
                )
            assert done.returncode == 0, (command, done.stderr)
            assert done.stdout, command
    finally:
        gateway.kill()
        await gateway.wait()


def test_README_error_table_is_the_code_s() -> None:
    """The gateway's failure table in README is the one errormap renders."""
    assert errormap.render_markdown().strip() in (ROOT / "README.md").read_text()
