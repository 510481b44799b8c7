"""Deadlines and cancellation: only the affected stream is reset."""

from __future__ import annotations

import pytest
import trio

import mux_client
from mux.errors import MuxError

from .serverkit import Observed


async def test_deadline_resets_the_stream_and_raises_timeout(target: str, seen: Observed) -> None:
    """Expiry raises DeadlineExceeded (a TimeoutError) and the server sees the reset."""
    async with mux_client.connect(target) as client:
        with trio.fail_after(5):
            with pytest.raises(mux_client.DeadlineExceeded) as info:
                await client.request("GET", "/delay/3000", timeout=0.2)
            await seen.finished.wait()  # the server handler was cancelled by RST_STREAM
        assert isinstance(info.value, TimeoutError) and isinstance(info.value, MuxError)
        assert info.value.processed is mux_client.Processed.MAYBE_PROCESSED
        assert "0.2s" in str(info.value)
        assert seen.cancelled == ["/delay/3000"]
        # The connection survived: the next call on it works.
        assert (await client.request("POST", "/echo", body=b"ok")).body == b"ok"
        assert len(client.channel.connections) == 1


async def test_deadline_is_sent_as_mux_timeout_header(target: str, seen: Observed) -> None:
    """The server receives the time left as integer milliseconds."""
    async with mux_client.connect(target) as client:
        await client.request("GET", "/delay/1", timeout=1.5)
        await client.request("GET", "/delay/1")
    first, second = seen.timeout_headers
    assert 1000 < int(first) <= 1500
    assert second == b""


async def test_deadline_covers_a_streaming_block(target: str, seen: Observed) -> None:
    """The deadline of client.stream bounds the whole async-with block."""
    async with mux_client.connect(target) as client:
        with pytest.raises(mux_client.DeadlineExceeded) as info:
            async with client.open_call("POST", "/bidi", timeout=0.2) as call:
                await call.send(b"x")
                assert await call.receive() == b"X"
                await trio.sleep(5)
        assert info.value.processed is mux_client.Processed.PROCESSED
        assert (await client.request("POST", "/echo", body=b"again")).body == b"again"


async def test_cancel_scope_cancels_one_call_only(target: str, seen: Observed) -> None:
    """Cancelling one call resets its stream; concurrent calls on the connection finish."""
    async with mux_client.connect(target) as client:
        results: list[bytes] = []

        async def survivor() -> None:
            results.append((await client.request("GET", "/delay/300")).body)

        with trio.fail_after(5):
            async with trio.open_nursery() as nursery:
                for _ in range(5):
                    nursery.start_soon(survivor)
                with trio.move_on_after(0.1) as scope:
                    await client.request("GET", "/delay/3000")
                assert scope.cancelled_caught
                await seen.finished.wait()
        assert results == [b"slept"] * 5
        assert seen.cancelled == ["/delay/3000"]
        assert len(client.channel.connections) == 1


async def test_exceptions_in_the_client_block_propagate_unwrapped(target: str) -> None:
    """The client's internal nursery does not wrap the caller's exceptions."""
    with pytest.raises(KeyError):
        async with mux_client.connect(target) as client:
            await client.request("POST", "/echo")
            raise KeyError("mine")


async def test_cancelling_the_client_block_closes_cleanly(target: str) -> None:
    """A scope cancelled around connect() (idle connection, call in flight) just exits."""
    for _ in range(5):  # the failure this guards against was a scheduling race
        with trio.move_on_after(0.1) as scope:
            async with mux_client.connect(target) as client:
                await client.request("POST", "/echo", timeout=5)
                await client.request("GET", "/delay/3000")
        assert scope.cancelled_caught


async def test_cancelling_the_client_during_the_handshake_closes_cleanly() -> None:
    """Cancelled while the server has not sent its SETTINGS yet: no error escapes."""
    with trio.socket.socket() as listener:
        await listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        for _ in range(5):  # a scheduling race: try it a few times
            with trio.move_on_after(0.1) as scope:
                async with mux_client.connect(f"127.0.0.1:{port}") as client:
                    await client.request("GET", "/x")
            assert scope.cancelled_caught
