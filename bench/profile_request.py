"""Where the time of one unary request goes: cProfile of the SDK and of ``mux serve``.

Runs ``mux serve`` under ``python -m cProfile`` (it stops gracefully on SIGTERM, so the
profile is written), drives N requests (``POST /echo``, 64 bytes, 100 in flight, one
connection) with the SDK under cProfile in this process, then prints, for each side, the
CPU time per request (``getrusage`` for the client, ``/proc`` for the server; both include
the profiler's own overhead, ~2x) and the top functions by own time, as µs per request.

Usage: ``python bench/profile_request.py [--protocol mux|h2] [-n 20000] [--top 25]``
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import resource
import sys
import tempfile
import time
from pathlib import Path

import trio
from common import cpu_seconds, free_port, server

BODY = b"x" * 64


async def drive(port: int, protocol: str, count: int, inflight: int) -> None:
    import mux_client

    async with mux_client.connect(
        f"127.0.0.1:{port}", max_connections=1, protocol=protocol
    ) as client:
        left = count

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                resp = await client.request("POST", "/echo", body=BODY)
                assert resp.status == 200 and resp.body == BODY, resp

        async with trio.open_nursery() as nursery:
            for _ in range(inflight):
                nursery.start_soon(worker)


def top(stats_file: str | cProfile.Profile, requests: int, limit: int, title: str) -> None:
    stats = pstats.Stats(stats_file)  # type: ignore[arg-type]
    total = stats.total_tt  # type: ignore[attr-defined]
    print(f"### {title}: profiled {total * 1e6 / requests:.1f} µs/request (own time)")
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)  # type: ignore[attr-defined]
    for (path, line, func), (_cc, nc, tt, ct, _callers) in rows[:limit]:
        where = f"{Path(path).parent.name}/{Path(path).name}:{line}" if line else path
        print(
            f"{tt * 1e6 / requests:7.2f} µs own {ct * 1e6 / requests:8.2f} µs cum "
            f"{nc / requests:6.2f} calls  {func}  ({where})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--protocol", choices=["mux", "h2"], default="mux")
    parser.add_argument("-n", type=int, default=20000)
    parser.add_argument("--inflight", type=int, default=100)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "server.prof")
        cmd = [sys.executable, "-m", "cProfile", "-o", out, "-m", "mux", "serve"]
        cmd += ["--listen", f"127.0.0.1:{port}"]
        with server(cmd, port) as proc:
            trio.run(drive, port, args.protocol, 2000, args.inflight)  # warm up, unprofiled
            cpu0 = cpu_seconds(proc.pid)
            ru0 = resource.getrusage(resource.RUSAGE_SELF)
            t0 = time.monotonic()
            profiler = cProfile.Profile()
            profiler.runcall(trio.run, drive, port, args.protocol, args.n, args.inflight)
            elapsed = time.monotonic() - t0
            ru1 = resource.getrusage(resource.RUSAGE_SELF)
            cpu = cpu_seconds(proc.pid) - cpu0
        n = args.n
        client_cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        print(
            f"## {args.protocol}: {n} requests in {elapsed:.1f}s; CPU µs/request under the "
            f"profiler: client {client_cpu * 1e6 / n:.0f}, server {cpu * 1e6 / n:.0f}"
        )
        top(profiler, n, args.top, "SDK (client)")
        top(out, n + 2000, args.top, "mux serve (server, incl. warm-up requests)")


if __name__ == "__main__":
    main()
