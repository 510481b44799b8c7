"""RFC 7541 (HPACK): decoding errors a server MUST detect (h2spec's ``hpack`` suite).

Ids and numbering are h2spec 2.6's (``hpack/2.3.3/1`` ...). Each case appends
(or prefixes) one bad representation to a valid request block; the verdict
is a connection error of type COMPRESSION_ERROR (a close passes too, GOAWAY
is wanted with ``--strict``). See ``mux/conformance/H2SPEC.md``.
"""

from __future__ import annotations

from mux.conformance.case import Group
from mux.conformance.context import CaseContext
from mux.conformance.groups._h2 import (
    COMPRESSION_ERROR,
    RFC7541,
    connection_error,
    encode_integer,
    literal_block,
)
from mux.conformance.h2wire import END_HEADERS, END_STREAM, HEADER_TABLE_SIZE, HEADERS, H2Peer

index_space = Group("h2", "2.3.3", "Index Address Space", RFC7541, "hpack")
table_size = Group("h2", "4.2", "Maximum Table Size", RFC7541, "hpack")
strings = Group("h2", "5.2", "String Literal Representation", RFC7541, "hpack")
indexed = Group("h2", "6.1", "Indexed Header Field Representation", RFC7541, "hpack")
size_update = Group("h2", "6.3", "Dynamic Table Size Update", RFC7541, "hpack")

_RULE = "MUST be treated as a decoding error (HTTP/2: connection error COMPRESSION_ERROR)."


async def _send_block(ctx: CaseContext, peer: H2Peer, block: bytes) -> None:
    await peer.send_frame(HEADERS, END_STREAM | END_HEADERS, 1, block)
    await connection_error(ctx, peer, COMPRESSION_ERROR)


def _huffman_name_field(encoded_name: bytes) -> bytes:
    """Literal field without indexing whose name is ``encoded_name`` as Huffman."""
    return b"\x00" + encode_integer(len(encoded_name), 7, 0x80) + encoded_name + b"\x01x"


async def _huffman_case(ctx: CaseContext, encoded_name: bytes) -> None:
    peer = await ctx.h2()
    block = literal_block(peer.request_headers()) + _huffman_name_field(encoded_name)
    await _send_block(ctx, peer, block)


@index_space.case(
    "Sends an indexed field with index 126 (beyond both tables)",
    "An index greater than the static plus dynamic table length " + _RULE,
)
async def index_out_of_range(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await _send_block(ctx, peer, literal_block(peer.request_headers()) + b"\xfe")


@table_size.case(
    "Sends a dynamic table size update at the end of the field block",
    "A dynamic table size update MUST come at the start of a field block; elsewhere it " + _RULE,
)
async def size_update_at_end(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await _send_block(ctx, peer, literal_block(peer.request_headers()) + b"\x21")


@strings.case(
    "Sends a Huffman string with padding longer than 7 bits",
    "Huffman padding strictly longer than 7 bits " + _RULE,
)
async def huffman_long_padding(ctx: CaseContext) -> None:
    # 'a' is 00011 (5 bits); then 11 bits of 1s.
    await _huffman_case(ctx, b"\x1f\xff")


@strings.case(
    "Sends a Huffman string padded with zeros",
    "Huffman padding that is not the most significant bits of EOS " + _RULE,
)
async def huffman_zero_padding(ctx: CaseContext) -> None:
    await _huffman_case(ctx, b"\x18")


@strings.case(
    "Sends a Huffman string that contains the EOS symbol",
    "A Huffman-encoded string literal containing the EOS symbol " + _RULE,
)
async def huffman_eos(ctx: CaseContext) -> None:
    await _huffman_case(ctx, b"\xff\xff\xff\xff")


@indexed.case("Sends an indexed field with index 0", "The index value of 0 " + _RULE)
async def index_zero(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await _send_block(ctx, peer, literal_block(peer.request_headers()) + b"\x80")


@size_update.case(
    "Sends a dynamic table size update above SETTINGS_HEADER_TABLE_SIZE",
    "A new table size above the decoder's SETTINGS_HEADER_TABLE_SIZE " + _RULE,
)
async def size_update_too_large(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    limit = peer.server_settings.get(HEADER_TABLE_SIZE, 4096)
    block = encode_integer(limit + 1, 5, 0x20) + literal_block(peer.request_headers())
    await _send_block(ctx, peer, block)


GROUPS = [index_space, table_size, strings, indexed, size_update]
