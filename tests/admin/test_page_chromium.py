"""The page at ``/`` in a real headless Chromium: it loads, fetches ``/streams``
and shows one row per stuck stream with its reason, the totals, the filters."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest
import trio
from conftest import Harness
from waitkit import REASONS, http_get, stuck_streams

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (Debian package `chromium`: apt-get install chromium)",
)


async def chromium(tmp_path: Path, url: str, *mode: str) -> bytes:
    """Run headless Chromium on ``url`` with ``mode`` (--dump-dom, --screenshot=...)."""
    assert CHROMIUM is not None
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1280,800",
        "--virtual-time-budget=3000",
        *mode,
        url,
    ]
    with trio.fail_after(90):
        done = await trio.run_process(command, capture_stdout=True, capture_stderr=True)
    stdout: bytes = done.stdout
    return stdout


async def test_page_is_self_contained_html(harness: Harness) -> None:
    admin = await stuck_streams(harness)
    status, body = await http_get(admin, "/")
    assert status == 200
    page = body.decode()
    assert page.startswith("<!doctype html>") and 'fetch("/streams"' in page
    assert "src=" not in page and "href=" not in page  # no external asset


async def test_page_shows_the_stuck_streams(harness: Harness, tmp_path: Path) -> None:
    admin = await stuck_streams(harness)
    url = f"http://127.0.0.1:{admin}/"
    dom = (await chromium(tmp_path, url, "--dump-dom")).decode()
    assert "<tbody" in dom
    for reason in REASONS:
        assert f'<tr data-reason="{reason}"' in dom, reason
    assert dom.count('<tr data-reason="') == len(REASONS)
    assert 'data-reason="parked idle"' in dom  # the totals include the parked connection
    assert '<span id="err"></span>' in dom  # no failed refresh
    # A link preset to one reason shows only its rows.
    only = (await chromium(tmp_path, url + "#reason=handler", "--dump-dom")).decode()
    assert only.count('<tr data-reason="') == 1 and '<tr data-reason="handler"' in only

    shot = tmp_path / "streams.png"
    await chromium(tmp_path, url, f"--screenshot={shot}")
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (1280, 800)
    assert len(png) > 20_000  # a table, not a blank page (a blank one is ~5 kB)
