"""Response headers as httpx users read them: a case-insensitive multi-mapping.

Theory of operation
-------------------
:class:`HeaderMap` wraps the ``(name, value)`` byte pairs a response arrived
with, unchanged and in order (``raw``). Read with ``str`` keys it behaves like
``httpx.Headers``: ``headers["content-type"]`` is a ``str`` (several fields of
one name are joined with ``", "``), iteration yields each name once,
:meth:`HeaderMap.get_list` and :meth:`HeaderMap.multi_items` give every field.
Read with ``bytes`` keys it answers ``bytes``, so code written against the
wire form keeps working; so do comparisons with a list of pairs and
``(name, value) in headers``. Lookups are case-insensitive (names arrive
lower-case over HTTP/2 and mux; HTTP/1.1 names are lowered too). Values are
decoded as UTF-8, falling back to Latin-1, as httpx does. The index by name is
built on first lookup, so a response whose headers are never read pays for
none of this.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, overload

Pairs = list[tuple[bytes, bytes]]


def _decode(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


def _key(name: str | bytes) -> bytes:
    return (name.encode("latin-1") if isinstance(name, str) else name).lower()


class HeaderMap(Mapping[str, str]):
    """Read-only, case-insensitive, multi-valued headers (``str`` or ``bytes`` keys)."""

    __slots__ = ("_index", "_raw")

    def __init__(self, raw: Iterable[tuple[bytes, bytes]] = ()) -> None:
        self._raw: Pairs = raw if isinstance(raw, list) else list(raw)
        self._index: dict[bytes, list[bytes]] | None = None

    @property
    def raw(self) -> Pairs:
        """The fields as received: ``(name, value)`` bytes pairs, in order."""
        return self._raw

    def _lookup(self) -> dict[bytes, list[bytes]]:
        index = self._index
        if index is None:
            index = {}
            for name, value in self._raw:
                index.setdefault(name.lower(), []).append(value)
            self._index = index
        return index

    @overload
    def __getitem__(self, key: str) -> str: ...
    @overload
    def __getitem__(self, key: bytes) -> bytes: ...
    def __getitem__(self, key: str | bytes) -> str | bytes:
        """The value of ``key``; several fields of that name are joined with ``", "``."""
        values = self._lookup().get(_key(key))
        if values is None:
            raise KeyError(key)
        joined = values[0] if len(values) == 1 else b", ".join(values)
        return joined if isinstance(key, bytes) else _decode(joined)

    def get(self, key: Any, default: Any = None) -> Any:
        """``headers[key]``, or ``default`` when there is no such field."""
        try:
            return self[key]
        except KeyError:
            return default

    def get_list(self, key: str | bytes) -> list[Any]:
        """Every value of ``key``, in order (``str``, or ``bytes`` for a bytes key)."""
        values = self._lookup().get(_key(key), [])
        return list(values) if isinstance(key, bytes) else [_decode(v) for v in values]

    def multi_items(self) -> list[tuple[str, str]]:
        """Every field as a ``(name, value)`` ``str`` pair, in order, repeats included."""
        return [(_decode(name), _decode(value)) for name, value in self._raw]

    def __contains__(self, key: object) -> bool:
        """A name (``str`` or ``bytes``), or a ``(name, value)`` bytes pair."""
        if isinstance(key, tuple):
            return key in self._raw
        if isinstance(key, str | bytes):
            return _key(key) in self._lookup()
        return False

    def __iter__(self) -> Iterator[str]:
        """Each field name once (lower case), in order of first appearance."""
        return (_decode(name) for name in self._lookup())

    def __len__(self) -> int:
        """The number of distinct names."""
        return len(self._lookup())

    def __bool__(self) -> bool:
        return bool(self._raw)

    def __eq__(self, other: object) -> bool:
        """Equal to another HeaderMap or list of pairs with the same fields in order,
        or to a mapping with the same names and values."""
        if isinstance(other, HeaderMap):
            return self._raw == other._raw
        if isinstance(other, list):
            return self._raw == other
        if isinstance(other, Mapping):
            return dict(self.items()) == {str(k).lower(): v for k, v in other.items()}
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"HeaderMap({self.multi_items()!r})"


def header_map(headers: HeaderMap | Iterable[tuple[bytes, bytes]] | None) -> HeaderMap:
    """``headers`` as a :class:`HeaderMap` (returned as is when it already is one)."""
    if isinstance(headers, HeaderMap):
        return headers
    return HeaderMap(() if headers is None else headers)


__all__ = ["HeaderMap", "header_map"]
