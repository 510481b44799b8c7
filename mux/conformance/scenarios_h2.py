"""Client-mode scenarios for HTTP/2 clients (RFC 9113).

The HTTP/2 twins of :mod:`mux.conformance.scenarios_mux`: each scenario is
selected by its path prefix, its ``workload`` tells the person (or test)
driving the client what to send, and it judges one requirement of RFC 9113.
Rules the RFC states as SHOULD or MAY (retrying what the server did not
process) are ``strict`` scenarios, only run with ``--strict``. The scripts
live in :mod:`mux.conformance.scenario_kit` (shared with mux); see
:mod:`mux.conformance.clientmode` for how scenarios are served and judged.
"""

from __future__ import annotations

from mux.conformance import scenario_kit as kit
from mux.conformance.case import CaseFailed
from mux.conformance.h2wire import DATA, END_STREAM, MAX_CONCURRENT_STREAMS, frame_bytes
from mux.conformance.scenario_kit import Ctx, Dialect
from mux.conformance.serverwire_h2 import H2_INITIAL_SETTINGS
from mux.conformance.wire import FrameEvent, TimeoutEvent, WireEvent
from mux.errors import ErrorCode, code_name

SOURCE = "RFC 9113"
#: How long "the client must not do X" checks watch (the only short window).
QUIET = kit.QUIET
#: HTTP/2 error codes (RFC 9113 §7) the reset-codes scenario uses: all but REFUSED_STREAM.
H2_RESET_CODES = tuple(c for c in ErrorCode if c < 0x100 and c is not ErrorCode.REFUSED_STREAM)
#: The stream window every client-mode connection advertises.
WINDOW = H2_INITIAL_SETTINGS[0x4]
#: Body size of the flow-control scenario's second request.
FLOW_BODY = 65536


def _path(event: FrameEvent) -> str:
    return event.detail if event.kind == "HEADERS" else ""


H2 = Dialect(
    "client-h2", "h2", SOURCE, _path, frame_bytes, DATA, END_STREAM,
    ack_label="SETTINGS(ACK)", processed_note=", processed",
)  # fmt: skip
SCENARIOS = H2.scenarios
scenario = H2.scenario


def is_request(event: WireEvent, name: str) -> bool:
    """True for a request HEADERS whose path selects scenario ``name``."""
    return H2.is_request(event, name)


# ---------------------------------------------------------------- GOAWAY


@scenario(
    "goaway", "6.8", "GOAWAY",
    "GOAWAY(NO_ERROR, last_stream_id = first stream) while three requests are open",
    "After GOAWAY the client MUST NOT open streams on that connection, and MUST NOT treat "
    "the streams above last_stream_id as processed nor retry the processed one.",
    "3 concurrent POST /goaway/<n> (n = 1..3) with a small body, on one connection",
)  # fmt: skip
async def goaway(ctx: Ctx) -> None:
    await kit.goaway(H2, ctx, "goaway", need_retries=False)


@scenario(
    "goaway-retry", "8.7", "Request Reliability",
    "GOAWAY(NO_ERROR, last_stream_id = first stream) while three requests are open",
    "Requests on streams above GOAWAY's last_stream_id were not processed: the client "
    "retries them on a new connection (SHOULD/MAY, strict).",
    "3 concurrent POST /goaway-retry/<n> (n = 1..3) with a small body, on one connection; "
    "all succeed",
    strict=True,
)  # fmt: skip
async def goaway_retry(ctx: Ctx) -> None:
    await kit.goaway(H2, ctx, "goaway-retry")


# ---------------------------------------------------------------- limits


@scenario(
    "max-streams", "5.1.2", "Stream Concurrency",
    "Lowers SETTINGS_MAX_CONCURRENT_STREAMS to 2 after the first request",
    "After acknowledging the lower SETTINGS_MAX_CONCURRENT_STREAMS the client MUST NOT have "
    "more streams open than it allows.",
    "POST /max-streams/0, wait for its answer, then 4 concurrent POST /max-streams/<n>; "
    "all succeed",
)  # fmt: skip
async def max_streams(ctx: Ctx) -> None:
    await kit.max_streams(H2, ctx, MAX_CONCURRENT_STREAMS)


