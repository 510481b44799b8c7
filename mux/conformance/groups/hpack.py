"""RFC 7541 (HPACK): decoding errors a server MUST detect."""

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
from mux.conformance.h2wire import END_HEADERS, END_STREAM, HEADERS, H2Peer

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
    "Sends an indexed field whose index is beyond both tables",
    "An index greater than the static plus dynamic table length " + _RULE,
)
async def index_out_of_range(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await _send_block(ctx, peer, literal_block(peer.request_headers()) + b"\xff\x7f")


@table_size.case(
    "Sends a dynamic table size update above SETTINGS_HEADER_TABLE_SIZE",
    "A table size update larger than the decoder's advertised maximum " + _RULE,
)
async def table_size_too_large(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    block = encode_integer(4097, 5, 0x20) + literal_block(peer.request_headers())
    await _send_block(ctx, peer, block)


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
    "Sends a dynamic table size update after a field",
    "A dynamic table size update MUST occur at the beginning of a field block; elsewhere it "
    + _RULE,
)
async def size_update_after_field(ctx: CaseContext) -> None:
    peer = await ctx.h2()
    await _send_block(ctx, peer, literal_block(peer.request_headers()) + b"\x20")


GROUPS = [index_space, table_size, strings, indexed, size_update]
