"""``mux bench``: an h2load-like load generator for mux/msgpack and HTTP/2.

Theory of operation
-------------------
1. Parse and check the arguments; :mod:`mux.scale.plan` spreads connections,
   requests, rate and source addresses over ``--processes`` worker processes and
   refuses, with the reason and the flag that fixes it, a run this machine cannot do
   (fds per process, ports per source address: the arithmetic of ``mux doctor``).
2. Probe the target with one TCP connection: a dead target is one line and exit 1.
3. Start the workers (``python -m mux.scale.worker``, :mod:`mux.scale.worker`), read
   their JSON lines on threads, and show live progress on stderr (one refreshed line on
   a TTY, a line every :data:`LOG_EVERY` seconds otherwise).
4. Hold mode: once every worker reports ``held``, sample the server's process tree
   (``--server-pid``, :mod:`mux.scale.procstat`), hold for ``--duration`` seconds,
   sample again, then close the workers' stdin so they let go.
5. Merge the workers' histograms and counts into one summary: printed, or ``--json``;
   ``--plot FILE`` draws it (:mod:`mux.scale.plot`).

Exit status: 0 when the run did what it was asked (every connection opened and still
open at the end of the hold, or at least one request answered; errors are reported
either way), 1 when it could not (dead
target, nothing answered, a worker failed), 2 on a usage error or a refused run.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import attrs

from mux.scale.doctor import read_machine
from mux.scale.histogram import Histogram
from mux.scale.plan import ProcessPlan, parse_sources, plan, problems
from mux.scale.procstat import TreeStats, slab_bytes, tree_stats
from mux.scale.summary import render_text, summarize

#: Seconds between progress lines when stderr is not a terminal.
LOG_EVERY = 5.0
#: Seconds the probe connection may take.
PROBE_TIMEOUT = 3.0
PERCENTILES = (50.0, 90.0, 99.0, 99.9)


def _target(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


def _count(value: str) -> int:
    try:
        number = int(value.replace("_", "").replace(",", ""))
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value!r}")
    return number


def _seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {value!r}")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mux bench",
        description="Load a mux/msgpack or HTTP/2 (h2c) server: requests/s and latency "
        "percentiles (closed loop, or open loop with --rate), or --hold N idle sessions "
        "and the server's memory and fds.",
    )
    parser.add_argument("--target", type=_target, required=True, help="server HOST:PORT")
    parser.add_argument("--protocol", choices=["mux", "h2"], default="mux")
    parser.add_argument("--path", default="/healthz", help="GET this path")
    parser.add_argument("--connections", "-c", type=_count, default=1)
    parser.add_argument(
        "--streams", "-m", type=_count, default=10, help="requests in flight per connection"
    )
    parser.add_argument(
        "--requests", "-n", type=_count, help="total requests (default: --duration)"
    )
    parser.add_argument(
        "--duration", "-D", type=_seconds, help="seconds of load, or of holding (default 10)"
    )
    parser.add_argument(
        "--rate",
        type=_seconds,
        help="open loop: start this many requests/s on a fixed schedule; latency counts "
        "from the scheduled time (no coordinated omission)",
    )
    parser.add_argument(
        "--hold", type=_count, metavar="N", help="open N idle sessions and keep them open"
    )
    parser.add_argument(
        "--open-rate",
        type=_seconds,
        help="new connections per second (default: as fast as possible)",
    )
    parser.add_argument(
        "--sources",
        default="",
        help="bind connections to these addresses, e.g. 127.0.0.2-127.0.0.60",
    )
    parser.add_argument("--processes", "-p", type=_count, default=1, help="worker processes")
    parser.add_argument(
        "--server-pid", type=int, help="report this process tree's RSS and fds (hold mode)"
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument(
        "--plot",
        metavar="FILE",
        help="write latency and throughput charts (.html, or .png with matplotlib)",
    )
    return parser


@attrs.define
class _Proc:
    plan: ProcessPlan
    popen: subprocess.Popen[bytes]
    done: int = 0
    errors: int = 0
    open: int = 0
    held: bool = False
    result: dict[str, Any] | None = None
    stderr_tail: list[str] = attrs.Factory(list)


def _reader(index: int, stream: IO[bytes], sink: queue.Queue[tuple[int, dict[str, Any]]]) -> None:
    for raw in stream:
        try:
            sink.put((index, json.loads(raw)))
        except ValueError:
            continue
    sink.put((index, {"type": "eof"}))


def _tail(proc: _Proc) -> None:
    assert proc.popen.stderr is not None
    for raw in proc.popen.stderr:
        proc.stderr_tail = [*proc.stderr_tail, raw.decode("utf-8", "replace").rstrip()][-5:]


def _child_env() -> dict[str, str]:
    import mux
    import mux_client

    roots = {str(Path(m.__file__ or "").resolve().parent.parent) for m in (mux, mux_client)}
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*sorted(roots), env.get("PYTHONPATH", "")])
    return env


def probe(host: str, port: int, source: str | None) -> str | None:
    """None if a TCP connection to the target opens, else why not."""
    try:
        with socket.create_connection(
            (host, port), timeout=PROBE_TIMEOUT, source_address=(source, 0) if source else None
        ):
            return None
    except OSError as exc:
        return exc.strerror or str(exc) or type(exc).__name__


class Progress:
    """Live progress on stderr: one refreshed line on a TTY, else every LOG_EVERY s."""

    def __init__(self, enabled: bool) -> None:
        self.tty = sys.stderr.isatty()
        self.enabled = enabled
        self.last_log = 0.0
        self.shown = False

    def show(self, line: str) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if self.tty:
            sys.stderr.write("\r\x1b[K" + line)
            self.shown = True
        elif now - self.last_log >= LOG_EVERY:
            sys.stderr.write(line + "\n")
            self.last_log = now
        sys.stderr.flush()

    def done(self) -> None:
        if self.tty and self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


def run(args: argparse.Namespace) -> int:
    host, port = args.target
    hold = args.hold is not None
    if hold and (args.requests or args.rate):
        print(
            "mux bench: --hold keeps idle sessions; it takes no --requests or --rate",
            file=sys.stderr,
        )
        return 2
    duration = args.duration or (0.0 if args.requests and not hold else 10.0)
    try:
        sources = parse_sources(args.sources)
    except ValueError as exc:
        print(f"mux bench: --sources: {exc}", file=sys.stderr)
        return 2
    connections = args.hold if hold else args.connections
    plans = plan(
        connections=connections,
        processes=min(args.processes, connections),
        sources=sources,
        requests=0 if hold else (args.requests or 0),
        rate=args.rate or 0.0,
        open_rate=args.open_rate or 0.0,
    )
    refused = problems(plans, read_machine("/"), args.processes)
    if refused:
        for reason in refused:
            print(f"mux bench: refused: {reason}", file=sys.stderr)
        return 2
    why = probe(host, port, sources[0] if sources else None)
    if why is not None:
        print(f"mux bench: cannot connect to {host}:{port}: {why}", file=sys.stderr)
        return 1
    server_before = tree_stats(args.server_pid) if args.server_pid else None
    slab_before, slab_held = slab_bytes(), None
    if args.server_pid and server_before is None:
        print(f"mux bench: --server-pid {args.server_pid}: no such process", file=sys.stderr)
        return 2

    sink: queue.Queue[tuple[int, dict[str, Any]]] = queue.Queue()
    procs: list[_Proc] = []
    env = _child_env()
    for item in plans:
        config = {
            "host": host,
            "port": port,
            "protocol": args.protocol,
            "path": args.path,
            "connections": item.connections,
            "streams": args.streams,
            "sources": item.sources,
            "requests": item.requests,
            "duration": 0.0 if hold else duration,
            "rate": item.rate,
            "hold": hold,
            "open_rate": item.open_rate,
            "index": item.index,
        }
        popen = subprocess.Popen(
            [sys.executable, "-m", "mux.scale.worker", json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        proc = _Proc(item, popen)
        procs.append(proc)
        assert popen.stdout is not None
        threading.Thread(target=_reader, args=(item.index, popen.stdout, sink), daemon=True).start()
        threading.Thread(target=_tail, args=(proc,), daemon=True).start()

    progress = Progress(enabled=True)
    started = time.monotonic()
    series: list[tuple[float, float, int]] = []
    last_tick, last_done = started, 0
    server_held: TreeStats | None = None
    held_at: float | None = None
    open_at_end: int | None = None
    finished = 0
    by_index: dict[int, _Proc] = {p.plan.index: p for p in procs}
    try:
        while finished < len(procs):
            try:
                index, message = sink.get(timeout=0.2)
            except queue.Empty:
                message, index = {"type": "tick"}, -1
            found = by_index.get(index)
            kind = message["type"]
            if found is not None and kind == "progress":
                found.done, found.errors, found.open = (
                    message["done"],
                    message["errors"],
                    message["open"],
                )
            elif found is not None and kind == "held":
                found.held, found.open = True, message["open"]
            elif found is not None and kind == "result":
                found.result = message
            elif found is not None and kind == "eof":
                finished += 1
                found.held = True
            now = time.monotonic()
            if now - last_tick >= 1.0:
                done = sum(p.done for p in procs)
                series.append(
                    (
                        now - started,
                        (done - last_done) / (now - last_tick),
                        sum(p.open for p in procs),
                    )
                )
                last_tick, last_done = now, done
            if hold and held_at is None and all(p.held for p in procs):
                held_at = now
                time.sleep(1.0)  # let the server finish accepting and settle
                # Slab first: listing /proc/N/fd creates a proc inode per fd (slab).
                slab_held = slab_bytes()
                if args.server_pid:
                    server_held = tree_stats(args.server_pid)
            if hold and held_at is not None and now - held_at >= duration:
                if args.server_pid:
                    # RSS and fds at the end of the hold; CPU as when the last one opened.
                    last = tree_stats(args.server_pid)
                    if last is not None and server_held is not None:
                        server_held = attrs.evolve(last, cpu_seconds=server_held.cpu_seconds)
                for p in procs:
                    if p.popen.stdin is not None and not p.popen.stdin.closed:
                        p.popen.stdin.close()
                held_at = float("inf")
                open_at_end = sum(p.open for p in procs)
            open_now = sum(p.open for p in procs)
            rate = series[-1][1] if series else 0.0
            progress.show(
                f"mux bench: {now - started:6.1f} s  open {open_now:,}  "
                + ("" if hold else f"{rate:,.0f} req/s  done {sum(p.done for p in procs):,}  ")
                + f"errors {sum(p.errors for p in procs):,}"
            )
        now = time.monotonic()
        if now - last_tick > 0.05 or not series:  # the last partial second (a short run's only one)
            done = sum(p.done for p in procs)
            elapsed = max(now - last_tick, 1e-3)
            series.append((now - started, (done - last_done) / elapsed, sum(p.open for p in procs)))
    except KeyboardInterrupt:
        progress.done()
        for p in procs:
            p.popen.kill()
        print("mux bench: interrupted", file=sys.stderr)
        return 130
    finally:
        for p in procs:
            try:
                p.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.popen.kill()
                p.popen.wait()
    progress.done()
    failed = [p for p in procs if p.result is None]
    if failed:
        for p in failed:
            tail = p.stderr_tail[-1] if p.stderr_tail else f"exit status {p.popen.returncode}"
            print(f"mux bench: worker {p.plan.index} failed: {tail}", file=sys.stderr)
        return 1
    results = [p.result for p in procs if p.result is not None]
    summary = summarize(
        results,
        mode="hold" if hold else ("open-loop" if args.rate else "closed-loop"),
        target=f"{host}:{port}",
        protocol=args.protocol,
        processes=len(procs),
        sources=len(sources),
        series=series,
        server_before=server_before,
        server_held=server_held,
        slab_growth=slab_held - slab_before if slab_held and slab_before else None,
        open_at_end=open_at_end,
        percentiles=PERCENTILES,
    )
    if args.plot:
        from mux.scale.plot import write_plot

        latency = Histogram()
        for result in results:
            latency.merge(Histogram.from_json(result["latency"]))
        try:
            write_plot(args.plot, summary, latency)
        except OSError as exc:
            print(f"mux bench: --plot {args.plot}: {exc.strerror or exc}", file=sys.stderr)
            return 1
    print(json.dumps(summary, indent=2) if args.json else render_text(summary))
    if hold:
        kept = open_at_end if open_at_end is not None else summary["connections"]["opened"]
        return 0 if summary["connections"]["opened"] == connections == kept else 1
    return 0 if summary["requests"]["done"] > 0 else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``mux bench``; returns the exit status."""
    args = build_parser().parse_args(argv)
    return run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
