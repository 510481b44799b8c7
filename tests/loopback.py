"""One-shot raw exchanges with a server on loopback (for tests of bad input).

Theory of operation
-------------------
:func:`exchange` connects, sends the bytes whole and reads until the server
closes the connection (a reset counts as a close: closed without a word),
bounded in time, so a test can assert on exactly what a peer saw.
"""

from __future__ import annotations

import trio


async def exchange(port: int, data: bytes, *, limit: float = 5.0) -> bytes:
    """Send ``data`` to ``127.0.0.1:port``, read until the server closes (at most ``limit`` s)."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    await stream.send_all(data)
    received = b""
    with trio.fail_after(limit):
        try:
            while chunk := await stream.receive_some(65536):
                received += chunk
        except trio.BrokenResourceError:  # reset: closed without a word, too
            pass
    await stream.aclose()
    return received
