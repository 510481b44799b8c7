"""Connection bursts: many new connections at once, one request in flight on each.

``h2load -c C -m 1 -D S`` (HTTP/1.1 with ``--h1``, h2c otherwise) against ``mux serve``
``/echo``, and for mux/msgpack the SDK: C connections (``mux_client.connect`` each, split
over a few client processes) looping ``POST /echo`` for S seconds. Every connection opens
at the start, so the server meets a burst of C handshakes while the first ones already
send requests. Reports the request latency percentiles (p50, p99, p99.9, max) and the
requests slower than 1 s: a burst is served fairly when p99.9 stays within a few times
p50 (a connection whose first request waits behind all the others shows up in the tail).

h2load's request time starts once its connection is established (the kernel completes
the TCP handshake before the server accepts), so a late ``accept`` shows up in it; the
SDK's first request includes its connection's handshake.

Usage: ``python bench/burst.py [-c 800] [-D 5] [--only h1|h2c|mux] [--mux-procs 4]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import free_port, mux_server_cmd, server


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    """p50, p99, p99.9, max (ms) and the count over 1 s of ``samples_ms``."""
    ordered = sorted(samples_ms)
    if not ordered:
        return {"n": 0}

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "n": len(ordered),
        "p50": at(0.50),
        "p99": at(0.99),
        "p99.9": at(0.999),
        "max": ordered[-1],
        "mean": statistics.fmean(ordered),
        "over_1s": sum(1 for s in ordered if s > 1000.0),
    }


def run_h2load(port: int, clients: int, seconds: int, h1: bool) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "requests.log"
        cmd = ["h2load", *(["--h1"] if h1 else []), "-c", str(clients), "-m", "1"]
        cmd += ["-D", str(seconds), f"--log-file={log}", f"http://127.0.0.1:{port}/echo"]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120)
        if out.returncode != 0:
            raise RuntimeError(f"h2load failed: {out.stderr[-500:]}")
        samples = []
        for line in log.read_text().splitlines():
            _start_us, status, duration_us = line.split("\t")
            if status.startswith("2"):
                samples.append(int(duration_us) / 1000.0)
        return samples


def run_mux(port: int, clients: int, seconds: int, procs: int) -> list[float]:
    share = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    children = [
        subprocess.Popen(
            [sys.executable, __file__, "--mux-client", str(port), str(n), str(seconds)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in share
        if n
    ]
    samples: list[float] = []
    for child in children:
        out, _ = child.communicate(timeout=seconds + 120)
        if child.returncode != 0:
            raise RuntimeError(f"mux client process failed ({child.returncode})")
        samples.extend(json.loads(out))
    return samples


def mux_client_main(port: int, clients: int, seconds: float) -> None:
    """Child process: ``clients`` SDK connections, one request at a time on each."""
    import trio

    import mux_client

    body = b"x" * 64
    samples: list[float] = []

    async def one(stop: float) -> None:
        async with mux_client.connect(f"127.0.0.1:{port}", max_connections=1) as client:
            while time.monotonic() < stop:
                t0 = time.monotonic()
                resp = await client.request("POST", "/echo", body=body)
                samples.append((time.monotonic() - t0) * 1000.0)
                assert resp.status == 200, resp

    async def main() -> None:
        stop = time.monotonic() + seconds
        async with trio.open_nursery() as nursery:
            for _ in range(clients):
                nursery.start_soon(one, stop)

    trio.run(main)
    print(json.dumps(samples))


def report(name: str, stats: dict[str, float]) -> None:
    if not stats.get("n"):
        print(f"{name:<5} no successful request", flush=True)
        return
    print(
        f"{name:<5} {int(stats['n']):>7} req  p50 {stats['p50']:7.1f} ms  "
        f"p99 {stats['p99']:7.1f}  p99.9 {stats['p99.9']:7.1f}  max {stats['max']:7.1f}  "
        f"p99.9/p50 {stats['p99.9'] / stats['p50']:5.1f}  >1 s: {int(stats['over_1s'])}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-c", "--clients", type=int, default=800)
    parser.add_argument("-D", "--seconds", type=int, default=5)
    parser.add_argument("--only", choices=("h1", "h2c", "mux"))
    parser.add_argument("--mux-procs", type=int, default=4)
    parser.add_argument("--mux-client", nargs=3, metavar=("PORT", "N", "SECONDS"))
    args = parser.parse_args()
    if args.mux_client:
        port, n, seconds = args.mux_client
        mux_client_main(int(port), int(n), float(seconds))
        return
    port = free_port()
    print(f"burst: {args.clients} connections, -m 1, {args.seconds} s, GET|POST /echo")
    with server(mux_server_cmd(port), port):
        for name in ("h1", "h2c", "mux"):
            if args.only and name != args.only:
                continue
            if name == "mux":
                samples = run_mux(port, args.clients, args.seconds, args.mux_procs)
            else:
                samples = run_h2load(port, args.clients, args.seconds, h1=name == "h1")
            report(name, percentiles(samples))
            time.sleep(1.0)  # let the previous burst's connections close


if __name__ == "__main__":
    main()
