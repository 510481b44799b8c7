"""Client side of the idle-connection benchmark: open many idle connections and hold them.

Run by ``bench/idle.py`` in several processes (one process may hold at most 20,000 fds).
Usage: ``idle_clients.py PROTO HOST PORT COUNT SOURCE_ADDR``. Each connection sends the
client preface and an empty SETTINGS, reads until the server's SETTINGS arrived and
acknowledges them (else the server closes it after its SETTINGS timeout, 10 s). Prints
``ready N`` once every connection has finished its handshake, then holds them. Each line
``check`` on stdin is answered with ``open N closed M`` (a connection counts as closed
when the server sent EOF or reset it); closing stdin ends the process.
"""

from __future__ import annotations

import os
import struct
import sys

import trio

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
H2_EMPTY_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
H2_SETTINGS_ACK = b"\x00\x00\x00\x04\x01\x00\x00\x00\x00"
MUX_PREFACE = b"\x89MUX\r\n\x1a\x01"
MUX_EMPTY_SETTINGS = struct.pack(">IBBI", 1, 3, 0, 0) + b"\x80"
MUX_SETTINGS_ACK = struct.pack(">IBBI", 0, 3, 1, 0)

HANDSHAKES = {
    "mux": MUX_PREFACE + MUX_EMPTY_SETTINGS,
    "h2": H2_PREFACE + H2_EMPTY_SETTINGS,
}
ACKS = {"mux": MUX_SETTINGS_ACK, "h2": H2_SETTINGS_ACK}


def has_settings(proto: str, data: bytes) -> bool:
    """True once ``data`` (the server's first bytes) holds its whole SETTINGS frame."""
    if proto == "h2":
        pos, header, settings_type = 0, 9, 4
    else:
        pos, header, settings_type = len(MUX_PREFACE), 10, 3
    while len(data) - pos >= header:
        if proto == "h2":
            length = int.from_bytes(data[pos : pos + 3], "big")
            ftype, flags = data[pos + 3], data[pos + 4]
        else:
            length, ftype, flags, _ = struct.unpack_from(">IBBI", data, pos)
        if len(data) - pos < header + length:
            return False
        if ftype == settings_type and not flags & 1:
            return True
        pos += header + length
    return False


async def open_one(
    proto: str, host: str, port: int, source: str, held: list[trio.SocketStream]
) -> None:
    sock = trio.socket.socket()
    await sock.bind((source, 0))
    await sock.connect((host, port))
    stream = trio.SocketStream(sock)
    await stream.send_all(HANDSHAKES[proto])
    received = b""
    while not has_settings(proto, received):
        chunk = await stream.receive_some(65536)
        if not chunk:
            raise ConnectionError("server closed the connection during the handshake")
        received += chunk
    await stream.send_all(ACKS[proto])  # handshake done: SETTINGS acknowledged
    held.append(stream)


def still_open(stream: trio.SocketStream) -> bool:
    """Drain what the server sent without blocking: False on EOF or reset."""
    fd = stream.socket.fileno()  # a non-blocking socket: read() never waits
    while True:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return True
        except OSError:
            return False
        if not data:
            return False


async def main() -> None:
    proto, host, port, count, source = sys.argv[1:6]
    held: list[trio.SocketStream] = []
    limiter = trio.CapacityLimiter(64)  # stay under listen backlogs (hypercorn: 100)

    async def guarded() -> None:
        async with limiter:
            await open_one(proto, host, int(port), source, held)

    try:
        with trio.fail_after(300):
            async with trio.open_nursery() as nursery:
                for _ in range(int(count)):
                    nursery.start_soon(guarded)
    except BaseException as exc:  # report to the parent instead of dying silently
        print(f"error after {len(held)} connections: {exc!r}", flush=True)
        raise
    print(f"ready {len(held)}", flush=True)
    while line := await trio.to_thread.run_sync(sys.stdin.readline):
        if line.strip() == "check":
            alive = sum(still_open(stream) for stream in held)
            print(f"open {alive} closed {len(held) - alive}", flush=True)
    for stream in held:
        await stream.aclose()


if __name__ == "__main__":
    trio.run(main)
