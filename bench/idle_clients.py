"""Client side of the idle-connection benchmark: open many idle connections and hold them.

Run by ``bench/idle.py`` in several processes (one process may hold at most 20,000 fds).
Usage: ``idle_clients.py PROTO HOST PORT COUNT SOURCE_ADDR``. Prints ``ready N`` once every
connection has finished its handshake, then holds them until stdin closes.
"""

from __future__ import annotations

import struct
import sys

import trio

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
H2_EMPTY_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
MUX_PREFACE = b"\x89MUX\r\n\x1a\x01"
MUX_EMPTY_SETTINGS = struct.pack(">IBBI", 1, 3, 0, 0) + b"\x80"

HANDSHAKES = {
    "mux": MUX_PREFACE + MUX_EMPTY_SETTINGS,
    "h2": H2_PREFACE + H2_EMPTY_SETTINGS,
}


async def open_one(
    proto: str, host: str, port: int, source: str, held: list[trio.SocketStream]
) -> None:
    sock = trio.socket.socket()
    await sock.bind((source, 0))
    await sock.connect((host, port))
    stream = trio.SocketStream(sock)
    await stream.send_all(HANDSHAKES[proto])
    await stream.receive_some(65536)  # the server's preface/SETTINGS: handshake done
    held.append(stream)


async def main() -> None:
    proto, host, port, count, source = sys.argv[1:6]
    held: list[trio.SocketStream] = []
    limiter = trio.CapacityLimiter(64)  # stay under listen backlogs (hypercorn: 100)

    async def guarded() -> None:
        async with limiter:
            await open_one(proto, host, int(port), source, held)

    try:
        with trio.fail_after(120):
            async with trio.open_nursery() as nursery:
                for _ in range(int(count)):
                    nursery.start_soon(guarded)
    except BaseException as exc:  # report to the parent instead of dying silently
        print(f"error after {len(held)} connections: {exc!r}", flush=True)
        raise
    print(f"ready {len(held)}", flush=True)
    await trio.to_thread.run_sync(sys.stdin.read)  # hold until the parent closes stdin
    for stream in held:
        await stream.aclose()


if __name__ == "__main__":
    trio.run(main)
