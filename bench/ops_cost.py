"""The cost of metrics and the access log: ``mux serve`` off / metrics / metrics + access log.

    .venv/bin/python bench/ops_cost.py [--rounds 3] [--duration 8] [--protocol h2|http1]

Each run starts ``mux serve --listen 127.0.0.1:PORT --log-level WARNING`` with:

* ``off``: no admin listener, no access log (the server's ``ops`` is None);
* ``metrics``: ``--admin 127.0.0.1:PORT`` (every request counted);
* ``metrics+log``: also ``--access-log FILE`` (text format, a file in a temp directory);

loads it with ``h2load -c 8 -m 100 -D DURATION`` on ``POST``-less ``GET /echo``
(``--h1`` for HTTP/1.1), and reports req/s and the server's CPU time per
request (utime+stime from ``/proc`` over the load). Modes alternate within
each round (off, metrics, metrics+log), several rounds; the medians are
compared. In the metrics modes it then scrapes ``/metrics`` and checks that
``mux_requests_total`` counted every request h2load made (the figure is real),
and the access log's line count.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from common import ROOT, free_port, wait_for_port

MODES = ("off", "metrics", "metrics+log")
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def run(mode: str, duration: int, protocol: str, tmp: Path) -> dict[str, float]:
    port, admin = free_port(), free_port()
    args = [sys.executable, "-m", "mux", "serve", "--listen", f"127.0.0.1:{port}"]
    args += ["--log-level", "WARNING"]
    log = tmp / f"access-{time.monotonic_ns()}.log"
    if mode != "off":
        args += ["--admin", f"127.0.0.1:{admin}"]
    if mode == "metrics+log":
        args += ["--access-log", str(log)]
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'clients' / 'python'}"}
    server = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    try:
        wait_for_port("127.0.0.1", port)
        time.sleep(0.5)
        before = cpu_seconds(server.pid)
        load = ["h2load", "-c", "8", "-m", "100", "-D", str(duration)]
        if protocol == "http1":
            load += ["--h1", "-m", "1"]
        out = subprocess.run(
            [*load, f"http://127.0.0.1:{port}/echo"], capture_output=True, text=True, check=True
        ).stdout
        after = cpu_seconds(server.pid)
        rps = float(re.search(r"finished in [^,]*, ([0-9.]+) req/s", out).group(1))  # type: ignore[union-attr]
        done = int(re.search(r"requests: .* (\d+) succeeded", out).group(1))  # type: ignore[union-attr]
        result = {"rps": rps, "cpu_us": (after - before) * 1e6 / max(done, 1), "done": done}
        if mode != "off":
            text = urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics").read().decode()
            counted = sum(
                float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line.startswith("mux_requests_total{")
            )
            result["counted"] = counted
    finally:
        server.terminate()
        server.wait(timeout=30)
    if mode == "metrics+log":
        result["logged"] = len(log.read_bytes().splitlines())
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--protocol", choices=("h2", "http1"), default="h2")
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(1, args.rounds + 1):
            for mode in MODES:
                r = run(mode, args.duration, args.protocol, Path(tmp))
                results[mode].append(r)
                extra = ""
                if "counted" in r:
                    extra += f", /metrics counted {r['counted']:.0f} of {r['done']:.0f}"
                if "logged" in r:
                    extra += f", {r['logged']:.0f} log lines"
                load = Path("/proc/loadavg").read_text().split()[:3]
                print(
                    f"round {round_} {mode:12} {r['rps']:9,.0f} req/s {r['cpu_us']:6.1f} µs/req"
                    f"{extra} (loadavg {' '.join(load)})",
                    flush=True,
                )
    base_rps = statistics.median(r["rps"] for r in results["off"])
    base_cpu = statistics.median(r["cpu_us"] for r in results["off"])
    print(f"\n| mode ({args.protocol}) | median req/s | vs off | median CPU µs/req | vs off |")
    print("|---|---:|---:|---:|---:|")
    for mode in MODES:
        rps = statistics.median(r["rps"] for r in results[mode])
        cpu = statistics.median(r["cpu_us"] for r in results[mode])
        print(
            f"| {mode} | {rps:,.0f} | {(rps / base_rps - 1) * 100:+.1f}% | {cpu:.1f} | "
            f"{(cpu / base_cpu - 1) * 100:+.1f}% |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
