"""Where the time of one unary request goes: cProfile of the SDK and of ``mux serve``.

Runs ``mux serve`` under cProfile (it stops gracefully on SIGTERM, so the profile is
written; the per-connection stream cap lifted as in the other benchmarks), drives N
requests (``POST /echo``, 64 bytes, 100 in flight, one connection) with the SDK under
cProfile in this process, then prints, for each side: the CPU time per request
(``getrusage`` for the client, ``/proc`` for the server, both with the profiler's own
overhead, ~2x), the profiled time by area (Trio, the driver, the protocol core,
h2/hpack/hyperframe, the SDK, the application) and the top functions by own time, as µs
per request. The profilers use cProfile's default clock (wall time: a CPU-time clock costs
a system call per event, and its overhead, ~10x, distorts the split more than the machine's
load does); read the split as shares.

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


AREAS = [
    ("waiting in epoll", "<method 'poll' of 'select.epoll' objects>"),
    ("trio", "/trio/"),
    ("mux driver", "/mux/driver/"),
    ("mux core", "/mux/core/"),
    ("h2/hpack/hyperframe", ("/h2/", "/hpack/", "/hyperframe/")),
    ("SDK", "/mux_client/"),
    ("server app", ("/mux/server/", "/mux/cli")),
    ("builtins and C", "~"),
]


def areas(stats: pstats.Stats, requests: int) -> str:
    totals: dict[str, float] = {}
    for (path, _line, func), (_cc, _nc, tt, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        path = func if func.startswith("<method 'poll'") else path
        name = next(
            (
                area
                for area, marks in AREAS
                if any(m in path for m in (marks if isinstance(marks, tuple) else (marks,)))
            ),
            "other Python",
        )
        totals[name] = totals.get(name, 0.0) + tt
    return ", ".join(
        f"{k} {v * 1e6 / requests:.1f}" for k, v in sorted(totals.items(), key=lambda kv: -kv[1])
    )


def top(stats_file: str | cProfile.Profile, requests: int, limit: int, title: str) -> None:
    stats = pstats.Stats(stats_file)  # type: ignore[arg-type]
    total = stats.total_tt  # type: ignore[attr-defined]
    print(f"### {title}: profiled {total * 1e6 / requests:.1f} µs/request (own time)")
    print(f"by area (µs/request): {areas(stats, requests)}")
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)  # type: ignore[attr-defined]
    for (path, line, func), (_cc, nc, tt, ct, _callers) in rows[:limit]:
        where = f"{Path(path).parent.name}/{Path(path).name}:{line}" if line else path
        print(
            f"{tt * 1e6 / requests:7.2f} µs own {ct * 1e6 / requests:8.2f} µs cum "
            f"{nc / requests:6.2f} calls  {func}  ({where})"
        )


def serve_profiled(out: str, port: str) -> None:
    """``mux serve`` (no stream cap) under a CPU-time cProfile, written to ``out`` at exit."""
    sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
    import mux_nocap  # noqa: F401  (lifts the cap on import)

    from mux import cli

    profiler = cProfile.Profile()
    try:
        profiler.runcall(cli.main, ["serve", "--listen", f"127.0.0.1:{port}"])
    finally:
        profiler.dump_stats(out)


def main() -> None:
    if sys.argv[1:2] == ["--serve-profiled"]:
        serve_profiled(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--protocol", choices=["mux", "h2"], default="mux")
    parser.add_argument("-n", type=int, default=20000)
    parser.add_argument("--inflight", type=int, default=100)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "server.prof")
        cmd = [sys.executable, __file__, "--serve-profiled", out, str(port)]
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
