"""The summary of a ``mux bench`` run: merge the workers' results, render them.

Theory of operation
-------------------
Each worker process reports a ``result`` (counts, errors by kind, a latency and a
connection-setup :class:`~mux.scale.histogram.Histogram` as JSON, the seconds its
connection setup and its load phase took). :func:`summarize` adds the counts, merges
the histograms, and derives rates: requests/s is the requests answered over the
longest load phase of any worker (they run side by side); setup rate is the
connections opened over the longest setup phase. With ``--server-pid`` the server's
tree was sampled before the run and while every session was held; the difference per
held session is the server's cost of one session (memory), and the CPU time it spent
accepting them over their number its CPU cost of one connection setup. The result
is a plain JSON-able dict (``--json`` prints it as is); :func:`render_text` makes it
readable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mux.scale.histogram import Histogram
from mux.scale.procstat import TreeStats


def _stats(hist: Histogram, percentiles: Sequence[float], scale: float) -> dict[str, float]:
    out = {f"p{p:g}": hist.percentile(p) / scale for p in percentiles}
    out["mean"] = hist.mean / scale
    out["max"] = hist.max / scale
    return out


def summarize(
    results: list[dict[str, Any]],
    *,
    mode: str,
    target: str,
    protocol: str,
    processes: int,
    sources: int,
    series: list[tuple[float, float, int]],
    server_before: TreeStats | None,
    server_held: TreeStats | None,
    slab_growth: int | None = None,
    open_at_end: int | None = None,
    percentiles: Sequence[float],
) -> dict[str, Any]:
    latency, setup = Histogram(), Histogram()
    errors: dict[str, int] = {}
    for result in results:
        latency.merge(Histogram.from_json(result["latency"]))
        setup.merge(Histogram.from_json(result["setup"]))
        for kind, count in result["errors"].items():
            errors[kind] = errors.get(kind, 0) + count
    opened = sum(r["opened"] for r in results)
    done = sum(r["done"] for r in results)
    load_seconds = max((r["load_seconds"] for r in results), default=0.0)
    setup_seconds = max((r["setup_seconds"] for r in results), default=0.0)
    summary: dict[str, Any] = {
        "mode": mode,
        "target": target,
        "protocol": protocol,
        "processes": processes,
        "source_addresses": sources,
        "connections": {
            "opened": opened,
            "open_at_end": open_at_end,
            "setup_seconds": round(setup_seconds, 3),
            "per_second": round(opened / setup_seconds, 1) if setup_seconds > 0 else None,
            "setup_ms": _stats(setup, percentiles, 1000.0),
        },
        "errors": errors,
        "series": [{"t": round(t, 2), "req_per_s": round(r, 1), "open": o} for t, r, o in series],
    }
    if mode != "hold":
        summary["requests"] = {
            "done": done,
            "seconds": round(load_seconds, 3),
            "per_second": round(done / load_seconds, 1) if load_seconds > 0 else None,
            "histogram_count": latency.count,
            "body_bytes": sum(r["body_bytes"] for r in results),
        }
        summary["latency_ms"] = _stats(latency, percentiles, 1000.0)
    if slab_growth is not None and opened:
        # Machine-wide (other processes count too): kernel slab per connection held.
        summary["kernel"] = {
            "slab_growth_kib": slab_growth // 1024,
            "slab_per_connection_kib": round(slab_growth / opened / 1024, 2),
        }
    if server_before is not None:
        server: dict[str, Any] = {
            "processes": server_before.processes,
            "rss_before_kib": server_before.rss_bytes // 1024,
            "fds_before": server_before.fds,
        }
        if server_held is not None:
            server.update(
                processes=server_held.processes,
                rss_held_kib=server_held.rss_bytes // 1024,
                fds_held=server_held.fds,
            )
            if opened:
                grown = server_held.rss_bytes - server_before.rss_bytes
                server["rss_per_session_kib"] = round(grown / opened / 1024, 2)
                cpu = server_held.cpu_seconds - server_before.cpu_seconds
                server["cpu_seconds_to_open"] = round(cpu, 2)
                server["cpu_us_per_session_open"] = round(cpu / opened * 1e6, 1)
        summary["server"] = server
    return summary


def _latency_line(title: str, stats: dict[str, float]) -> str:
    parts = [f"{name} {value:,.3f}" for name, value in stats.items()]
    return f"{title:<12}" + "  ".join(parts) + " ms"


def render_text(summary: dict[str, Any]) -> str:
    conns = summary["connections"]
    lines = [
        f"mux bench: {summary['mode']} against {summary['target']} ({summary['protocol']}), "
        f"{summary['processes']} process(es), {summary['source_addresses'] or 'default'} "
        "source address(es)",
        f"connections {conns['opened']:,} opened in {conns['setup_seconds']:.2f} s"
        + (f" ({conns['per_second']:,.0f}/s)" if conns["per_second"] else "")
        + (
            f", {conns['open_at_end']:,} still open at the end of the hold"
            if conns["open_at_end"] is not None
            else ""
        ),
        _latency_line("setup", conns["setup_ms"]),
    ]
    if "requests" in summary:
        reqs = summary["requests"]
        rate = f"{reqs['per_second']:,.0f}" if reqs["per_second"] else "-"
        lines.append(f"requests    {reqs['done']:,} in {reqs['seconds']:.2f} s: {rate} req/s")
        lines.append(_latency_line("latency", summary["latency_ms"]))
    errors = summary["errors"]
    lines.append(
        "errors      "
        + (", ".join(f"{kind}: {count:,}" for kind, count in sorted(errors.items())) or "0")
    )
    kernel = summary.get("kernel")
    if kernel:
        lines.append(
            f"kernel      slab +{kernel['slab_growth_kib']:,} KiB machine-wide "
            f"({kernel['slab_per_connection_kib']:.2f} KiB per connection, both ends if local)"
        )
    server = summary.get("server")
    if server:
        text = (
            f"server      {server['processes']} process(es): RSS {server['rss_before_kib']:,} KiB, "
            f"{server['fds_before']:,} fds before"
        )
        if "rss_held_kib" in server:
            text += f"; RSS {server['rss_held_kib']:,} KiB, {server['fds_held']:,} fds held"
        if "rss_per_session_kib" in server:
            text += f" ({server['rss_per_session_kib']:.2f} KiB per session)"
        if "cpu_us_per_session_open" in server:
            text += (
                f"\n            server CPU to open them {server['cpu_seconds_to_open']:.2f} s "
                f"({server['cpu_us_per_session_open']:,.0f} µs per session)"
            )
        lines.append(text)
    return "\n".join(lines)
