"""The command line: exit status, summary line, JSON and JUnit output, section filter."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from mux.conformance import cli
from mux.conformance.cli import main
from mux.conformance.groups import all_cases
from mux.conformance.runner import run_cases, select_cases


def _args(port: int, *extra: str) -> list[str]:
    return ["--target", f"127.0.0.1:{port}", "--protocol", "h2", "--timeout", "2", *extra]


def test_cli_passing_section_exits_0(
    hypercorn_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run where every selected case passes exits 0 and ends with the summary line."""
    assert main(_args(hypercorn_port, "--section", "6.7", "--section", "5.1.1")) == 0
    out = capsys.readouterr().out
    assert "§6.7 PING (RFC 9113)" in out
    assert out.rstrip().splitlines()[-1] == "6 passed, 0 failed"
    assert "\x1b[" not in out  # no colour when not on a terminal


def test_cli_failure_exits_1_with_expected_and_actual(
    hypercorn_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failing case exits 1 and prints requirement, expected and actual."""
    assert main(_args(hypercorn_port, "--section", "h2/6.5/1")) == 1
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
    assert [c["id"] for c in failed] == ["h2/6.5/1"]
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


def test_cli_unreachable_target_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    """Nothing listening: every case is an error and the exit status is 1."""
    assert main(["--target", "127.0.0.1:1", "--protocol", "h2", "--section", "h2/6.7/1"]) == 1
    assert "0 passed, 1 failed" in capsys.readouterr().out


def test_select_cases_strict_and_sections() -> None:
    """--strict adds SHOULD cases; sections select subsections; hpack ids are distinct."""
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
    assert {c.source for c in select_cases(cases, "h2", sections=["hpack/4.2"])} == {"RFC 7541"}
