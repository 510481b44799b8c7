"""Memoised header work for the hardened h2 connection (private to the h2 engine).

Theory of operation
-------------------
h2 validates and normalises every header list and HPACK-codes it. The same
lists recur (h2load, gRPC), so :class:`HeaderMemo` caches, per connection and
per direction, h2's validation (exactly h2's, run once per distinct list and
flags) and the HPACK coding of a block, the latter only while the dynamic
table is unchanged and only for blocks that did not change it (so the result
is bit-for-bit what h2 would produce). Every table is bounded
(:data:`_MEMO_SIZE` entries, then cleared). Outbound lists are also checked
against RFC 9113 (:func:`mux.core.h2guard.outbound_problem`); a refused list
raises :class:`SendRefused` and is remembered as refused.
"""

from __future__ import annotations

from typing import Any

from h2.connection import _decode_headers
from h2.exceptions import ProtocolError
from h2.utilities import (
    HeaderValidationFlags,
    is_informational_response,
    normalize_outbound_headers,
    validate_outbound_headers,
)
from hpack import Decoder, Encoder

from mux.core.h2guard import outbound_problem


class SendRefused(Exception):
    """A header list we were asked to send breaks the protocol; nothing changed."""


#: Entries per memo table before it is cleared (bounds memory per connection).
_MEMO_SIZE = 64
#: h2's validation flags for a server's final response and for its trailers.
_RESPONSE_FLAGS = HeaderValidationFlags(
    is_client=False, is_trailer=False, is_response_header=True, is_push_promise=False
)
_REQUEST_FLAGS = HeaderValidationFlags(
    is_client=False, is_trailer=False, is_response_header=False, is_push_promise=False
)
_TRAILER_FLAGS = HeaderValidationFlags(
    is_client=False, is_trailer=True, is_response_header=False, is_push_promise=False
)
#: The same for a client's request and its trailers.
_CLIENT_REQUEST_FLAGS = HeaderValidationFlags(
    is_client=True, is_trailer=False, is_response_header=False, is_push_promise=False
)
_CLIENT_TRAILER_FLAGS = HeaderValidationFlags(
    is_client=True, is_trailer=True, is_response_header=False, is_push_promise=False
)
#: h2's validation flags for a response a client receives.
_CLIENT_RESPONSE_FLAGS = HeaderValidationFlags(
    is_client=True, is_trailer=False, is_response_header=True, is_push_promise=False
)


def _table_token(table: Any, *extra: int) -> tuple[Any, ...]:
    """What an HPACK block's coding depends on: the newest dynamic entry (by
    identity: any insertion replaces it), the entry count, sizes and limits."""
    entries = table.dynamic_entries
    return (entries[0] if entries else None, len(entries), table.maxsize, *extra)