@scenario(
    "flow-control", "6.9.1", "The Flow-Control Window",
    f"Advertises SETTINGS_INITIAL_WINDOW_SIZE={WINDOW}, then no WINDOW_UPDATE for a while",
    "The client MUST NOT send more DATA than the stream window allows, and MUST resume when "
    "WINDOW_UPDATE opens it.",
    f"POST /flow-control/0 with a small body, wait for its answer, then POST /flow-control/1 "
    f"with a {FLOW_BODY}-byte body on the same connection; both succeed",
)  # fmt: skip
async def flow_control(ctx: Ctx) -> None:
    peer, first = await ctx.first_request()
    await kit.wait_ack(H2, ctx, peer)
    await peer.respond(first.stream_id)
    await peer.send_window_update(0, 1 << 24)  # only the stream window binds
    sid = await _next_request(ctx, peer, "flow-control", first.stream_id)
    sent = await kit.starve(ctx, peer, sid, WINDOW, str(FLOW_BODY))
    await peer.send_window_update(sid, 1 << 20)
    await kit.finish_body(H2, ctx, peer, sid, sent)


async def _next_request(ctx: Ctx, peer: kit.KitPeer, name: str, after: int) -> int:
    while True:
        p, event = await ctx.next()
        if isinstance(event, TimeoutEvent) or (p is peer and kit.hostile(event)):
            raise CaseFailed(f"a second request /{name}/... on {ctx.label(peer)}",
                             H2.describe(ctx, p, event))  # fmt: skip
        if p is peer and H2.is_request(event, name) and event.stream_id != after:
            return event.stream_id


@scenario(
    "settings-ack", "6.5.3", "Settings Synchronization",
    "Sends a second SETTINGS frame during a request",
    "Upon receiving SETTINGS without ACK the client MUST apply it and send SETTINGS(ACK).",
    "POST /settings-ack/<n>; succeeds",
)  # fmt: skip
async def settings_ack(ctx: Ctx) -> None:
    await kit.settings_ack(H2, ctx, {0x5: 32768, 0x6: 65536})


# ---------------------------------------------------------------- resets, PING, close


@scenario(
    "data-after-reset", "5.1", "Stream States",
    "Resets the stream with INTERNAL_ERROR, then sends DATA on it",
    "DATA on a stream the server reset is at most a stream error (STREAM_CLOSED): the client "
    "MUST keep the connection usable (answers PING, sends its next request on it).",
    "POST /data-after-reset/1 (fails with a reset, INTERNAL_ERROR), then POST "
    "/data-after-reset/2 with the same client (succeeds)",
)  # fmt: skip
async def data_after_reset(ctx: Ctx) -> None:
    await kit.data_after_reset(H2, ctx)


@scenario(
    "ping", "6.7", "PING",
    "PINGs the client, sends an unmatched PING ACK, answers the client's PINGs 1 s late",
    "The client MUST answer PING with PING(ACK) and an identical payload, MUST NOT answer a "
    "PING ACK, and MUST NOT fail because our answers are late.",
    "POST /ping/<n>; succeeds (the answer takes about 1 s)",
)  # fmt: skip
async def ping(ctx: Ctx) -> None:
    await kit.ping(H2, ctx)


@scenario(
    "reset-refused", "8.7", "Request Reliability",
    "Resets the first attempt with REFUSED_STREAM",
    "REFUSED_STREAM means not processed: the client retries the request (MAY, strict).",
    "POST /reset-refused/<n> with a small body; succeeds",
    strict=True,
)  # fmt: skip
async def reset_refused(ctx: Ctx) -> None:
    await kit.reset_refused(H2, ctx)


@scenario(
    "reset-codes", "8.7", "Request Reliability",
    "Resets one request with each error code except REFUSED_STREAM",
    "A stream reset with any code but REFUSED_STREAM may have been processed: the client "
    "MUST NOT retry the POST automatically (it surfaces the error).",
    "POST /reset-codes/<CODE> once for each code name: "
    + " ".join(code_name(c) for c in H2_RESET_CODES),
)  # fmt: skip
async def reset_codes(ctx: Ctx) -> None:
    await kit.reset_codes(H2, ctx, H2_RESET_CODES)


@scenario(
    "close-mid-frame", "8.7", "Request Reliability",
    "Sends the response HEADERS, half a DATA frame, then closes the connection",
    "A request whose response had started when the connection was lost may have been "
    "processed: the client MUST NOT retry the POST automatically (it surfaces the error).",
    "POST /close-mid-frame/<n>; the request fails with a connection error",
)  # fmt: skip
async def close_mid_frame(ctx: Ctx) -> None:
    await kit.close_mid_frame(H2, ctx)


__all__ = ["FLOW_BODY", "H2_RESET_CODES", "SCENARIOS", "WINDOW"]
