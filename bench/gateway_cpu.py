"""The mux gateway's CPU per forwarded request, trees interleaved (and a profile).

Theory of operation
-------------------
The machine this runs on is shared and loaded, so wall-clock rates are noise;
what this measures is the gateway process's own CPU time (``/proc/PID/stat``)
over ``-n`` requests sent by ``h2load`` (h2c, ``-c 8 -m 100`` as in
``bench/gateway.py``) to ``mux gateway`` in front of an nginx origin (the
``--upstream c`` origin of ``bench/gateway.py``, so the upstream costs the
gateway process nothing). Each ``--tree`` is a source tree (e.g. a ``git
archive`` of the baseline commit and the working tree); the rounds interleave
the trees, every gateway process fresh, and the report is the median µs of CPU
per request for each tree and upstream protocol.

``--profile FILE`` runs the gateway of the first tree under ``cProfile`` for one
round (h2load as above) and writes the stats to ``FILE``; the gateway exits on
SIGINT, which lets cProfile write its file. Then (or with ``--breakdown FILE``
alone) it prints where the profiled time went, by layer: each function's own
time summed per module group, as a share of the total and per request (under
the profiler, so several times the real cost; the shares are what matter).

Usage: ``python bench/gateway_cpu.py --tree /tmp/base --tree . [-n 20000]
[--rounds 3] [--kind h2,h1] [--profile out.prof]``
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import pstats
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from common import BIN, cpu_seconds, free_port, wait_for_port
from gateway import WARMUP, Upstream, h2load, mux_gateway_config, upstream


@contextlib.contextmanager
def mux_gateway(
    tree: Path, up: Upstream, kind: str, pool: int, workdir: Path, profile: str | None
) -> Iterator[tuple[str, int]]:
    port = free_port()
    up_port = up.h2_port if kind == "h2" else up.h1_port
    config = workdir / f"gw-{kind}.toml"
    config.write_text(mux_gateway_config(port, up_port, kind, pool))
    python = str(BIN / "python")
    prefix = [python, "-m", "cProfile", "-o", profile] if profile else [python]
    cmd = [*prefix, "-m", "mux", "gateway", "--config", str(config), "--log-level", "WARNING"]
    env = dict(os.environ, PYTHONPATH=f"{tree}:{tree}/clients/python")
    proc = subprocess.Popen(
        cmd, cwd=tree, env=env, stdout=subprocess.DEVNULL, start_new_session=True
    )
    try:
        wait_for_port("127.0.0.1", port)
        yield f"http://127.0.0.1:{port}/echo", proc.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGINT if profile else signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def one(tree: Path, up: Upstream, kind: str, n: int, pool: int, workdir: Path) -> float:
    with mux_gateway(tree, up, kind, pool, workdir, None) as (url, pid):
        h2load(url, clients=8, streams=100, n=WARMUP)
        cpu0 = cpu_seconds(pid)
        run = h2load(url, clients=8, streams=100, n=n)
        return (cpu_seconds(pid) - cpu0) * 1e6 / run.ok


#: (path fragment, layer) pairs, the first match wins.
LAYERS = [
    ("/trio/", "trio: scheduler, tasks, cancel scopes, epoll"),
    ("/h2/", "h2 / hpack libraries"),
    ("/hpack/", "h2 / hpack libraries"),
    ("/h11/", "h11 library"),
    ("/mux/core/", "mux/core: protocol engines (downstream and upstream)"),
    ("/mux/driver/", "mux/driver: connection and stream drivers (both sides)"),
    ("/mux/server/", "mux/server: downstream request and handler glue"),
    ("/mux/gateway/forward", "gateway forward.py: route, headers, pumps"),
    ("/mux/gateway/", "gateway cluster, balancer, breakers, outlier, routes"),
    ("/mux_client/pool", "SDK pool book and channel"),
    ("/mux_client/channel", "SDK pool book and channel"),
    ("/mux_client/", "SDK calls"),
]


def breakdown(path: str) -> None:
    """Print each layer's share of the profiled time (own time, per request)."""
    stats = pstats.Stats(path).stats  # type: ignore[attr-defined]
    totals: collections.Counter[str] = collections.Counter()
    requests = 0
    for (file, _, func), (_, ncalls, own, _, _) in stats.items():
        layer = next((name for part, name in LAYERS if part in file), None)
        if layer is None:
            io = any(k in func for k in ("writev", "recv", "send", "epoll", "close", "poll"))
            layer = "C built-ins: socket I/O" if file == "~" and io else "other (built-ins, stdlib)"
        totals[layer] += own
        if file.endswith("mux/gateway/routes.py") and func == "match":
            requests = ncalls
    total = sum(totals.values())
    print(f"\n{path}: {total:.2f} s profiled, {requests} requests routed")
    print("| layer | share | µs/req under cProfile |\n|---|---:|---:|")
    for layer, own in totals.most_common():
        per = own * 1e6 / requests if requests else 0.0
        print(f"| {layer} | {own / total * 100:.1f}% | {per:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tree", action="append", type=Path, required=True)
    parser.add_argument("-n", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--kind", default="h2,h1")
    parser.add_argument("--pool", type=int, default=1024)
    parser.add_argument("--profile")
    parser.add_argument("--breakdown", help="only print the breakdown of this profile")
    args = parser.parse_args()
    if args.breakdown:
        breakdown(args.breakdown)
        return
    kinds = args.kind.split(",")
    with tempfile.TemporaryDirectory() as tmp, upstream("c", Path(tmp)) as up:
        workdir = Path(tmp)
        if args.profile:
            tree = args.tree[0].resolve()
            with mux_gateway(tree, up, kinds[0], args.pool, workdir, args.profile) as (url, _):
                h2load(url, clients=8, streams=100, n=WARMUP + args.n)
            print(f"profile written to {args.profile}")
            breakdown(args.profile)
            return
        results: dict[tuple[str, str], list[float]] = {}
        for r in range(args.rounds):
            for kind in kinds:
                for tree in args.tree:
                    us = one(tree.resolve(), up, kind, args.n, args.pool, workdir)
                    results.setdefault((str(tree), kind), []).append(us)
                    print(f"round {r + 1} {kind} {tree}: {us:.1f} us/req", flush=True)
        print("\n| tree | upstream | CPU µs/req (median) | rounds |")
        print("|---|---|---:|---|")
        for (tree, kind), values in results.items():
            runs = ", ".join(f"{v:.0f}" for v in values)
            print(f"| {tree} | {kind} | {statistics.median(values):.1f} | {runs} |")


if __name__ == "__main__":
    sys.exit(main())
