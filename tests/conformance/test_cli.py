"""The command line: exit status, summary line, JSON and JUnit output, section filter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio

from mux.conformance import cli
from mux.conformance.case import Protocol
from mux.conformance.cli import main
from mux.conformance.groups import all_cases
from mux.conformance.runner import TargetUnusable, check_target, run_cases, select_cases
from mux.conformance.wire import Target
from tests.subprocs import ROOT, free_port


def _args(port: int, *extra: str) -> list[str]:
    return ["--target", f"127.0.0.1:{port}", "--protocol", "h2", "--timeout", "2", *extra]


def test_cli_passing_section_exits_0(
    hypercorn_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run where every selected case passes exits 0 and ends with the summary line."""
    assert main(_args(hypercorn_port, "--section", "6.7", "--section", "5.1.1")) == 0
    out = capsys.readouterr().out
    assert "§6.7 PING (RFC 7540)" in out
    assert out.rstrip().splitlines()[-1] == "7 passed, 0 failed"
    assert "\x1b[" not in out  # no colour when not on a terminal


def test_cli_failure_exits_1_with_expected_and_actual(
    hypercorn_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failing case exits 1 and prints requirement, expected and actual."""
    assert main(_args(hypercorn_port, "--section", "http2/6.5/1")) == 1
    out = capsys.readouterr().out
    assert "expected:    GOAWAY(FRAME_SIZE_ERROR)" in out
    assert "actual:      GOAWAY(PROTOCOL_ERROR" in out
    assert out.rstrip().endswith("0 passed, 1 failed")


def test_cli_json_and_junit(
    hypercorn_port: int, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """--json prints one object per case; --junit writes parseable XML with the failure."""
    junit = tmp_path / "report.xml"
    code = main(_args(hypercorn_port, "--section", "6.5", "--json", "--junit", str(junit)))
    assert code == 1
    document = json.loads(capsys.readouterr().out)
    assert document["totals"] == {"passed": 9, "failed": 1, "skipped": 0}
    failed = [c for c in document["cases"] if c["status"] == "failed"]
    assert [c["id"] for c in failed] == ["http2/6.5/1"]
    root = ET.parse(junit).getroot()
    assert root.get("tests") == "10" and root.get("failures") == "1"
    assert len(root.findall(".//failure")) == 1


def test_cli_jobs_runs_cases_concurrently_with_the_same_report(
    hypercorn_port: int, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--jobs N reaches the runner as its concurrency; the report keeps the case order."""
    assert main(_args(hypercorn_port, "--section", "6.5", "--json")) == 1
    sequential = json.loads(capsys.readouterr().out)
    seen: list[int] = []

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["concurrency"])
        return run_cases(*args, **kwargs)

    monkeypatch.setattr(cli, "run_cases", spy)
    assert main(_args(hypercorn_port, "--section", "6.5", "--json", "--jobs", "4")) == 1
    concurrent = json.loads(capsys.readouterr().out)
    assert seen == [4]
    assert concurrent["totals"] == sequential["totals"]
    ids = [[c["id"] for c in document["cases"]] for document in (sequential, concurrent)]
    assert ids[0] == ids[1]


@pytest.mark.parametrize("jobs", ["0", "-2", "many"])
def test_cli_jobs_must_be_a_positive_number(jobs: str, capsys: pytest.CaptureFixture[str]) -> None:
    """--jobs below 1 or not a number is a usage error (exit status 2) naming the problem."""
    with pytest.raises(SystemExit) as exited:
        main(["--target", "127.0.0.1:1", "--jobs", jobs])
    assert exited.value.code == 2
    assert "expected a whole number >= 1" in capsys.readouterr().err


def test_cli_unreachable_target_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """Nothing listening: one line on stderr naming the address and the reason, exit 1."""
    port = free_port()
    assert main(["--target", f"127.0.0.1:{port}", "--protocol", "h2"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"mux conformance: cannot reach 127.0.0.1:{port}: connection refused\n"


async def _http1_only(stream: trio.SocketStream) -> None:
    """A server that answers anything with an HTTP/1.1 400 and closes."""
    with trio.move_on_after(2):
        await stream.receive_some(4096)
    await stream.send_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
    await stream.aclose()


@pytest.mark.parametrize("protocol", ["h2", "mux"])
async def test_target_speaking_another_protocol_is_one_line(protocol: Protocol) -> None:
    """An HTTP/1.1-only port: the check stops the run with what the port said."""
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, _http1_only, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        with pytest.raises(TargetUnusable) as raised:
            await check_target(Target("127.0.0.1", port), protocol, reply_timeout=2.0)
        nursery.cancel_scope.cancel()
    message = str(raised.value)
    assert "\n" not in message
    name = "HTTP/2" if protocol == "h2" else "mux/msgpack"
    assert message.startswith(f"127.0.0.1:{port} does not speak {name}: ")
    assert message.endswith("it answered in HTTP/1.x: 'HTTP/1.1 400 Bad Request'")


async def test_check_target_passes_a_real_server(hypercorn_port: int) -> None:
    """An HTTP/2 server passes the check (and the check leaves no connection open)."""
    await check_target(Target("127.0.0.1", hypercorn_port), "h2", reply_timeout=2.0)


def test_help_lists_serve_and_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    """--help names the serve subcommand, the exit statuses and each option's default."""
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "mux conformance serve --listen HOST:PORT" in out
    assert "subcommands:\n  serve" in out
    assert "(default: mux)" in out and "(default: 2.0)" in out and "(default: 1)" in out
    assert "exit status:" in out
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    serve_help = capsys.readouterr().out
    assert "(default: mux)" in serve_help and "(default: 127.0.0.1:0" in serve_help


def test_list_into_a_closed_pipe_prints_no_traceback() -> None:
    """``mux conformance --list | head -1``: the first line, then a quiet exit 0."""
    command = [sys.executable, "-m", "mux", "conformance", "--list", "--protocol", "h2"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        first = process.stdout.readline()
        process.stdout.close()  # the reader goes away, like `head -1`
        err = process.stderr.read()
        code = process.wait(timeout=60)
    assert first.startswith(b"generic/1/1 ")
    assert err == b"", err.decode(errors="replace")
    assert code == 0


def test_select_cases_strict_and_sections() -> None:
    """--strict adds SHOULD cases; sections select subsections; families stay apart."""
    cases = all_cases("h2")
    assert len({c.id for c in cases}) == len(cases)
    normal = select_cases(cases, "h2")
    strict = select_cases(cases, "h2", strict=True)
    assert len(strict) > len(normal) and all(not c.strict for c in normal)
    assert {c.section for c in select_cases(cases, "h2", sections=["6.5"])} == {
        "6.5",
        "6.5.2",
        "6.5.3",
    }
    assert {c.family for c in select_cases(cases, "h2", sections=["6.5"])} == {"http2"}
    assert {c.source for c in select_cases(cases, "h2", sections=["hpack/4.2"])} == {"RFC 7541"}
    generic = select_cases(cases, "h2", sections=["generic"])
    assert len(generic) == 44 and {c.family for c in generic} == {"generic"}
    assert [c.id for c in select_cases(cases, "h2", sections=["generic/3.5"])] == ["generic/3.5/1"]
    assert {c.family for c in select_cases(cases, "h2", sections=["3.5"])} == {"http2"}
    assert {c.family for c in select_cases(cases, "h2", sections=["8.1"])} == {"http2", "h2"}
    assert [c.id for c in select_cases(cases, "h2", sections=["h2/5.1"])] == ["h2/5.1/1"]
