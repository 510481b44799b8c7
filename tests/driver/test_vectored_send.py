"""send_vectored writes every chunk in order over a real socket, partial sends included."""

from __future__ import annotations

import socket

import pytest
import trio

from mux.driver.writer import send_vectored


async def test_send_vectored_survives_partial_sends() -> None:
    a, b = trio.socket.socketpair()
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # force partial sendmsg
    chunks: list[bytes | memoryview] = [bytes([i % 251]) * (1000 + 37 * i) for i in range(600)]
    chunks[3] = memoryview(b"view-payload" * 5000)[7:]
    expected = b"".join(chunks)
    received = bytearray()

    async def reader() -> None:
        while len(received) < len(expected):
            received.extend(await b.recv(65536))

    with a, b, trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            await send_vectored(a, [memoryview(chunk) for chunk in chunks])
    assert bytes(received) == expected


async def test_send_vectored_cancelled_keeps_exactly_the_unsent_bytes() -> None:
    """A cancelled send leaves in ``views`` what the kernel did not take, so a
    later send (the flusher taking over an inline flush) completes the stream."""
    a, b = trio.socket.socketpair()
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    chunks = [bytes([i]) * 50_000 for i in range(40)]
    expected = b"".join(chunks)
    views = [memoryview(chunk) for chunk in chunks]
    with a, b, trio.fail_after(10):
        with trio.move_on_after(0.05) as scope:
            await send_vectored(a, views)  # nobody reads: blocks, then is cancelled
        assert scope.cancelled_caught
        left = sum(view.nbytes for view in views)
        assert 0 < left < len(expected)
        received = bytearray()

        async def reader() -> None:
            while len(received) < len(expected):
                received.extend(await b.recv(65536))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            await send_vectored(a, views)
        assert views == []
    assert bytes(received) == expected


async def test_send_vectored_reports_a_broken_peer() -> None:
    a, b = trio.socket.socketpair()
    b.close()
    with a, pytest.raises(trio.BrokenResourceError), trio.fail_after(5):
        await send_vectored(a, [memoryview(b"x" * 70000), memoryview(b"y" * 70000)])
