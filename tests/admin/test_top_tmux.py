"""``mux top`` against a live admin API: in a real terminal (tmux: the reasons on
screen, ``q`` ends it) and with ``--once`` (one frame on stdout)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
import trio
from conftest import Harness
from waitkit import REASONS, stuck_streams

ROOT = Path(__file__).resolve().parents[2]
TMUX = shutil.which("tmux")


def top_command(admin: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "mux", "top", "--admin", f"127.0.0.1:{admin}", *extra]


def _env() -> dict[str, str]:
    paths = [str(ROOT), str(ROOT / "clients" / "python"), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed (apt-get install tmux)")
async def test_top_in_a_terminal_shows_the_reasons_and_quits_on_q(
    harness: Harness, tmp_path: Path
) -> None:
    admin = await stuck_streams(harness)
    assert TMUX is not None
    # A tmux server of our own (its socket in tmp_path), killed at the end.
    tmux = [TMUX, "-S", str(tmp_path / "tmux.sock")]
    command = " ".join(top_command(admin, "--interval", "0.2"))
    await trio.run_process(
        [*tmux, "new-session", "-d", "-x", "120", "-y", "40", command], env=_env()
    )
    try:
        with trio.fail_after(30):
            while True:
                screen = (
                    await trio.run_process([*tmux, "capture-pane", "-p"], capture_stdout=True)
                ).stdout.decode()
                if all(reason in screen for reason in REASONS) and "parked 1" in screen:
                    break
                await trio.sleep(0.2)
        assert "mux top - 127.0.0.1:" in screen
        assert "connections 4" in screen and "streams 5" in screen
        lines = screen.splitlines()
        assert any("/never" in line and "handler" in line for line in lines)
        assert any("/read" in line and "peer" in line for line in lines)
        await trio.run_process([*tmux, "send-keys", "q"])
        with trio.fail_after(10):
            while True:
                alive = await trio.run_process(
                    [*tmux, "has-session"], check=False, capture_stderr=True
                )
                if alive.returncode != 0:
                    break  # q ended mux top, and with it the session
                await trio.sleep(0.1)
    finally:
        await trio.run_process([*tmux, "kill-server"], check=False, capture_stderr=True)


async def test_top_once_prints_one_frame(harness: Harness) -> None:
    admin = await stuck_streams(harness)
    with trio.fail_after(30):
        done = await trio.run_process(
            top_command(admin, "--once", "--interval", "0.1"), capture_stdout=True, env=_env()
        )
    out = done.stdout.decode()
    for reason in REASONS:
        assert reason in out
    assert "parked idle: 1" in out and "req/s 0.0" in out


async def test_top_names_an_unreachable_admin_api() -> None:
    [listener] = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listener.socket.getsockname()[1]
    await listener.aclose()  # nothing listens there now
    with trio.fail_after(30):
        done = await trio.run_process(
            top_command(port, "--once"), capture_stdout=True, check=False, env=_env()
        )
    assert done.returncode == 1
    assert f"cannot read the admin API at 127.0.0.1:{port}" in done.stdout.decode()


def test_rate_and_errors_come_from_stats_counters() -> None:
    from mux.admin.top import Poll, rate, render

    before = Poll(10.0, {"streams": [], "totals": {}}, {"connections": []}, {"requests": 100})
    after = Poll(
        12.0,
        {"streams": [], "totals": {}, "parked": 0},
        {"connections": []},
        {"requests": 160, "failures": {"timeout": 2, "reset": 1}},
    )
    assert rate(before, after) == 30.0
    assert "req/s 30.0  errors 3" in render(after, before, "x:1", 200, 50)[1]
    # Without a counter: the streams that appeared since the previous poll.
    row = {"cid": "d-1", "stream_id": 1}
    assert rate(Poll(0.0, {"streams": []}), Poll(0.5, {"streams": [row]})) == 2.0
