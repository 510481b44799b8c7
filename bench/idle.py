"""(b) Server RSS per idle connection: mux against hypercorn (HTTP/2, trio worker).

Opens COUNT idle connections (handshake done and the server's SETTINGS acknowledged, no
streams) spread over several loopback source addresses and client processes, holds them
at least HOLD seconds from the first connect (longer than the server's 10 s handshake
and SETTINGS timeouts), reads the server's RSS growth, then checks that every connection
is still open (the figure counts only if none was closed).

Usage: ``python bench/idle.py [--count 10000] [--hold 30] [--only mux|hypercorn]``
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from common import ROOT, free_port, hypercorn_cmd, mux_server_cmd, server, tree_rss_kib

SOURCES = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]


def measure(name: str, proto: str, cmd_for_port: object, count: int, hold: float) -> float:
    port = free_port()
    cmd = cmd_for_port(port)  # type: ignore[operator]
    with server(cmd, port) as proc:
        time.sleep(1.0)
        before = tree_rss_kib(proc.pid)
        started = time.monotonic()
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
            ready = time.monotonic() - started
            time.sleep(max(2.0, hold - ready))
            after = tree_rss_kib(proc.pid)
            held = time.monotonic() - started
            alive = 0
            for client in clients:
                assert client.stdin is not None and client.stdout is not None
                client.stdin.write(b"check\n")
                client.stdin.flush()
                answer = client.stdout.readline().decode().split()
                alive += int(answer[1])
            if alive != opened:
                raise RuntimeError(
                    f"{name}: only {alive} of {opened} connections still open after {held:.0f} s"
                )
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
        f"  {per_conn / 1024:6.2f} KiB/conn  (handshakes {ready:.1f} s, all {alive} open"
        f" after {held:.0f} s)",
        flush=True,
    )
    return per_conn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--hold", type=float, default=30.0, help="seconds (>= 30 by default)")
    parser.add_argument("--only", choices=["mux", "hypercorn"])
    args = parser.parse_args()
    print(f"## (b) server RSS per idle connection ({args.count} connections)")
    if args.only in (None, "mux"):
        measure("mux serve (mux/msgpack)", "mux", mux_server_cmd, args.count, args.hold)
        measure("mux serve (h2c)", "h2", mux_server_cmd, args.count, args.hold)
    if args.only in (None, "hypercorn"):
        measure("hypercorn -k trio (h2c)", "h2", hypercorn_cmd, args.count, args.hold)


if __name__ == "__main__":
    main()
