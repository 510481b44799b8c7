"""The gateway benchmark: mux gateway, nginx and HAProxy in the same place, one run.

What runs
---------
One upstream for everything: ``bench/peers/counting_upstream.py``, the demo
app of ``mux serve`` (``GET /echo``: an empty 200) on one port that speaks
HTTP/1.1 keep-alive and HTTP/2 (h2c), and counts the connections it accepts
(``GET /_accepts``), so every gateway's upstream connections are counted the
same way. The load generator is ``h2load`` over h2c into the gateway, as in
``shared/guides/peers.md`` section 5: closed loop ``-c 8 -m 100`` (throughput,
p50/p99 under saturation), then open loop ``--rps 1000`` (p50/p99 at 1,000
req/s; the *added* p99 is the row's p99 minus the direct row's). Latencies come
from h2load's ``--log-file`` (per request).

Rows: the client calling the upstream directly; each gateway to the HTTP/1.1
upstream with reuse, without reuse (a new upstream connection per request) and
to the HTTP/2 upstream:

* ``mux gateway --config`` (generated TOML): cluster ``protocol = "http1"`` /
  ``"h2"``; no reuse = ``pool.max_requests = 1``. Skipped (said so) while
  ``mux gateway`` does not exist.
* nginx (``worker_processes 1``): ``proxy_pass`` to an upstream block with
  ``keepalive POOL`` (HTTP/1.1); no reuse = plain ``proxy_pass`` (HTTP/1.0,
  one connection per request); HTTP/2 = ``grpc_pass`` (nginx's only HTTP/2
  upstream path) with ``keepalive``.
* HAProxy (``nbthread 1``): ``http-reuse always``; no reuse =
  ``option http-server-close``; HTTP/2 = ``server ... proto h2``.

Per row: requests/s, p50/p99 (ms), gateway CPU µs per request (/proc, the
process tree), upstream CPU µs per request, upstream connections opened from
the gateway's start through warm-up and the closed-loop run ("cold") and per
100,000 requests after the warm-up ("steady"). Derived: throughput as a
fraction of direct, reuse ratio (reuse on / off), added p99 at 1,000 req/s.
Each process is started per row and round (fresh pools) and always stopped;
rows are interleaved over ``--rounds`` rounds and the medians reported.

Usage: ``python bench/gateway.py [-n 20000] [--rounds 3] [--pool 1024] [--upstream mux|c]
[--only direct,mux,nginx,haproxy]`` (needs ``h2load``; the nginx/HAProxy rows are skipped
when absent). ``--upstream c`` puts an nginx origin (``return 200``, C) behind every row
instead, so the upstream's own cost does not cap the gateways.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from common import BIN, ROOT, cpu_seconds, free_port, server, wait_for_port

UPSTREAM_SCRIPT = ROOT / "bench" / "peers" / "counting_upstream.py"
WARMUP = 2000
OPEN_LOOP_RPS = 1000
OPEN_LOOP_N = 5000


# ------------------------------------------------------------------ measuring


@dataclass
class Run:
    rps: float
    ok: int
    p50_ms: float
    p99_ms: float


def h2load(
    url: str, *, clients: int, streams: int, n: int, rps: int | None = None, h1: bool = False
) -> Run:
    """Run h2load (h2c prior knowledge, or ``--h1``) and read per-request latencies from its log."""
    with tempfile.NamedTemporaryFile(suffix=".log") as log:
        cmd = ["h2load", "-c", str(clients), "-m", str(streams), "-n", str(n)]
        if rps is not None:
            cmd += ["--rps", str(rps)]
        if h1:
            cmd += ["--h1"]
        cmd += ["--log-file", log.name, url]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=True).stdout
        rate_match = re.search(r"finished in .*?, ([\d.]+) req/s", out)
        ok_match = re.search(r"(\d+) succeeded", out)
        if rate_match is None or ok_match is None:
            raise RuntimeError(f"unexpected h2load output:\n{out}")
        times = sorted(
            int(parts[2])
            for parts in (line.split("\t") for line in Path(log.name).read_text().splitlines())
            if len(parts) >= 3 and parts[1] == "200"
        )
    if not times:
        raise RuntimeError(f"h2load got no 200 answers from {url}:\n{out}")
    return Run(
        rps=float(rate_match.group(1)),
        ok=int(ok_match.group(1)),
        p50_ms=times[len(times) // 2] / 1000,
        p99_ms=times[min(len(times) - 1, len(times) * 99 // 100)] / 1000,
    )


def upstream_accepts(port: int) -> int:
    """Connections the counting upstream accepted so far (this query's own excluded)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /_accepts HTTP/1.1\r\nhost: u\r\nconnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    if b"chunked" in head.lower():
        body = body.split(b"\r\n")[1]
    stub = re.search(rb"server accepts handled requests\s+(\d+)", body)  # nginx stub_status
    return int(stub.group(1) if stub else body) - 1


@dataclass
class Upstream:
    h1_port: int
    h2_port: int
    pid: int
    label: str


ORIGIN_CONFIG = """\
worker_processes 1;
daemon off;
pid {dir}/origin.pid;
error_log {dir}/origin-error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    server {{
        listen 127.0.0.1:{h1_port};
        listen 127.0.0.1:{h2_port} http2;
        location /echo {{ return 200 ""; }}
        location /_accepts {{ stub_status; }}
    }}
}}
"""


@contextlib.contextmanager
def upstream(kind: str, workdir: Path) -> Iterator[Upstream]:
    """The upstream of every row: the counting mux app, or an nginx origin ("c")."""
    if kind in ("mux", "mux-nopark"):
        port = free_port()
        cmd = [sys.executable, str(UPSTREAM_SCRIPT), str(port)]
        cmd += ["--no-park"] if kind == "mux-nopark" else []
        with server(cmd, port) as proc:
            yield Upstream(port, port, proc.pid, "mux demo /echo, HTTP/1.1 and h2c on one port")
        return
    h1_port, h2_port = free_port(), free_port()
    config = workdir / "origin.conf"
    config.write_text(ORIGIN_CONFIG.format(dir=workdir, h1_port=h1_port, h2_port=h2_port))
    cmd = ["nginx", "-p", str(workdir), "-c", str(config), "-e", str(workdir / "origin-error.log")]
    with server(cmd, h1_port) as proc:
        wait_for_port("127.0.0.1", h2_port)
        yield Upstream(
            h1_port, h2_port, proc.pid, "nginx origin (return 200), HTTP/1.1 and h2c ports"
        )


@dataclass
class Sample:
    closed: Run
    open: Run
    gateway_us: float
    upstream_us: float
    cold_accepts: int
    steady_per_100k: float


@dataclass
class Row:
    name: str
    gateway: str  # "direct", "mux", "nginx", "haproxy"
    kind: str  # "h1", "h1-noreuse", "h2"
    samples: list[Sample] = field(default_factory=list)

    def median(self, get: Callable[[Sample], float]) -> float:
        return statistics.median(get(s) for s in self.samples)


def measure(
    row: Row, url: str, gateway_pid: int | None, up: Upstream, n: int, accepts_at_start: int
) -> Sample:
    h1 = row.kind == "direct-h1"
    # HTTP/1.1 has no streams: as many connections as the others have requests in flight.
    closed_shape = {"clients": 800, "streams": 1} if h1 else {"clients": 8, "streams": 100}
    h2load(url, n=WARMUP, h1=h1, **closed_shape)
    after_warmup = upstream_accepts(up.h1_port)
    gw0 = cpu_seconds(gateway_pid) if gateway_pid else 0.0
    up0 = cpu_seconds(up.pid)
    closed = h2load(url, n=n, h1=h1, **closed_shape)
    gateway_us = (cpu_seconds(gateway_pid) - gw0) * 1e6 / closed.ok if gateway_pid else 0.0
    upstream_us = (cpu_seconds(up.pid) - up0) * 1e6 / closed.ok
    after_run = upstream_accepts(up.h1_port)
    open_shape = {"clients": 10, "streams": 1} if h1 else {"clients": 1, "streams": 100}
    rps = OPEN_LOOP_RPS // open_shape["clients"]
    opened = h2load(url, n=OPEN_LOOP_N, rps=rps, h1=h1, **open_shape)
    sample = Sample(
        closed=closed,
        open=opened,
        gateway_us=gateway_us,
        upstream_us=upstream_us,
        # Queries count too: the one at the start and the one after the warm-up.
        cold_accepts=after_run - accepts_at_start - 2,
        steady_per_100k=(after_run - after_warmup - 1) * 100_000 / closed.ok,
    )
    print(
        f"  {row.name:<34} {closed.rps:>9.0f} req/s  p50 {closed.p50_ms:6.2f}  "
        f"p99 {closed.p99_ms:7.2f} ms  @1k p50/p99 {opened.p50_ms:5.2f}/{opened.p99_ms:6.2f} ms  "
        f"gw {gateway_us:6.1f} us/req  up {upstream_us:5.1f} us/req  "
        f"conns cold {sample.cold_accepts:>6}  steady {sample.steady_per_100k:8.1f}/100k",
        flush=True,
    )
    return sample


# ------------------------------------------------------------------ gateways


def mux_gateway_available() -> bool:
    """True when this tree has ``mux gateway`` (the rows are skipped before it lands)."""
    return (ROOT / "mux" / "gateway" / "cli.py").exists()


def mux_gateway_config(port: int, up_port: int, kind: str, pool: int) -> str:
    protocol = "h2" if kind == "h2" else "http1"
    max_requests = "max_requests = 1\n" if kind == "h1-noreuse" else ""
    # HTTP/2: the pool opens another connection only when streams run out.
    connections = pool if protocol == "http1" else 16
    return f"""\
[[listeners]]
address = "127.0.0.1:{port}"

[[routes]]
name = "all"
cluster = "up"
path_prefix = "/"

[clusters.up]
endpoints = ["127.0.0.1:{up_port}"]
protocol = "{protocol}"

[clusters.up.pool]
max_connections = {connections}
{max_requests}
[clusters.up.breakers]
max_connections = {max(4 * pool, 4096)}
max_requests = {max(4 * pool, 4096)}
max_pending_requests = {max(4 * pool, 4096)}
"""


NGINX_CONFIG = """\
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 100000000;
    upstream up_keepalive {{
        server 127.0.0.1:{up_port};
        keepalive {pool};
        keepalive_requests 100000000;
    }}
    server {{
        listen 127.0.0.1:{port} http2;
        location / {{
            {location}
        }}
    }}
}}
"""

NGINX_LOCATIONS = {
    "h1": 'proxy_pass http://up_keepalive; proxy_http_version 1.1; proxy_set_header Connection "";',
    "h1-noreuse": "proxy_pass http://127.0.0.1:{up_port};",
    "h2": "grpc_pass grpc://up_keepalive;",
}

HAPROXY_CONFIG = """\
global
    nbthread 1
    maxconn 4000
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend front
    bind 127.0.0.1:{port} proto h2
    default_backend up
backend up
{backend}
"""

HAPROXY_BACKENDS = {
    "h1": "    http-reuse always\n    server up 127.0.0.1:{up_port}",
    "h1-noreuse": "    option http-server-close\n    server up 127.0.0.1:{up_port}",
    "h2": "    http-reuse always\n    server up 127.0.0.1:{up_port} proto h2",
}


@contextlib.contextmanager
def gateway(row: Row, up: Upstream, pool: int, workdir: Path) -> Iterator[tuple[str, int | None]]:
    """Start the row's gateway; yield the URL to load and its pid (None: direct)."""
    up_port = up.h2_port if row.kind in ("h2", "direct-h2") else up.h1_port
    if row.gateway == "direct":
        yield f"http://127.0.0.1:{up_port}/echo", None
        return
    port = free_port()
    if row.gateway == "mux":
        config = workdir / f"gateway-{row.kind}.toml"
        config.write_text(mux_gateway_config(port, up_port, row.kind, pool))
        cmd = [str(BIN / "mux"), "gateway", "--config", str(config), "--log-level", "WARNING"]
    elif row.gateway == "nginx":
        location = NGINX_LOCATIONS[row.kind].format(up_port=up_port)
        config = workdir / "nginx.conf"
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (workdir / sub).mkdir(exist_ok=True)
        config.write_text(
            NGINX_CONFIG.format(
                dir=workdir, up_port=up_port, pool=pool, port=port, location=location
            )
        )
        cmd = ["nginx", "-p", str(workdir), "-c", str(config), "-e", str(workdir / "error.log")]
    else:
        config = workdir / "haproxy.cfg"
        backend = HAPROXY_BACKENDS[row.kind].format(up_port=up_port)
        config.write_text(HAPROXY_CONFIG.format(port=port, backend=backend))
        cmd = ["haproxy", "-db", "-f", str(config)]
    with server(cmd, port) as proc:
        yield f"http://127.0.0.1:{port}/echo", proc.pid


# ------------------------------------------------------------------ report


def report(rows: list[Row]) -> None:
    direct = next((r for r in rows if r.kind == "direct-h2" and r.samples), None)
    print(
        "\n| row | req/s | of direct | p50 ms | p99 ms | p50 / p99 @1k req/s | added p99 @1k "
        "| gateway µs/req | upstream µs/req | upstream conns cold | per 100k steady |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        if not row.samples:
            continue
        rps = row.median(lambda s: s.closed.rps)
        p99_open = row.median(lambda s: s.open.p99_ms)
        fraction = added = "—"
        if direct is not None and row.gateway != "direct":
            fraction = f"{rps / direct.median(lambda s: s.closed.rps):.2f}"
            added = f"{p99_open - direct.median(lambda s: s.open.p99_ms):+.2f}"
        p50, p99 = row.median(lambda s: s.closed.p50_ms), row.median(lambda s: s.closed.p99_ms)
        gw_us, up_us = row.median(lambda s: s.gateway_us), row.median(lambda s: s.upstream_us)
        p50_open = row.median(lambda s: s.open.p50_ms)
        print(
            f"| {row.name} | {rps:,.0f} | {fraction} | {p50:.2f} | {p99:.2f} "
            f"| {p50_open:.2f} / {p99_open:.2f} "
            f"| {added} | {gw_us:.1f} | {up_us:.1f} | {row.median(lambda s: s.cold_accepts):,.0f} "
            f"| {row.median(lambda s: s.steady_per_100k):,.1f} |"
        )
    print()
    for name in ("mux", "nginx", "haproxy"):
        on = next((r for r in rows if r.gateway == name and r.kind == "h1" and r.samples), None)
        off = next(
            (r for r in rows if r.gateway == name and r.kind == "h1-noreuse" and r.samples), None
        )
        if on and off:
            ratio = on.median(lambda s: s.closed.rps) / off.median(lambda s: s.closed.rps)
            print(f"reuse ratio {name}: {ratio:.2f}x (HTTP/1.1 upstream, reuse on / off)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20000, help="requests per closed-loop run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pool", type=int, default=1024, help="HTTP/1.1 upstream pool size")
    parser.add_argument("--only", default="direct,mux,nginx,haproxy")
    parser.add_argument(
        "--upstream",
        choices=["mux", "mux-nopark", "c"],
        default="mux",
        help="mux: the counting mux demo app (mux-nopark: idle connections not parked); "
        "c: an nginx origin (return 200)",
    )
    args = parser.parse_args()
    if shutil.which("h2load") is None:
        sys.exit("h2load not found (Debian package nghttp2-client)")
    wanted = set(args.only.split(","))
    rows = [
        Row("direct, h2c (-c 8 -m 100)", "direct", "direct-h2"),
        Row("direct, HTTP/1.1 (-c 800)", "direct", "direct-h1"),
    ]
    for name, label in (("mux", "mux gateway"), ("nginx", "nginx"), ("haproxy", "HAProxy")):
        rows += [
            Row(f"{label} → HTTP/1.1 (reuse)", name, "h1"),
            Row(f"{label} → HTTP/1.1 (no reuse)", name, "h1-noreuse"),
            Row(f"{label} → HTTP/2", name, "h2"),
        ]
    skip = {name for name in ("nginx", "haproxy") if shutil.which(name) is None}
    if not mux_gateway_available():
        skip.add("mux")
    for name in sorted(skip & wanted):
        print(f"skipping {name}: not available here", flush=True)
    rows = [r for r in rows if r.gateway in wanted - skip]
    if args.upstream == "c" and shutil.which("nginx") is None:
        sys.exit("--upstream c needs nginx")
    with tempfile.TemporaryDirectory() as tmp, upstream(args.upstream, Path(tmp)) as up:
        print(
            f"## gateway bench: upstream {up.label}; h2load -c 8 -m 100 -n {args.n} "
            f"(closed loop), then -c 1 -m 100 --rps {OPEN_LOOP_RPS} -n {OPEN_LOOP_N}; "
            f"HTTP/1.1 pool {args.pool}; {args.rounds} rounds",
            flush=True,
        )
        for round_ in range(args.rounds):
            print(f"round {round_ + 1}", flush=True)
            for row in rows:
                workdir = Path(tmp) / f"{row.gateway}-{row.kind}-{round_}"
                workdir.mkdir()
                start = upstream_accepts(up.h1_port)
                with gateway(row, up, args.pool, workdir) as (url, pid):
                    row.samples.append(measure(row, url, pid, up, args.n, start))
    report(rows)


if __name__ == "__main__":
    main()
