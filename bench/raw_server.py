"""Raw Trio socket server for the bulk baseline: ``raw_server.py PORT [--no-tune-allocator]``.

A client sends one line ``GET n`` (server writes n bytes with large writes, then closes) or
``PUT n`` followed by n bytes (server reads and discards them, then answers ``ok``).
"""

from __future__ import annotations

import sys
from functools import partial

import trio

from mux.allocator import tune_allocator

CHUNK = b"\0" * (256 * 1024)


async def handle(stream: trio.SocketStream) -> None:
    line = b""
    while not line.endswith(b"\n"):
        byte = await stream.receive_some(1)
        if not byte:
            return  # a port probe: connected and closed
        line += byte
    verb, size = line.split()
    n = int(size)
    if verb == b"GET":
        while n > 0:
            await stream.send_all(CHUNK[: min(n, len(CHUNK))])
            n -= min(n, len(CHUNK))
    else:
        while n > 0:
            data = await stream.receive_some(256 * 1024)
            if not data:
                break
            n -= len(data)
        await stream.send_all(b"ok")
    await stream.aclose()


if __name__ == "__main__":
    if "--no-tune-allocator" not in sys.argv[2:]:
        tune_allocator()
    trio.run(partial(trio.serve_tcp, handle, int(sys.argv[1]), host="127.0.0.1"))
