"""spec/mux-protocol.md §4.2 (header list size) and §11 (limits and abuse budgets)."""

from __future__ import annotations

from mux.conformance.case import CaseSkipped, Group
from mux.conformance.context import CaseContext
from mux.conformance.groups._common import raw_case
from mux.conformance.groups._mux import SPEC, expect_connection_error, mux_connect, stream_error
from mux.conformance.muxwire import MuxPeer
from mux.core import frames as f
from mux.errors import ErrorCode

header_size = Group("mux", "4.2", "HEADERS: header list size", SPEC)
memory = Group("mux", "11.1", "Limits: memory", SPEC)
floods = Group("mux", "11.2", "Limits: floods", SPEC)

MAX_FRAME_SIZE, MAX_HEADER_LIST_SIZE = 0x4, 0x5
_DEFAULT_FRAME, _DEFAULT_LIST = 65536, 65536
#: Frames a flood case sends: far beyond every suggested budget (100 in a row).
_FLOOD = 2000
#: A frame type the spec does not define (ignored when alone, §3.4).
_UNKNOWN_TYPE = 0x7E


@header_size.case(
    "Sends HEADERS one byte longer than the server's MAX_HEADER_LIST_SIZE",
    "A HEADERS payload longer than MAX_HEADER_LIST_SIZE MUST NOT be decoded and MUST get "
    "stream error HEADER_LIST_TOO_LARGE (the connection stays usable).",
)
async def header_list_too_large(ctx: CaseContext) -> None:
    peer = await ctx.mux()
    limit = peer.server_settings.get(MAX_HEADER_LIST_SIZE, _DEFAULT_LIST)
    frame = peer.server_settings.get(MAX_FRAME_SIZE, _DEFAULT_FRAME)
    if limit >= frame:
        raise CaseSkipped(
            f"MAX_HEADER_LIST_SIZE={limit} is not below MAX_FRAME_SIZE={frame}: a larger "
            "HEADERS would be a frame size error first"
        )
    base = f.encode_headers(peer.request_headers("POST", ctx.target.hold_path))
    filler = b"v" * (limit + 1 - len(base))
    payload = f.encode_headers([*peer.request_headers("POST", ctx.target.hold_path),
                                (b"x-filler", filler)])  # fmt: skip
    while len(payload) <= limit:  # msgpack length prefixes grow with the value
        filler += b"v"
        payload = f.encode_headers(
            [*peer.request_headers("POST", ctx.target.hold_path), (b"x-filler", filler)]
        )
    await peer.send_frame(f.FrameType.HEADERS, f.END_STREAM, 1, payload)
    await stream_error(peer, 1, ErrorCode.HEADER_LIST_TOO_LARGE)


@memory.case(
    "Sends HEADERS with 300 small fields (more than the suggested 256)",
    "An endpoint SHOULD bound the number of fields per header list and treat a longer list "
    "as stream error HEADER_LIST_TOO_LARGE.",
    strict=True,
)
async def too_many_fields(ctx: CaseContext) -> None:
    peer = await ctx.mux()
    fields = [(f"x-{i}".encode(), b"") for i in range(300)]
    headers = [*peer.request_headers("POST", ctx.target.hold_path), *fields]
    await peer.send_frame(f.FrameType.HEADERS, f.END_STREAM, 1, f.encode_headers(headers))
    await stream_error(peer, 1, ErrorCode.HEADER_LIST_TOO_LARGE)


async def _open_hold(ctx: CaseContext, peer: MuxPeer) -> None:
    headers = peer.request_headers("POST", ctx.target.hold_path)
    await peer.send_headers(1, headers, end_stream=False)


raw_case(
    floods,
    f"Sends {_FLOOD} empty DATA frames without END_STREAM on an open stream",
    "An endpoint SHOULD count empty DATA frames without END_STREAM and treat exceeding its "
    "budget as connection error ENHANCE_YOUR_CALM.",
    connect=mux_connect,
    prepare=_open_hold,
    data=f.encode_frame(f.FrameType.DATA, 0, 1, b"") * _FLOOD,
    verdict=expect_connection_error(ErrorCode.ENHANCE_YOUR_CALM),
    strict=True,
)
raw_case(
    floods,
    f"Sends {_FLOOD * 5} frames of an unknown type in a row",
    "An endpoint SHOULD count unknown frame types and treat exceeding its budget as "
    "connection error ENHANCE_YOUR_CALM.",
    connect=mux_connect,
    data=f.encode_frame(_UNKNOWN_TYPE, 0, 0, b"") * (_FLOOD * 5),
    verdict=expect_connection_error(ErrorCode.ENHANCE_YOUR_CALM),
    strict=True,
)


GROUPS = [header_size, memory, floods]
