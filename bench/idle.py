"""(b) Server RSS per idle connection: mux against hypercorn (HTTP/2, trio worker).

Opens COUNT idle connections (handshake done, no streams) spread over several loopback
source addresses and client processes, then reads the server's RSS growth.

Usage: ``python bench/idle.py [--count 10000] [--only mux|hypercorn]``
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from common import ROOT, free_port, hypercorn_cmd, mux_server_cmd, server, tree_rss_kib

SOURCES = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]


def measure(name: str, proto: str, cmd_for_port: object, count: int) -> float:
    port = free_port()
    cmd = cmd_for_port(port)  # type: ignore[operator]
    with server(cmd, port) as proc:
        time.sleep(1.0)
        before = tree_rss_kib(proc.pid)
        per = count // len(SOURCES)
        clients = [
            subprocess.Popen(
                [
                    sys.executable,
                    str(ROOT / "bench" / "idle_clients.py"),
                    proto,
                    "127.0.0.1",
                    str(port),
                    str(per),
                    src,
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                cwd=ROOT,
            )
            for src in SOURCES
        ]
        try:
            opened = 0
            for client in clients:
                assert client.stdout is not None
                line = client.stdout.readline().decode().strip()
                if not line.startswith("ready"):
                    raise RuntimeError(f"{name}: client failed: {line!r}")
                opened += int(line.split()[1])
            time.sleep(2.0)
            after = tree_rss_kib(proc.pid)
        finally:
            for client in clients:
                if client.stdin:
                    client.stdin.close()
            for client in clients:
                try:
                    client.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    client.kill()
    per_conn = (after - before) * 1024 / opened
    print(
        f"{name:<28} {opened:>7} idle conns  RSS {before / 1024:7.1f} -> {after / 1024:7.1f} MiB"
        f"  {per_conn / 1024:6.2f} KiB/conn",
        flush=True,
    )
    return per_conn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--only", choices=["mux", "hypercorn"])
    args = parser.parse_args()
    print(f"## (b) server RSS per idle connection ({args.count} connections)")
    if args.only in (None, "mux"):
        measure("mux serve (mux/msgpack)", "mux", mux_server_cmd, args.count)
        measure("mux serve (h2c)", "h2", mux_server_cmd, args.count)
    if args.only in (None, "hypercorn"):
        measure("hypercorn -k trio (h2c)", "h2", hypercorn_cmd, args.count)


if __name__ == "__main__":
    main()
