"""(c) Bulk throughput of ONE stream against raw Trio socket streams with large writes.

Download: the server sends SIZE bytes (mux: ``/bytes/{n}``); upload: the client sends SIZE
bytes (mux: client-streamed to ``/discard`` of bench/peers/mux_discard.py, which like the raw
baseline reads, discards and answers the byte count; the demo's ``/sink`` also hashes). The raw
baseline is a bare Trio socket with 256 KiB writes, server in its own process in both cases.

Usage: ``python bench/bulk.py [--mib 256] [--only mux|raw] [--max-frame-size N]``

``--max-frame-size`` makes both mux peers advertise a larger MAX_FRAME_SIZE than
the spec's 64 KiB default (``mux serve --max-frame-size`` and the client's
``ChannelOptions.engine_factory``), so the sender may use bigger DATA frames.
"""

from __future__ import annotations

import argparse
import sys
import time

import trio
from common import ROOT, free_port, mux_server_cmd, server

import mux_client  # imported here, not in the timed download: ~40 ms of imports
from mux.core.connection import MuxConnection
from mux.core.limits import ProtocolLimits

CHUNK = b"\0" * (256 * 1024)
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


def timed(fn: object, port: int, size: int) -> float:
    t0 = time.perf_counter()
    trio.run(fn, port, size)  # type: ignore[arg-type]
    return size / (time.perf_counter() - t0) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--only", choices=["mux", "raw"])
    parser.add_argument("--max-frame-size", type=int, help="MAX_FRAME_SIZE both mux peers use")
    args = parser.parse_args()
    global MAX_FRAME_SIZE
    MAX_FRAME_SIZE = args.max_frame_size
    size = args.mib * 2**20
    print(f"## (c) bulk throughput, one stream, {args.mib} MiB each way")
    results: dict[str, tuple[float, float]] = {}
    if args.only in (None, "raw"):
        port = free_port()
        with server([sys.executable, str(ROOT / "bench" / "raw_server.py"), str(port)], port):
            results["raw"] = (timed(raw_download, port, size), timed(raw_upload, port, size))
    if args.only in (None, "mux"):
        port = free_port()
        extra = ["--app", "bench.peers.mux_discard:app"]
        if MAX_FRAME_SIZE is not None:
            extra += ["--max-frame-size", str(MAX_FRAME_SIZE)]
        with server(mux_server_cmd(port, *extra), port):
            results["mux"] = (timed(mux_download, port, size), timed(mux_upload, port, size))
    for name, (down, up) in results.items():
        label = "raw Trio socket stream" if name == "raw" else "mux stream (mux/msgpack)"
        print(f"{label:<30} download {down:8.1f} MiB/s   upload {up:8.1f} MiB/s", flush=True)
    if len(results) == 2:
        (rd, ru), (md, mu) = results["raw"], results["mux"]
        print(f"ratio mux / raw: download {md / rd:.2f}, upload {mu / ru:.2f}")


if __name__ == "__main__":
    main()
