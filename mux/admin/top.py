"""``mux top``: a terminal view of one server's admin API, like htop.

Theory of operation
-------------------
Every ``--interval`` seconds :func:`poll` reads ``/streams`` and
``/connections`` (and ``/stats`` when the admin API has it) from the admin
listener over plain HTTP/1.1 (stdlib ``http.client``; the tool is a
synchronous loop, no trio), and :func:`render` turns the answers into lines:
a summary (connections, parked, streams, req/s, errors), the totals by waiting
reason, then the open streams, longest waiting first, each with its
connection, peer, protocol, stream id, method and path, age, bytes each way,
windows and the reason. The screen is redrawn in place with ``curses``;
``q`` (or Ctrl-C) quits. ``--once`` prints one frame to stdout instead.

req/s comes from successive ``/stats`` answers when they carry a request
counter (``requests``, ``requests_total``), else from the streams that
appeared since the previous poll; errors from ``/stats`` (``errors``,
``failures``), else ``-``. An unreachable admin API is shown as such and
retried at the next refresh.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

import attrs

DEFAULT_ADMIN = "127.0.0.1:9901"


@attrs.define
class Poll:
    """One reading of the admin API (``error`` set when it failed)."""

    at: float
    streams: dict[str, Any] = attrs.field(factory=dict)
    connections: dict[str, Any] = attrs.field(factory=dict)
    stats: dict[str, Any] | None = None
    error: str | None = None


def _get(host: str, port: int, path: str, timeout: float) -> tuple[int, Any]:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"accept": "application/json"})
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            return response.status, None
        return 200, json.loads(body)
    finally:
        conn.close()


def parse_admin(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def poll(host: str, port: int, timeout: float = 2.0) -> Poll:
    """Read the admin API once."""
    now = time.monotonic()
    try:
        status, streams = _get(host, port, "/streams", timeout)
        if status != 200:
            return Poll(now, error=f"/streams answered {status}")
        _, connections = _get(host, port, "/connections", timeout)
        stats_status, stats = _get(host, port, "/stats", timeout)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return Poll(now, error=f"cannot read the admin API at {host}:{port}: {exc}")
    return Poll(now, streams, connections or {}, stats if stats_status == 200 else None)


def _counter(stats: dict[str, Any] | None, *names: str) -> float | None:
    if not stats:
        return None
    for name in names:
        value = stats.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, dict):
            numbers = [v for v in value.values() if isinstance(v, int | float)]
            if numbers:
                return float(sum(numbers))
    return None


def _keys(p: Poll) -> set[tuple[str, int]]:
    return {(r["cid"], r["stream_id"]) for r in p.streams.get("streams", ())}


def rate(previous: Poll | None, current: Poll) -> float | None:
    """Requests per second between two polls (see the module docstring)."""
    if previous is None or previous.error or current.error:
        return None
    elapsed = current.at - previous.at
    if elapsed <= 0:
        return None
    before = _counter(previous.stats, "requests", "requests_total")
    after = _counter(current.stats, "requests", "requests_total")
    if before is not None and after is not None:
        return max(after - before, 0.0) / elapsed
    return len(_keys(current) - _keys(previous)) / elapsed


def _size(n: object) -> str:
    if not isinstance(n, int):
        return "-"
    for unit in ("", "K", "M", "G"):
        if abs(n) < 1024 or unit == "G":
            return f"{n}{unit}" if unit == "" else f"{n:.0f}{unit}"
        n = n // 1024
    return str(n)


def _secs(value: object) -> str:
    return f"{value:.1f}" if isinstance(value, int | float) else "-"


def render(current: Poll, previous: Poll | None, where: str, width: int, height: int) -> list[str]:
    """The frame's lines (at most ``height``, each at most ``width`` characters)."""
    clock = time.strftime("%H:%M:%S")
    lines = [f"mux top - {where} - {clock}   (q quits)"]
    if current.error:
        lines += ["", current.error, "retrying..."]
        return [line[:width] for line in lines[:height]]
    streams = current.streams.get("streams", [])
    conns = current.connections.get("connections", [])
    per_second = rate(previous, current)
    errors = _counter(current.stats, "errors", "errors_total", "failures")
    lines.append(
        f"connections {len(conns)}  parked {current.streams.get('parked', 0)}  "
        f"streams {len(streams)}  req/s {'-' if per_second is None else f'{per_second:.1f}'}  "
        f"errors {'-' if errors is None else int(errors)}"
    )
    totals = current.streams.get("totals", {})
    waiting = "  ".join(f"{name}: {n}" for name, n in sorted(totals.items(), key=lambda t: -t[1]))
    lines.append("waiting for  " + (waiting or "nothing"))
    lines.append("")
    header = (
        f"{'CONN':<14} {'PROTO':<8} {'ID':>5} {'METHOD':<6} {'PATH':<16} "
        f"{'WAITING FOR':<22} {'FOR s':>6} {'AGE s':>6} {'IN':>6} {'OUT':>6} "
        f"{'SWIN':>6} {'CSWIN':>6} {'RWIN':>6}  PEER"
    )
    lines.append(header)
    rows = sorted(streams, key=lambda r: -float(r.get("waiting") or 0))
    for r in rows[: max(height - len(lines), 0)]:
        lines.append(
            f"{r['cid'][:14]:<14} {r['protocol'][:8]:<8} {r['stream_id']:>5} "
            f"{(r['method'] or '-')[:6]:<6} {(r['path'] or '-')[:16]:<16} "
            f"{r['reason'][:22]:<22} {_secs(r['waiting']):>6} {_secs(r['age']):>6} "
            f"{_size(r['bytes_in']):>6} {_size(r['bytes_out']):>6} "
            f"{_size(r['send_window']):>6} {_size(r['send_connection_window']):>6} "
            f"{_size(r['receive_window']):>6}  {r['peer']}"
        )
    return [line[:width] for line in lines[:height]]


