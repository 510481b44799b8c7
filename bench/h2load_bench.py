"""HTTP/2 server throughput with h2load: mux (h2c) beside hypercorn (trio) and nghttpd (C).

Runs ``h2load -c 8 -m 100 -n N`` and ``h2load -c 1 -m 100 -n N/4`` against ``GET /echo``
(an empty 200 answer from each server) and reports requests/s and server CPU microseconds
per request, read from /proc for the server process tree.

Usage: ``python bench/h2load_bench.py [-n 200000] [--only mux|hypercorn|nghttpd]``
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
from pathlib import Path

from common import cpu_seconds, free_port, hypercorn_cmd, mux_server_cmd, server


def h2load(port: int, clients: int, requests: int) -> tuple[float, int]:
    out = subprocess.run(
        [
            "h2load",
            "-c",
            str(clients),
            "-m",
            "100",
            "-n",
            str(requests),
            f"http://127.0.0.1:{port}/echo",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    ).stdout
    rate = float(re.search(r"finished in .*?, ([\d.]+) req/s", out).group(1))  # type: ignore[union-attr]
    ok = int(re.search(r"(\d+) succeeded", out).group(1))  # type: ignore[union-attr]
    return rate, ok


def run(name: str, cmd: list[str], port: int, n: int) -> dict[str, tuple[float, float]]:
    """Run both h2load shapes; return ``{"c8": (req/s, server CPU us/req), "c1": ...}``."""
    results: dict[str, tuple[float, float]] = {}
    with server(cmd, port) as proc:
        h2load(port, 1, 2000)  # warm up
        for clients, count in ((8, n), (1, n // 4)):
            cpu0 = cpu_seconds(proc.pid)
            rate, ok = h2load(port, clients, count)
            cpu = cpu_seconds(proc.pid) - cpu0
            us = cpu * 1e6 / max(ok, 1)
            results[f"c{clients}"] = (rate, us)
            print(
                f"{name:<26} -c {clients} -m 100 -n {count:<7} {rate:>9.0f} req/s "
                f"{ok:>7} ok  server CPU {us:7.1f} us/req",
                flush=True,
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=200000)
    parser.add_argument("--only", choices=["mux", "hypercorn", "nghttpd"])
    args = parser.parse_args()
    print(f"## h2load, GET /echo, h2c prior knowledge, n={args.n}")
    table: dict[str, dict[str, tuple[float, float]]] = {}
    if args.only in (None, "mux"):
        port = free_port()
        table["mux"] = run("mux serve (h2c)", mux_server_cmd(port), port, args.n)
    if args.only in (None, "hypercorn"):
        port = free_port()
        table["hypercorn"] = run("hypercorn -k trio", hypercorn_cmd(port), port, args.n // 4)
    if args.only in (None, "nghttpd"):
        with tempfile.TemporaryDirectory() as root:
            (Path(root) / "echo").write_bytes(b"")
            port = free_port()
            cmd = ["nghttpd", "--no-tls", "-d", root, str(port)]
            table["nghttpd"] = run("nghttpd (C)", cmd, port, args.n)
    if "mux" in table:
        for peer in ("hypercorn", "nghttpd"):
            if peer in table:
                ratios = ", ".join(
                    f"{k}: {table['mux'][k][0] / table[peer][k][0]:.2f}x req/s, "
                    f"{table['mux'][k][1] / table[peer][k][1]:.1f}x CPU/req"
                    for k in table["mux"]
                )
                print(f"ratio mux / {peer}: {ratios}")


if __name__ == "__main__":
    main()
