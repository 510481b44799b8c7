"""msgpack message helpers: pack/iter_messages, and Call.send_msg/messages end to end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

import mux_client
from mux_client import MessageError
from mux_client.messages import iter_messages, pack

VALUES: list[Any] = [1, "two", b"\x00three", [4, {"five": 5.5}], None, {"k": [True, False]}]


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def _collect(data: bytes, size: int, **kwargs: Any) -> list[Any]:
    return [obj async for obj in iter_messages(_chunks(data, size), what="T /x", **kwargs)]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
async def test_messages_survive_any_chunking(size: int) -> None:
    """Values come back equal and in order however the body is split."""
    data = b"".join(pack(v) for v in VALUES)
    assert await _collect(data, size) == VALUES


async def test_message_larger_than_max_size_is_refused() -> None:
    """An oversized message raises MessageError instead of buffering without bound."""
    data = pack(b"x" * 5000)
    with pytest.raises(MessageError, match="larger than 1024 bytes"):
        await _collect(data, 512, max_size=1024)


async def test_truncated_and_malformed_bodies_raise() -> None:
    """A body ending inside a message, or bytes that are not msgpack, raise MessageError."""
    with pytest.raises(MessageError, match="ended inside a message"):
        await _collect(pack([1, 2, 3])[:-1], 2)
    with pytest.raises(MessageError, match="bad msgpack"):
        await _collect(b"\xc1", 1)  # 0xc1 is never used in msgpack


async def test_call_send_msg_and_messages_round_trip(target: str) -> None:
    """Messages sent with send_msg come back through /echo via messages()."""
    async with (
        mux_client.connect(target) as client,
        client.open_call("POST", "/echo", timeout=5) as call,
    ):
        for value in VALUES[:-1]:
            await call.send_msg(value)
        await call.send_msg(VALUES[-1], end=True)
        received = [obj async for obj in call.messages()]
    assert received == VALUES
