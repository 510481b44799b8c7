"""spec/mux-protocol.md §7.4 and §8: concurrency and flow control."""

from __future__ import annotations

from mux.conformance.case import CaseFailed, CaseSkipped, Group
from mux.conformance.context import CaseContext
from mux.conformance.groups._mux import SPEC, connection_error, stream_error
from mux.conformance.muxwire import MuxPeer
from mux.conformance.verify import is_error_frame, verify_frame, verify_silence
from mux.conformance.wire import FrameEvent
from mux.core import frames as f
from mux.errors import ErrorCode

concurrency = Group("mux", "7.4", "Concurrency and REFUSED_STREAM", SPEC)
principles = Group("mux", "8.1", "Flow control principles", SPEC)
violations = Group("mux", "8.4", "Flow-control violations", SPEC)

MAX_CONCURRENT_STREAMS, INITIAL_STREAM_WINDOW, CONNECTION_WINDOW = 0x1, 0x2, 0x3
MAX_FRAME_SIZE = 0x4
_DEFAULTS = {MAX_CONCURRENT_STREAMS: 100, INITIAL_STREAM_WINDOW: 262144,
             CONNECTION_WINDOW: 1048576, MAX_FRAME_SIZE: 65536}  # fmt: skip


def _setting(peer: MuxPeer, key: int) -> int:
    return peer.server_settings.get(key, _DEFAULTS[key])


async def _post(peer: MuxPeer, stream_id: int) -> None:
    await peer.send_headers(stream_id, peer.request_headers("POST"), end_stream=False)


async def _first_data(peer: MuxPeer, stream_id: int) -> FrameEvent:
    frame = await verify_frame(
        peer,
        f"DATA on stream {stream_id}",
        lambda e: e.stream_id == stream_id and (e.kind == "DATA" or e.has("END_STREAM")),
        reject=is_error_frame,
    )
    if frame.kind != "DATA" or not frame.payload:
        raise CaseSkipped(f"the response to {peer.target.path} has no body; try --path")
    return frame


@concurrency.case(
    "Opens one stream more than MAX_CONCURRENT_STREAMS",
    "A HEADERS that would exceed the server's limit MUST get stream error REFUSED_STREAM.",
)
async def too_many_streams(ctx: CaseContext) -> None:
    peer = await ctx.mux()
    limit = _setting(peer, MAX_CONCURRENT_STREAMS)
    if limit > 1000:
        raise CaseSkipped(f"MAX_CONCURRENT_STREAMS={limit} is too many to open")
    payload = f.encode_headers(peer.request_headers("POST", ctx.target.hold_path))
    burst = b"".join(
        f.encode_frame(f.FrameType.HEADERS, 0, 1 + 2 * n, payload) for n in range(limit + 1)
    )
    await peer.send_raw(burst)
    await stream_error(peer, 1 + 2 * limit, ErrorCode.REFUSED_STREAM)


@principles.case(
    "Sets INITIAL_STREAM_WINDOW to 1 and requests a response",
    "A sender MUST NOT send DATA longer than the receiver's stream window.",
)
async def data_respects_window(ctx: CaseContext) -> None:
    peer = await ctx.mux(settings={INITIAL_STREAM_WINDOW: 1})
    await peer.send_headers(1)
    frame = await _first_data(peer, 1)
    if len(frame.payload) > 1:
        raise CaseFailed("DATA of at most 1 byte (stream window 1)", frame.describe())


@principles.case(
    "Sets INITIAL_STREAM_WINDOW to 0, then opens the stream window",
    "While the window is zero the sender MUST NOT send non-empty DATA.",
)
async def zero_window(ctx: CaseContext) -> None:
    peer = await ctx.mux(settings={INITIAL_STREAM_WINDOW: 0})
    await peer.send_headers(1)
    await verify_silence(peer, lambda e: e.kind == "DATA" and bool(e.payload), "DATA yet")
    await peer.send_window_update(1, 1)
    frame = await _first_data(peer, 1)
    if len(frame.payload) > 1:
        raise CaseFailed("DATA of at most 1 byte (stream window 1)", frame.describe())


async def _send_data(peer: MuxPeer, stream_id: int, total: int, chunk: int) -> None:
    frames = []
    while total > 0:
        size = min(chunk, total)
        frames.append(f.encode_frame(f.FrameType.DATA, 0, stream_id, b"\x00" * size))
        total -= size
    await peer.send_raw(b"".join(frames))


@violations.case(
    "Sends one byte more than the stream window on a stream",
    "DATA beyond the stream receive window (within the connection window) MUST get stream "
    "error FLOW_CONTROL_ERROR.",
)
async def stream_window_exceeded(ctx: CaseContext) -> None:
    peer = await ctx.mux()
    window = _setting(peer, INITIAL_STREAM_WINDOW)
    if window + 1 > _setting(peer, CONNECTION_WINDOW):
        raise CaseSkipped("the stream window is not smaller than the connection window")
    await peer.send_headers(1, peer.request_headers("POST", ctx.target.hold_path), end_stream=False)
    await _send_data(peer, 1, window + 1, _setting(peer, MAX_FRAME_SIZE))
    await stream_error(peer, 1, ErrorCode.FLOW_CONTROL_ERROR)


@violations.case(
    "Sends one byte more than the connection window over several streams",
    "DATA beyond the connection receive window MUST be a connection error FLOW_CONTROL_ERROR.",
)
async def connection_window_exceeded(ctx: CaseContext) -> None:
    peer = await ctx.mux()
    stream_window = _setting(peer, INITIAL_STREAM_WINDOW)
    left = _setting(peer, CONNECTION_WINDOW) + 1
    streams = -(-left // max(stream_window, 1))
    if stream_window == 0 or streams > _setting(peer, MAX_CONCURRENT_STREAMS) or streams > 64:
        raise CaseSkipped("the connection window cannot be exceeded within the stream limits")
    chunk = _setting(peer, MAX_FRAME_SIZE)
    for n in range(streams):
        sid = 1 + 2 * n
        hold = peer.request_headers("POST", ctx.target.hold_path)
        await peer.send_headers(sid, hold, end_stream=False)
        await _send_data(peer, sid, min(stream_window, left), chunk)
        left -= min(stream_window, left)
    await connection_error(peer, ErrorCode.FLOW_CONTROL_ERROR)


GROUPS = [concurrency, principles, violations]
