"""The access log: one line per finished request over each protocol, text and JSON; the CLI
flags; and a full queue drops lines and counts them instead of blocking."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
import trio

import mux_client
from mux.config import ServerConfig
from mux.ops import accesslog
from mux.ops.accesslog import AccessLog
from mux.ops.metrics import Ops
from mux.server.demo import app
from mux.server.server import Server
from tests.admin.opskit import run_mux


async def _one_request_per_protocol(address: str) -> None:
    async with mux_client.connect(address) as client:
        assert (await client.request("POST", "/echo", body=b"hello")).status == 200
    async with httpx.AsyncClient(timeout=10) as h1:
        assert (await h1.get(f"http://{address}/bytes/7?x=1")).status_code == 200
    async with httpx.AsyncClient(http1=False, http2=True, timeout=10) as h2c:
        assert (await h2c.get(f"http://{address}/nope")).status_code == 404


@pytest.mark.parametrize("json_format", [False, True])
async def test_one_line_per_request_over_each_protocol(tmp_path: Path, json_format: bool) -> None:
    path = tmp_path / "access.log"
    log = AccessLog(str(path), json_format=json_format)
    log.start()
    async with trio.open_nursery() as nursery:
        server = Server(app, ServerConfig(host="127.0.0.1", port=0))
        server.ops = Ops(lambda: [server], access_log=log)
        await nursery.start(server.serve)
        await _one_request_per_protocol(f"127.0.0.1:{server.port}")
        nursery.cancel_scope.cancel()
    log.close()
    lines = path.read_text().splitlines()
    assert len(lines) == 3 and log.dropped == 0
    if json_format:
        mux_line, h1_line, h2_line = (json.loads(line) for line in lines)
        assert mux_line["protocol"] == "mux" and mux_line["method"] == "POST"
        assert mux_line["path"] == "/echo" and mux_line["status"] == 200
        assert mux_line["bytes_in"] == 5 and mux_line["bytes_out"] == 5
        assert mux_line["peer"].startswith("127.0.0.1:") and mux_line["stream_id"] >= 1
        assert h1_line["protocol"] == "http/1.1" and h1_line["path"] == "/bytes/7?x=1"
        assert h1_line["bytes_out"] == 7 and h1_line["authority"] == f"127.0.0.1:{server.port}"
        assert h2_line["protocol"] == "h2" and h2_line["status"] == 404
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", h2_line["time"])
        assert h2_line["duration_s"] >= 0 and "error" not in h2_line
    else:
        pattern = (
            r"\S+Z 127\.0\.0\.1:\d+ {protocol} {method} \S+ \"{path}\" {status} "
            r"{got} {sent} [\d.]+ms sid=\d+"
        )
        expected = [
            ("mux", "POST", "/echo", 200, 5, 5),
            ("http/1.1", "GET", r"/bytes/7\?x=1", 200, 0, 7),
            ("h2", "GET", "/nope", 404, 0, None),
        ]
        for line, (protocol, method, p, status, got, sent) in zip(lines, expected, strict=True):
            regex = pattern.format(
                protocol=re.escape(protocol), method=method, path=p, status=status, got=got,
                sent=r"\d+" if sent is None else sent,
            )  # fmt: skip
            assert re.fullmatch(regex, line), line


async def test_a_full_queue_drops_and_counts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(accesslog, "QUEUE_LIMIT", 0)  # every line meets a full queue
    log = AccessLog(str(tmp_path / "a.log"))
    log.start()
    async with trio.open_nursery() as nursery:
        server = Server(app, ServerConfig(host="127.0.0.1", port=0))
        server.ops = ops = Ops(lambda: [server], access_log=log)
        await nursery.start(server.serve)
        await _one_request_per_protocol(f"127.0.0.1:{server.port}")
        nursery.cancel_scope.cancel()
    log.close()
    assert log.dropped == 3 and (tmp_path / "a.log").read_text() == ""
    body, _ = ops.render_metrics()
    assert b"mux_access_log_dropped_total 3.0" in body
    assert ops.stats()["access_log_dropped"] == 3


async def test_serve_cli_access_log_json_to_stdout(tmp_path: Path) -> None:
    args = ["serve", "--listen", "127.0.0.1:0", "--access-log", "-", "--access-log-format", "json"]
    async with run_mux(args, tmp_path, ready="serving on") as mux:
        await _one_request_per_protocol(mux.listen)
        assert mux.process.stdout is not None
        out = b""
        with trio.fail_after(10):
            while out.count(b"\n") < 3:
                out += await mux.process.stdout.receive_some(65536)
    records = [json.loads(line) for line in out.decode().splitlines()]
    assert [r["protocol"] for r in records] == ["mux", "http/1.1", "h2"]
