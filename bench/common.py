"""Shared helpers for the benchmarks: start and stop servers, ports, RSS, CPU time.

Every process started here is stopped by :func:`server` on exit, whatever happens.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"server on {host}:{port} did not start within {timeout}s")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def tree_pids(pid: int) -> list[int]:
    """``pid`` and all its descendants (hypercorn serves from a worker subprocess)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, []))
    return out


def tree_rss_kib(pid: int) -> int:
    return sum(rss_kib(p) for p in tree_pids(pid))


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its descendants."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for p in tree_pids(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def mux_server_cmd(port: int, *extra: str) -> list[str]:
    """``mux serve`` with the per-connection stream cap lifted (as hypercorn's request cap
    is in ``peers/hypercorn.toml``): ``peers/mux_nocap.py``."""
    launcher = str(ROOT / "bench" / "peers" / "mux_nocap.py")
    return [sys.executable, launcher, "serve", "--listen", f"127.0.0.1:{port}", *extra]


def hypercorn_cmd(port: int, *extra: str) -> list[str]:
    return [
        str(BIN / "hypercorn"),
        "--worker-class",
        "trio",
        "--bind",
        f"127.0.0.1:{port}",
        "--config",
        str(ROOT / "bench" / "peers" / "hypercorn.toml"),
        *extra,
        "bench.peers.asgi_echo:app",
    ]


@contextlib.contextmanager
def server(cmd: list[str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server process, wait until it listens, always stop it afterwards."""
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        try:
            wait_for_port("127.0.0.1", port)
        except RuntimeError:
            err = b"" if proc.poll() is None or proc.stderr is None else proc.stderr.read()
            tail = err.decode(errors="replace")[-500:]
            raise RuntimeError(f"{cmd[0]} did not listen on {port}: {tail}") from None
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
