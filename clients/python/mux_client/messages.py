"""Optional msgpack messages on a call's body (``send_msg`` / ``messages``).

Theory of operation
-------------------
msgpack values are self-delimiting, so a body that is a sequence of msgpack
values needs no extra framing: :func:`pack` encodes one value, and
:func:`iter_messages` feeds body chunks into msgpack's streaming ``Unpacker``
and yields each complete value. The unpacker's ``max_buffer_size`` bounds what
one incomplete message may make us buffer; a larger message, malformed bytes or
a body that ends inside a message raise :class:`~mux_client.errors.MessageError`.
Strings decode as ``str``, ``bin`` as ``bytes``.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Any, Final

import msgpack

from mux_client.errors import MessageError

#: Largest single message accepted by default (bytes).
DEFAULT_MAX_MESSAGE: Final = 4 * 1024 * 1024


def pack(obj: Any) -> bytes:
    """Encode one value as msgpack (``str`` as str, ``bytes`` as bin)."""
    data: bytes = msgpack.packb(obj, use_bin_type=True)
    return data


async def iter_messages(
    chunks: AsyncIterable[bytes], *, what: str, max_size: int = DEFAULT_MAX_MESSAGE
) -> AsyncIterator[Any]:
    """Yield the msgpack values carried by ``chunks`` (a body, chunked anyhow).

    Raises:
        MessageError: a message exceeds ``max_size``, is malformed, or the body
            ended inside one.
    """
    unpacker = msgpack.Unpacker(raw=False, max_buffer_size=max_size, strict_map_key=False)
    fed = complete = 0
    async for chunk in chunks:
        try:
            unpacker.feed(chunk)
        except msgpack.BufferFull:
            raise MessageError(what, f"message larger than {max_size} bytes") from None
        fed += len(chunk)
        while True:
            try:
                obj = next(unpacker)
            except StopIteration:
                break
            except (ValueError, msgpack.UnpackException) as exc:
                raise MessageError(what, str(exc) or type(exc).__name__) from exc
            complete = unpacker.tell()  # where the last complete message ended
            yield obj
    if complete != fed:
        raise MessageError(what, f"body ended inside a message ({fed - complete} bytes left)")


__all__ = ["DEFAULT_MAX_MESSAGE", "iter_messages", "pack"]