def _run_curses(host: str, port: int, interval: float) -> None:
    import curses

    def loop(screen: Any) -> None:
        curses.curs_set(0)
        screen.timeout(100)
        previous: Poll | None = None
        current = poll(host, port)
        next_poll = time.monotonic() + interval
        while True:
            height, width = screen.getmaxyx()
            screen.erase()
            lines = render(current, previous, f"{host}:{port}", width - 1, height)
            for y, line in enumerate(lines):
                screen.addstr(y, 0, line)
            screen.refresh()
            key = screen.getch()
            if key in (ord("q"), ord("Q"), 27):
                return
            if time.monotonic() >= next_poll:
                previous, current = current, poll(host, port)
                next_poll = time.monotonic() + interval

    curses.wrapper(loop)


def main(argv: Sequence[str] | None = None) -> int:
    """``mux top``: see the module docstring."""
    parser = argparse.ArgumentParser(
        prog="mux top",
        description="live view of a mux server's or gateway's admin API: connections, "
        "streams, req/s, errors and why each stream waits (q quits)",
    )
    parser.add_argument(
        "--admin",
        type=parse_admin,
        default=parse_admin(DEFAULT_ADMIN),
        metavar="HOST:PORT",
        help=f"the admin listener to watch (default {DEFAULT_ADMIN})",
    )
    parser.add_argument(
        "--interval", type=float, default=1.0, help="seconds between refreshes (default 1)"
    )
    parser.add_argument("--once", action="store_true", help="print one frame and exit")
    args = parser.parse_args(argv)
    host, port = args.admin
    if args.once or not sys.stdout.isatty():
        previous, current = None, poll(host, port)
        if not current.error:
            time.sleep(min(args.interval, 1.0))
            previous, current = current, poll(host, port)
        for line in render(current, previous, f"{host}:{port}", 200, 1000):
            print(line)
        return 1 if current.error else 0
    try:
        _run_curses(host, port, max(args.interval, 0.1))
    except KeyboardInterrupt:
        pass
    return 0
