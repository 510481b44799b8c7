"""Client-mode scenarios for mux/msgpack clients (spec/mux-protocol.md).

Each scenario is selected by its path prefix; its ``workload`` tells the
person (or test) driving the client what to send. The scripts live in
:mod:`mux.conformance.scenario_kit` (shared with HTTP/2); see
:mod:`mux.conformance.clientmode` for how scenarios are served and judged.
"""

from __future__ import annotations

from mux.conformance import scenario_kit as kit
from mux.conformance.case import CaseSkipped
from mux.conformance.scenario_kit import Ctx, Dialect
from mux.conformance.serverwire import INITIAL_SETTINGS, request_path
from mux.core import frames as f
from mux.errors import ErrorCode, code_name

SPEC = "spec/mux-protocol.md"
#: How long "the client must not do X" checks watch.
QUIET = kit.QUIET
#: Codes the reset-codes scenario uses (every code but REFUSED_STREAM).
RESET_CODES = tuple(c for c in ErrorCode if c is not ErrorCode.REFUSED_STREAM)

MUX = Dialect(
    "client-mux", "mux", SPEC, request_path, f.encode_frame, f.FrameType.DATA, f.END_STREAM,
    ack_label="SETTINGS ACK", headers_path=True,
)  # fmt: skip
SCENARIOS = MUX.scenarios
scenario = MUX.scenario


@scenario(
    "goaway", "9.2", "Retry semantics",
    "GOAWAY(last_stream_id = first stream) while three calls are open",
    "After GOAWAY the client MUST NOT open streams on that connection and MUST retry only "
    "the streams above last_stream_id (on a new connection).",
    "3 concurrent POST /goaway/<n> (n = 1..3) with a small body, on one connection; all succeed",
)  # fmt: skip
async def goaway(ctx: Ctx) -> None:
    await kit.goaway(MUX, ctx, "goaway")


@scenario(
    "max-streams", "7.4", "Concurrency and REFUSED_STREAM",
    "Lowers MAX_CONCURRENT_STREAMS to 2 by SETTINGS after the first request",
    "After acknowledging the new MAX_CONCURRENT_STREAMS the client MUST NOT have more streams "
    "open than it allows (it queues the rest).",
    "POST /max-streams/0, wait for its answer, then 4 concurrent POST /max-streams/<n>; "
    "all succeed",
)  # fmt: skip
async def max_streams(ctx: Ctx) -> None:
    await kit.max_streams(MUX, ctx, 0x1)


@scenario(
    "flow-control", "8.1", "Flow control principles",
    "Advertises a 4096-byte stream window and sends no WINDOW_UPDATE for a while",
    "The client MUST NOT send more DATA than the stream window allows, and MUST resume when "
    "WINDOW_UPDATE opens it.",
    "POST /flow-control/<n> with a 16384-byte body; succeeds",
)  # fmt: skip
async def flow_control(ctx: Ctx) -> None:
    peer, first = await ctx.first_request()
    sid = first.stream_id
    window = INITIAL_SETTINGS[0x2] if peer.acks_received else 262144
    sent = await kit.starve(ctx, peer, sid, window, "16384 bytes")
    if window != INITIAL_SETTINGS[0x2]:
        raise CaseSkipped("the request came before the client acknowledged our SETTINGS")
    await peer.send_window_update(sid, 65536)
    await kit.finish_body(MUX, ctx, peer, sid, sent)


@scenario(
    "data-after-reset", "7.3", "Closed streams",
    "Resets the stream with INTERNAL_ERROR, then sends DATA on it",
    "DATA arriving on a stream the server reset MUST NOT break the connection: the client "
    "ignores it (or resets the stream), answers PING and sends its next request on it.",
    "POST /data-after-reset/1 (fails with a reset, INTERNAL_ERROR), then POST "
    "/data-after-reset/2 with the same client (succeeds)",
)  # fmt: skip
async def data_after_reset(ctx: Ctx) -> None:
    await kit.data_after_reset(MUX, ctx)


@scenario(
    "ping", "4.5", "PING",
    "PINGs the client, sends an unmatched PING ACK, answers the client's PINGs 1 s late",
    "The client MUST answer PING with PING(ACK) and the same 8 bytes, MUST NOT answer a PING "
    "ACK, and MUST NOT fail because our answers are late.",
    "POST /ping/<n>; succeeds (the answer takes about 1 s)",
)  # fmt: skip
async def ping(ctx: Ctx) -> None:
    await kit.ping(MUX, ctx)


@scenario(
    "reset-refused", "7.4", "Concurrency and REFUSED_STREAM",
    "Resets the first attempt with REFUSED_STREAM",
    "REFUSED_STREAM means not processed: the client retries the request (transparently).",
    "POST /reset-refused/<n> with a small body; succeeds",
)  # fmt: skip
async def reset_refused(ctx: Ctx) -> None:
    await kit.reset_refused(MUX, ctx)


@scenario(
    "reset-codes", "9.2", "Retry semantics",
    "Resets one request with each error code except REFUSED_STREAM",
    "A stream reset with any code but REFUSED_STREAM may have been processed: the client "
    "MUST NOT retry it automatically (it surfaces the error).",
    "POST /reset-codes/<CODE> once for each code name: "
    + " ".join(code_name(c) for c in RESET_CODES),
)  # fmt: skip
async def reset_codes(ctx: Ctx) -> None:
    await kit.reset_codes(MUX, ctx, RESET_CODES)


@scenario(
    "close-mid-frame", "10.1", "Connection errors",
    "Sends the response head, half a DATA frame, then closes the connection",
    "A connection lost after the response started fails the call (processed) and the client "
    "MUST NOT retry it automatically.",
    "POST /close-mid-frame/<n>; the call fails with a connection error",
)  # fmt: skip
async def close_mid_frame(ctx: Ctx) -> None:
    await kit.close_mid_frame(MUX, ctx)


@scenario(
    "settings-ack", "6.2", "Settings synchronization",
    "Sends a second SETTINGS frame during a call",
    "The client MUST acknowledge every SETTINGS frame with SETTINGS(ACK).",
    "POST /settings-ack/<n>; succeeds",
)  # fmt: skip
async def settings_ack(ctx: Ctx) -> None:
    await kit.settings_ack(MUX, ctx, {0x5: 65536, 0x6: 0})
