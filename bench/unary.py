"""(a) Unary requests/s over ONE connection with 100 requests in flight.

mux SDK -> ``mux serve`` (mux/msgpack, /echo) beside httpx (http2=True, prior knowledge)
-> hypercorn (trio worker, the same echo). Each client runs in this process under Trio;
the server runs in its own process, so the two share the machine's 2 cores.

Usage: ``python bench/unary.py [--seconds 5] [--inflight 100] [--only mux|hypercorn|h2|sdk]``

CPU per request is the server's (``/proc``, its process tree) and this process's (the
client's, ``time.process_time``), both including the warm-up half second's requests.
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Awaitable, Callable

import trio
from common import cpu_seconds, free_port, hypercorn_cmd, mux_server_cmd, server

BODY = b"x" * 64


async def drive(call: Callable[[], Awaitable[None]], inflight: int, seconds: float) -> int:
    done = 0
    stop = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal done
        while time.monotonic() < stop:
            await call()
            done += 1

    async with trio.open_nursery() as nursery:
        for _ in range(inflight):
            nursery.start_soon(worker)
    return done


async def run_mux(port: int, inflight: int, seconds: float, protocol: str = "mux") -> int:
    import mux_client

    target = f"127.0.0.1:{port}"
    async with mux_client.connect(target, max_connections=1, protocol=protocol) as client:

        async def call() -> None:
            resp = await client.request("POST", "/echo", body=BODY)
            assert resp.status == 200 and resp.body == BODY, resp

        await drive(call, inflight, 0.5)  # warm up
        return await drive(call, inflight, seconds)


async def run_httpx(port: int, inflight: int, seconds: float) -> int:
    import httpx

    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(http1=False, http2=True, limits=limits, timeout=30) as client:
        url = f"http://127.0.0.1:{port}/echo"

        async def call() -> None:
            resp = await client.post(url, content=BODY)
            assert resp.status_code == 200 and resp.content == BODY, resp
            assert resp.http_version == "HTTP/2"

        await drive(call, inflight, 0.5)
        return await drive(call, inflight, seconds)


def measure(
    name: str,
    cmd: list[str],
    port: int,
    fn: Callable[..., Awaitable[int]],
    inflight: int,
    seconds: float,
) -> float:
    with server(cmd, port) as proc:
        cpu0 = cpu_seconds(proc.pid)
        own0 = time.process_time()
        t0 = time.monotonic()
        done = trio.run(fn, port, inflight, seconds)
        elapsed = time.monotonic() - t0
        own = time.process_time() - own0
        cpu = cpu_seconds(proc.pid) - cpu0
    # the warm-up half second is inside elapsed and cpu; count its requests out of neither
    rate = done / seconds
    print(
        f"{name:<36} {rate:>9.0f} req/s   server CPU {cpu * 1e6 / max(done, 1):6.0f} us/req"
        f"   client CPU {own * 1e6 / max(done, 1):6.0f} us/req (incl. warm-up; elapsed"
        f" {elapsed:.1f}s)",
        flush=True,
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--inflight", type=int, default=100)
    parser.add_argument(
        "--only",
        choices=["mux", "hypercorn", "h2", "sdk"],
        help="h2: the SDK over HTTP/2 (h2c) to mux serve and to hypercorn; "
        "sdk: the SDK over mux and over h2c to mux serve",
    )
    args = parser.parse_args()
    print(f"## (a) unary req/s, one connection, {args.inflight} in flight, {args.seconds}s")
    rates = {}
    if args.only in (None, "hypercorn"):
        port = free_port()
        rates["hypercorn"] = measure(
            "httpx(h2) -> hypercorn -k trio",
            hypercorn_cmd(port),
            port,
            run_httpx,
            args.inflight,
            args.seconds,
        )
    if args.only in (None, "mux", "sdk"):
        port = free_port()
        rates["mux"] = measure(
            "mux_client -> mux serve (mux/msgpack)",
            mux_server_cmd(port),
            port,
            run_mux,
            args.inflight,
            args.seconds,
        )
    if args.only in ("h2", "sdk"):
        port = free_port()
        rates["h2"] = measure(
            "mux_client (h2c) -> mux serve",
            mux_server_cmd(port),
            port,
            functools.partial(run_mux, protocol="h2"),
            args.inflight,
            args.seconds,
        )
    if args.only == "h2":
        port = free_port()
        measure(
            "mux_client (h2c) -> hypercorn -k trio",
            hypercorn_cmd(port),
            port,
            functools.partial(run_mux, protocol="h2"),
            args.inflight,
            args.seconds,
        )
    if "mux" in rates and "hypercorn" in rates:
        print(f"ratio mux / hypercorn: {rates['mux'] / rates['hypercorn']:.1f}x")
    if "mux" in rates and "h2" in rates:
        print(f"ratio SDK over h2c / SDK over mux: {rates['h2'] / rates['mux']:.2f}x")


if __name__ == "__main__":
    main()
