"""``mux bench --plot FILE``: latency distribution and throughput over time.

Theory of operation
-------------------
The default output is one self-contained HTML file with two inline SVG charts (no
script, no external asset): the latency percentile curve, with the x axis in "nines"
(``log10(1 / (1 - q))``: 50 %, 90 %, 99 %, 99.9 %... equally spaced, as HdrHistogram
plots do), and requests/s and open connections over time from the progress samples.
A file name ending in ``.png`` is drawn with matplotlib when it is installed (it is not
a dependency of mux); otherwise the run says so and asks for ``.html``.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

from mux.scale.histogram import Histogram

WIDTH, HEIGHT, PAD = 640, 320, 48
_QUANTILES = [0.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 99.999]


def _nines(percent: float) -> float:
    return math.log10(1.0 / (1.0 - min(percent, 99.999) / 100.0))


def percentile_curve(latency: Histogram) -> list[tuple[float, float]]:
    """(percent, milliseconds) points of the latency distribution."""
    points = [(q, latency.percentile(q) / 1000.0) for q in _QUANTILES]
    points.append((100.0, latency.max / 1000.0))
    return points


def _svg(
    title: str,
    points: list[tuple[float, float]],
    x_label: str,
    y_label: str,
    x_ticks: list[tuple[float, str]],
) -> str:
    if not points:
        return f"<p>{html.escape(title)}: no data</p>"
    x_max = max(max(x for x, _ in points), max((x for x, _ in x_ticks), default=0.0)) or 1.0
    y_max = max(y for _, y in points) * 1.1 or 1.0

    def sx(x: float) -> float:
        return PAD + (WIDTH - 2 * PAD) * x / x_max

    def sy(y: float) -> float:
        return HEIGHT - PAD - (HEIGHT - 2 * PAD) * y / y_max

    path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in points)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'font-family="sans-serif" font-size="11">',
        f'<text x="{WIDTH / 2}" y="16" text-anchor="middle" font-size="14">'
        f"{html.escape(title)}</text>",
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" '
        'stroke="#000"/>',
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="#000"/>',
    ]
    for x, label in x_ticks:
        parts.append(
            f'<text x="{sx(x):.1f}" y="{HEIGHT - PAD + 14}" text-anchor="middle">'
            f"{html.escape(label)}</text>"
        )
    for i in range(5):
        y = y_max * i / 4
        parts.append(
            f'<text x="{PAD - 4}" y="{sy(y) + 4:.1f}" text-anchor="end">{y:,.3g}</text>'
            f'<line x1="{PAD}" y1="{sy(y):.1f}" x2="{WIDTH - PAD}" y2="{sy(y):.1f}" '
            'stroke="#ddd"/>'
        )
    parts += [
        f'<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{path}"/>',
        f'<text x="{WIDTH / 2}" y="{HEIGHT - 8}" text-anchor="middle">'
        f"{html.escape(x_label)}</text>",
        f'<text x="12" y="{HEIGHT / 2}" transform="rotate(-90 12 {HEIGHT / 2})" '
        f'text-anchor="middle">{html.escape(y_label)}</text>',
        "</svg>",
    ]
    return "\n".join(parts)


def render_html(summary: dict[str, Any], latency: Histogram) -> str:
    curve = [(_nines(q), ms) for q, ms in percentile_curve(latency)] if latency.count else []
    ticks = [(_nines(q), f"{q:g}%") for q in (0.0, 90.0, 99.0, 99.9, 99.99, 99.999)]
    series = summary.get("series", [])
    throughput = [(s["t"], s["req_per_s"]) for s in series]
    opened = [(s["t"], float(s["open"])) for s in series]
    end = series[-1]["t"] if series else 1.0
    time_ticks = [(end * i / 5, f"{end * i / 5:.0f}") for i in range(6)]
    sections = [
        _svg("Latency by percentile", curve, "percentile", "ms", ticks),
        _svg("Requests per second", throughput, "seconds", "req/s", time_ticks),
        _svg("Open connections", opened, "seconds", "connections", time_ticks),
    ]
    from mux.scale.summary import render_text

    return (
        "<!doctype html>\n<html><head><meta charset='utf-8'><title>mux bench</title></head>"
        "<body>\n<pre>"
        + html.escape(render_text(summary))
        + "</pre>\n"
        + "\n".join(sections)
        + "\n</body></html>\n"
    )


def write_plot(path: str, summary: dict[str, Any], latency: Histogram) -> None:
    """Write the charts to ``path`` (.png through matplotlib when installed, else HTML)."""
    if path.lower().endswith(".png"):
        try:
            import matplotlib  # type: ignore[import-not-found]

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt  # type: ignore[import-not-found]
        except ImportError:
            raise OSError(
                "PNG needs matplotlib, which is not installed: use a .html name"
            ) from None
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
        points = percentile_curve(latency)
        left.plot([_nines(q) for q, _ in points], [ms for _, ms in points])
        left.set_xlabel("percentile (nines)")
        left.set_ylabel("ms")
        series = summary.get("series", [])
        right.plot([s["t"] for s in series], [s["req_per_s"] for s in series])
        right.set_xlabel("seconds")
        right.set_ylabel("req/s")
        fig.savefig(path)
        return
    Path(path).write_text(render_html(summary, latency), encoding="utf-8")
