"""(c) Bulk throughput of ONE stream against raw Trio socket streams with large writes.

Download: the server sends SIZE bytes in 256 KiB writes of one zero buffer (raw and mux alike;
mux: ``/zeros/{n}`` of bench/peers/mux_discard.py); upload: the client sends SIZE
bytes (mux: client-streamed to ``/discard`` of bench/peers/mux_discard.py, which like the raw
baseline reads, discards and answers the byte count; the demo's ``/sink`` also hashes). The raw
baseline is a bare Trio socket with 256 KiB writes, server in its own process in both cases.

Usage: ``python bench/bulk.py [--mib 256] [--only mux|raw] [--repeat 5] [--max-frame-size N]
[--no-tune-allocator]``

Each figure is the best of ``--repeat`` runs (runs of raw and mux interleaved, after one
untimed 32 MiB warm-up transfer each way per peer), with the median next to it: on a
shared 2-core machine single runs swing by 2x.

``--max-frame-size`` makes both mux peers advertise another MAX_FRAME_SIZE than
their default, 1 MiB (``mux serve --max-frame-size`` and the client's
``ChannelOptions.engine_factory``); 65536 is the spec's default.

Allocator: every process of the run (this one, where both clients run, and
both servers) calls :func:`mux.allocator.tune_allocator` at startup, as
``mux serve`` does by default; ``--no-tune-allocator`` leaves glibc malloc's
thresholds alone in all of them. Raw and mux always run on the same settings.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from statistics import median

import trio
from common import ROOT, free_port, mux_server_cmd, server

import mux_client  # imported here, not in the timed download: ~40 ms of imports
from mux.allocator import tune_allocator
from mux.core.connection import MuxConnection
from mux.core.limits import ProtocolLimits

CHUNK = b"\0" * (256 * 1024)
#: Bytes of the untimed warm-up transfer each way (see main).
WARM_UP = 32 * 2**20
#: MAX_FRAME_SIZE both mux peers advertise (None: the spec default).
MAX_FRAME_SIZE: int | None = None


def mux_connect(port: int):  # type: ignore[no-untyped-def]
    if MAX_FRAME_SIZE is None:
        return mux_client.connect(f"127.0.0.1:{port}")
    limits = ProtocolLimits(max_frame_size=MAX_FRAME_SIZE)
    options = mux_client.ChannelOptions(
        engine_factory=lambda: MuxConnection(client_side=True, limits=limits)
    )
    return mux_client.connect(f"127.0.0.1:{port}", options=options)


async def raw_download(port: int, size: int) -> None:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    await stream.send_all(f"GET {size}\n".encode())
    got = 0
    while chunk := await stream.receive_some(256 * 1024):
        got += len(chunk)
    assert got == size, (got, size)


async def raw_upload(port: int, size: int) -> None:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    await stream.send_all(f"PUT {size}\n".encode())
    sent = 0
    while sent < size:
        await stream.send_all(CHUNK[: min(len(CHUNK), size - sent)])
        sent += min(len(CHUNK), size - sent)
    assert await stream.receive_some(16) == b"ok"


async def mux_download(port: int, size: int) -> None:
    async with mux_connect(port) as client:
        got = 0
        async with client.stream("GET", f"/zeros/{size}") as call:
            async for chunk in call:
                got += len(chunk)
        assert got == size, (got, size)


async def mux_upload(port: int, size: int) -> None:
    async with mux_connect(port) as client:
        async with client.open_call("POST", "/discard") as call:
            sent = 0
            while sent < size:
                await call.send(CHUNK[: min(len(CHUNK), size - sent)])
                sent += min(len(CHUNK), size - sent)
            await call.end()
            body = b"".join([chunk async for chunk in call])
        assert body == str(size).encode(), body


PEERS = {"raw": (raw_download, raw_upload), "mux": (mux_download, mux_upload)}


def timed(fn: object, port: int, size: int) -> float:
    t0 = time.perf_counter()
    trio.run(fn, port, size)  # type: ignore[arg-type]
    return size / (time.perf_counter() - t0) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--only", choices=["mux", "raw"])
    parser.add_argument("--repeat", type=int, default=5, help="runs of each; best and median shown")
    parser.add_argument("--max-frame-size", type=int, help="MAX_FRAME_SIZE both mux peers use")
    parser.add_argument(
        "--no-tune-allocator", action="store_true", help="no malloc tuning in any process"
    )
    args = parser.parse_args()
    tuning = ["--no-tune-allocator"] if args.no_tune_allocator else []
    tuned = not tuning and tune_allocator()
    global MAX_FRAME_SIZE
    MAX_FRAME_SIZE = args.max_frame_size
    size = args.mib * 2**20
    names = [n for n in ("raw", "mux") if args.only in (None, n)]
    allocator = "tuned allocator (mux.allocator)" if tuned else "malloc as is"
    print(
        f"## (c) bulk throughput, one stream, {args.mib} MiB each way, best of {args.repeat}, "
        f"{allocator}"
    )
    runs: dict[str, dict[str, list[float]]] = {n: {"down": [], "up": []} for n in names}
    with contextlib.ExitStack() as stack:
        ports = {n: free_port() for n in names}
        if "raw" in names:
            raw_cmd = [
                sys.executable,
                str(ROOT / "bench" / "raw_server.py"),
                str(ports["raw"]),
                *tuning,
            ]
            stack.enter_context(server(raw_cmd, ports["raw"]))
        if "mux" in names:
            extra = ["--app", "bench.peers.mux_discard:app", *tuning]
            if MAX_FRAME_SIZE is not None:
                extra += ["--max-frame-size", str(MAX_FRAME_SIZE)]
            stack.enter_context(server(mux_server_cmd(ports["mux"], *extra), ports["mux"]))
        # One untimed transfer each way per peer first: the first connection
        # to a fresh server process pays one-time costs (lazy imports, heap
        # growth) that are not throughput. Both peers alike.
        for name in names:
            down, up = PEERS[name]
            trio.run(down, ports[name], WARM_UP)
            trio.run(up, ports[name], WARM_UP)
        # Interleaved, so a noisy moment hits both peers alike.
        for _ in range(args.repeat):
            for name in names:
                down, up = PEERS[name]
                runs[name]["down"].append(timed(down, ports[name], size))
                runs[name]["up"].append(timed(up, ports[name], size))
    best = {n: (max(r["down"]), max(r["up"])) for n, r in runs.items()}
    for name, r in runs.items():
        label = "raw Trio socket stream" if name == "raw" else "mux stream (mux/msgpack)"
        print(
            f"{label:<30} download {best[name][0]:8.1f} MiB/s (median {median(r['down']):7.1f})"
            f"   upload {best[name][1]:8.1f} MiB/s (median {median(r['up']):7.1f})",
            flush=True,
        )
    if len(best) == 2:
        (rd, ru), (md, mu) = best["raw"], best["mux"]
        print(f"ratio mux / raw (best): download {md / rd:.2f}, upload {mu / ru:.2f}")


if __name__ == "__main__":
    main()
