"""`make run` installs only what serving needs and says so; `make test` copes without root."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _make(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_make_run_installs_the_runtime_only_and_says_so(tmp_path: Path) -> None:
    plan = _make("-n", "run", f"VENV={tmp_path / 'venv'}").stdout.splitlines()
    installs = [line for line in plan if "pip install" in line]
    assert installs == [f"{tmp_path / 'venv'}/bin/python -m pip install -q -e ."]
    for step in ("-m venv", "pip install", "mux gateway"):
        at = next(i for i, line in enumerate(plan) if step in line)
        assert plan[at - 1].startswith('echo "make: '), step  # announced before it runs


def test_make_test_installs_the_dev_extra(tmp_path: Path) -> None:
    plan = _make("-n", "test", f"VENV={tmp_path / 'venv'}", "CAN_APT=").stdout
    assert "pip install -q -e '.[dev]'" in plan


def test_missing_peers_are_named_and_skipped_without_root() -> None:
    done = _make("peers", "PEERS=no-such-peer-xyz:no-such-package-xyz curl:curl", "CAN_APT=")
    assert done.returncode == 0, done.stderr
    assert "peers missing: no-such-peer-xyz (debian packages: no-such-package-xyz)" in done.stdout
    assert "the tests that use no-such-peer-xyz will be skipped" in done.stdout


def test_runtime_dependencies_hold_no_dev_tools() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = " ".join(project["dependencies"])
    for tool in ("pytest", "hypothesis", "ruff", "mypy", "httpx", "grpcio", "trustme"):
        assert tool not in runtime
        assert any(dep.startswith(tool) for dep in project["optional-dependencies"]["dev"])
    assert project["license"] == {"text": "MIT"}
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