def _same_token(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    return a[0] is b[0] and a[1:] == b[1:]


class HeaderMemo:
    """Per-connection caches of header work (bounded, created empty)."""

    __slots__ = ("decoded", "encoded", "inbound", "last", "outbound", "refused")

    def __init__(self) -> None:
        #: block bytes -> [decoder token, headers, validated request or None]
        self.decoded: dict[bytes, list[Any]] = {}
        #: (headers, flags) -> validated, normalised inbound headers
        self.inbound: dict[tuple[Any, ...], list[Any]] = {}
        #: (headers, flags) -> [validated, normalised outbound headers,
        #: encoder token or None, their block, informational response?]
        self.outbound: dict[tuple[Any, ...], list[Any]] = {}
        #: (headers, flags) -> why sending them was refused (made when needed)
        self.refused: dict[tuple[Any, ...], str] | None = None
        #: normalised outbound headers (exact tuples) -> (encoder token, block)
        self.encoded: dict[tuple[Any, ...], tuple[tuple[Any, ...], bytes]] = {}
        #: The ``decoded`` entry the last :meth:`decode` used or made, if any.
        self.last: list[Any] | None = None

    def decode(self, decoder: Decoder, block: bytes) -> list[Any]:
        """``_decode_headers`` unless this block was decoded, table-neutrally,
        against the current table; ``last`` is then its entry."""
        table = decoder.header_table
        limits = (decoder.max_header_list_size, decoder.max_allowed_table_size)
        before = _table_token(table, *limits)
        hit = self.decoded.get(block)
        if hit is not None and _same_token(hit[0], before):
            self.last = hit
            return list(hit[1])
        self.last = None
        headers: list[Any] = list(_decode_headers(decoder, block))
        if _same_token(_table_token(table, *limits), before):
            self.last = [before, headers, None]
            _store(self.decoded, block, self.last)
            return list(headers)
        return headers

    def encode(self, encoder: Encoder, headers: list[Any]) -> bytes:
        """``encoder.encode`` unless these exact fields were encoded,
        table-neutrally, against the current table."""
        if encoder.table_size_changes:
            return bytes(encoder.encode(headers))
        key = tuple((type(h), *h) for h in headers)
        before = _table_token(encoder.header_table)
        hit = self.encoded.get(key)
        if hit is not None and _same_token(hit[0], before):
            return hit[1]
        block = bytes(encoder.encode(headers))
        if _same_token(_table_token(encoder.header_table), before):
            _store(self.encoded, key, (before, block))
        return block

    def outbound_entry(self, headers: Any, flags: HeaderValidationFlags, split: bool) -> list[Any]:
        """The ``outbound`` entry of a list we are about to send with these
        h2 flags: our RFC check and h2's own, run once per distinct list.

        Raises:
            SendRefused: the list is invalid for that role.
        """
        key = _plain_key(headers, flags)
        if key is not None:
            hit = self.outbound.get(key)
            if hit is not None:
                return hit
            if self.refused is not None and (problem := self.refused.get(key)) is not None:
                raise SendRefused(problem)
        try:
            entry = _checked_entry(headers, flags, split)
        except SendRefused as exc:
            if key is not None:
                if self.refused is None:
                    self.refused = {}
                _store(self.refused, key, str(exc))
            raise
        if key is not None:
            _store(self.outbound, key, entry)
        return entry

    @staticmethod
    def encode_entry(encoder: Encoder, entry: list[Any]) -> bytes:
        """:meth:`encode` for an ``outbound`` entry, cached on the entry."""
        if encoder.table_size_changes:
            return bytes(encoder.encode(entry[0]))
        before = _table_token(encoder.header_table)
        if entry[1] is not None and _same_token(entry[1], before):
            block: bytes = entry[2]
            return block
        block = bytes(encoder.encode(entry[0]))
        if _same_token(_table_token(encoder.header_table), before):
            entry[1], entry[2] = before, block
        return block


def _store(table: dict[Any, Any], key: Any, value: Any) -> None:
    if len(table) >= _MEMO_SIZE:
        table.clear()
    table[key] = value


def _checked_entry(headers: Any, flags: HeaderValidationFlags, split: bool) -> list[Any]:
    """A fresh ``outbound`` entry, or SendRefused naming the problem."""
    problem = outbound_problem(headers, request=flags.is_client, trailers=flags.is_trailer)
    if problem is None:
        try:
            normal = list(
                validate_outbound_headers(normalize_outbound_headers(headers, flags, split), flags)
            )
        except ProtocolError as exc:
            problem = str(exc)
    if problem is not None:
        raise SendRefused(problem)
    informational = flags.is_response_header and is_informational_response(normal)
    return [normal, None, b"", informational]


def _plain_key(
    headers: Any, flags: HeaderValidationFlags, exact: bool = True
) -> tuple[Any, ...] | None:
    """A memo key for a list of 2-tuples of bytes, else None. ``exact``: only
    plain tuples (a ``NeverIndexedHeaderTuple`` must not share a key with an
    equal plain tuple when it decides how the field is encoded). Inbound the
    tuple kind is dropped by the engine, so any 2-tuple may share a key."""
    if not isinstance(headers, list):
        return None
    for field in headers:
        if (type(field) is not tuple if exact else not isinstance(field, tuple)) or len(field) != 2:
            return None
        name, value = field
        if type(name) is not bytes or type(value) is not bytes:
            return None
    return (tuple(headers), flags)
