"""``mux bench`` against a real ``mux serve`` subprocess, over loopback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mux import cli as mux_cli
from mux.scale.benchcli import main as bench_main
from mux.scale.procstat import tree_stats

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'clients' / 'python'}"}

#: An app that counts the requests it answers, so the test can compare with the server.
COUNTING_APP = """
from mux.server import Response

hits = 0

async def app(request):
    global hits
    if request.path == "/count":
        return Response.text(200, f"{hits}")
    if request.path == "/hit":
        hits += 1
        return Response.text(200, "ok")
    return Response.text(404, "no such path")
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    (tmp_path / "counting.py").write_text(COUNTING_APP)
    command = [
        sys.executable,
        "-m",
        "mux",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--app",
        "counting:app",
        "--app-dir",
        str(tmp_path),
    ]
    proc = subprocess.Popen(command, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith(b"mux: serving on "), proc.communicate(timeout=10)
        yield line.split()[-1].decode(), proc
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def served(address: str) -> int:
    return int(httpx.get(f"http://{address}/count").text)


def run_json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, dict[str, object]]:
    status = bench_main([*argv, "--json"])
    out = capsys.readouterr().out
    return status, json.loads(out)


def test_closed_loop_counts_match_the_server(
    server: tuple[str, subprocess.Popen[bytes]], capsys: pytest.CaptureFixture[str]
) -> None:
    address, _ = server
    argv = ["--target", address, "--path", "/hit", "-c", "2", "-m", "10", "-n", "500"]
    status, summary = run_json(capsys, argv)
    assert status == 0
    requests = summary["requests"]
    assert isinstance(requests, dict)
    assert requests["done"] == 500 and requests["histogram_count"] == 500
    assert summary["errors"] == {}
    assert summary["connections"]["opened"] == 2  # type: ignore[index]
    latency = summary["latency_ms"]
    assert isinstance(latency, dict)
    assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["p99.9"]
    assert served(address) == 500


def test_h2_open_loop_over_processes_and_sources_with_a_plot(
    server: tuple[str, subprocess.Popen[bytes]],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    address, _ = server
    plot = tmp_path / "run.html"
    argv = ["--target", address, "--protocol", "h2", "--path", "/hit", "-c", "4", "-m", "5"]
    argv += ["-n", "200", "--rate", "400", "--processes", "2"]
    argv += ["--sources", "127.0.0.2-127.0.0.3", "--plot", str(plot)]
    status, summary = run_json(capsys, argv)
    assert status == 0
    assert summary["mode"] == "open-loop" and summary["processes"] == 2
    assert summary["requests"]["done"] == 200  # type: ignore[index]
    assert summary["errors"] == {}
    assert served(address) == 200
    page = plot.read_text()
    assert page.count("<svg") == 3 and "Latency by percentile" in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_error_statuses_are_counted_by_kind(
    server: tuple[str, subprocess.Popen[bytes]], capsys: pytest.CaptureFixture[str]
) -> None:
    address, _ = server
    status, summary = run_json(capsys, ["--target", address, "--path", "/nope", "-n", "30"])
    assert status == 1  # nothing answered with 2xx
    assert summary["errors"] == {"status 404": 30}
    assert summary["requests"]["done"] == 0  # type: ignore[index]


def test_hold_reports_the_servers_rss_and_fds(
    server: tuple[str, subprocess.Popen[bytes]], capsys: pytest.CaptureFixture[str]
) -> None:
    address, proc = server
    argv = ["--target", address, "--hold", "50", "--duration", "0.5", "--open-rate", "500"]
    status, summary = run_json(capsys, [*argv, "--server-pid", str(proc.pid)])
    assert status == 0
    assert summary["mode"] == "hold" and summary["connections"]["opened"] == 50  # type: ignore[index]
    assert summary["connections"]["open_at_end"] == 50  # type: ignore[index]
    server_stats = summary["server"]
    assert isinstance(server_stats, dict)
    assert server_stats["fds_held"] >= server_stats["fds_before"] + 50
    assert server_stats["rss_held_kib"] > 0 and "rss_per_session_kib" in server_stats
    assert server_stats["cpu_seconds_to_open"] >= 0 and "cpu_us_per_session_open" in server_stats
    assert "slab_growth_kib" in summary["kernel"]  # type: ignore[operator]
    # The text summary says the same.
    assert bench_main([*argv, "--server-pid", str(proc.pid)]) == 0
    assert "fds held" in capsys.readouterr().out


def test_sessions_the_server_drops_during_a_hold_are_errors(
    server: tuple[str, subprocess.Popen[bytes]], capsys: pytest.CaptureFixture[str]
) -> None:
    address, proc = server
    baseline = tree_stats(proc.pid)
    assert baseline is not None

    def stop_server_once_held() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            stats = tree_stats(proc.pid)
            if stats is None or stats.fds >= baseline.fds + 20:
                break
            time.sleep(0.05)
        time.sleep(2.0)  # accepted; let the 20 handshakes finish
        proc.terminate()  # graceful shutdown: GOAWAY to every held session

    watcher = threading.Thread(target=stop_server_once_held)
    watcher.start()
    try:
        status, summary = run_json(capsys, ["--target", address, "--hold", "20", "-D", "6"])
    finally:
        watcher.join()
    assert status == 1, summary
    assert summary["connections"]["opened"] == 20  # type: ignore[index]
    assert summary["connections"]["open_at_end"] == 0  # type: ignore[index]
    assert summary["errors"] == {"lost: GOAWAY NO_ERROR": 20}


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_dead_target_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    port = _dead_port()
    assert mux_cli.main(["bench", "--target", f"127.0.0.1:{port}", "-n", "10"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"mux bench: cannot connect to 127.0.0.1:{port}: Connection refused\n"


def test_an_impossible_run_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    port = _dead_port()  # refused before any connection is tried
    assert bench_main(["--target", f"127.0.0.1:{port}", "--hold", "10000000"]) == 2
    err = capsys.readouterr().err
    assert "refused: 10,000,000 connections in one process need" in err
    assert "--processes" in err and "ephemeral ports" in err and "--sources" in err


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        bench_main(["--target", "nowhere"])
    assert info.value.code == 2
    assert "expected HOST:PORT" in capsys.readouterr().err
    assert bench_main(["--target", "127.0.0.1:1", "--hold", "5", "--rate", "10"]) == 2
    assert "--hold keeps idle sessions" in capsys.readouterr().err
    assert bench_main(["--target", "127.0.0.1:1", "--sources", "10.0.0.9-10.0.0.1"]) == 2
    assert "increasing range" in capsys.readouterr().err
