"""The HTTP/2 suite against hypercorn, and against one-rule-broken variants of it."""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest
import trio

from mux.conformance.case import CaseResult
from mux.conformance.groups import all_cases
from mux.conformance.runner import run_cases, select_cases
from mux.conformance.wire import Target
from tests.conformance.breaker import FrameInfo, Rule, serve_breaker

#: Seconds the suite waits for each answer in these tests (local server: plenty).
#: Generous, so a busy 2-core machine does not turn a slow answer into a failure;
#: only "must not happen" checks use a short fixed window (verify.QUIET_PERIOD).
REPLY_TIMEOUT = 2.0
#: Cases run at once, so the timeouts a broken server makes us wait out overlap.
JOBS = 4

#: What hypercorn 0.18 (trio worker, h2 4.x) fails, and why:
#: - h2/3.4/1: h2 answers a PING sent before the client's SETTINGS instead of
#:   rejecting the preface.
#: - http2/4.3/1 and every hpack/* case: h2 reports HPACK decoding errors as
#:   PROTOCOL_ERROR, not COMPRESSION_ERROR.
#: - http2/5.1/11: DATA on a stream closed by END_STREAM both ways gets
#:   RST_STREAM(STREAM_CLOSED), not the connection error RFC 7540/9113 §5.1 asks for.
#: - http2/6.5/1: a SETTINGS ACK with a payload gets PROTOCOL_ERROR, not FRAME_SIZE_ERROR.
HYPERCORN_FAILURES = {
    "h2/3.4/1",
    "http2/4.3/1",
    "http2/5.1/11",
    "http2/6.5/1",
    "hpack/2.3.3/1",
    "hpack/4.2/1",
    "hpack/5.2/1",
    "hpack/5.2/2",
    "hpack/5.2/3",
    "hpack/6.1/1",
    "hpack/6.3/1",
}
#: What hypercorn skips: a body over content-length is a connection error in h2
#: (so there is no stream reset to send late DATA after), and the echo app reads
#: the body before it answers (no early response to check).
HYPERCORN_SKIPS = {"h2/5.1/1", "h2/8.1/2"}


def _failed(results: list[CaseResult]) -> set[str]:
    return {r.case.id for r in results if r.is_failure}


async def _run(port: int, *, strict: bool = False) -> list[CaseResult]:
    cases = select_cases(all_cases("h2"), "h2", strict=strict)
    return await run_cases(
        cases, Target("127.0.0.1", port), reply_timeout=REPLY_TIMEOUT, concurrency=JOBS
    )


async def test_suite_against_hypercorn(hypercorn_port: int) -> None:
    """hypercorn fails exactly the recorded cases, and each failure names expected vs actual."""
    results = await _run(hypercorn_port)
    assert _failed(results) == HYPERCORN_FAILURES
    for result in results:
        if result.is_failure:
            assert result.expected and result.actual
    assert {r.case.id for r in results if r.status == "skipped"} == HYPERCORN_SKIPS


def _u32(payload: bytes) -> int:
    return int(struct.unpack(">I", payload[:4])[0]) if len(payload) >= 4 else -1


def _settings_has(payload: bytes, key: int, value: int) -> bool:
    entries = [payload[i : i + 6] for i in range(0, len(payload) - len(payload) % 6, 6)]
    return any(struct.unpack(">HI", e) == (key, value) for e in entries)


def _drops_ping_on_stream(f: FrameInfo) -> bool:
    return f[0] == 0x6 and f[2] != 0


def _drops_even_headers(f: FrameInfo) -> bool:
    return f[0] == 0x1 and f[2] != 0 and f[2] % 2 == 0


def _drops_odd_settings(f: FrameInfo) -> bool:
    return f[0] == 0x4 and len(f[3]) % 6 != 0


def _drops_goaway_on_stream(f: FrameInfo) -> bool:
    return f[0] == 0x7 and f[2] != 0


def _drops_zero_connection_update(f: FrameInfo) -> bool:
    return f[0] == 0x8 and f[2] == 0 and _u32(f[3]) == 0


def _drops_enable_push_2(f: FrameInfo) -> bool:
    return f[0] == 0x4 and _settings_has(f[3], 0x2, 2)


def _rule(name: str, breaks: str, frame_type: int, drops: Callable[[FrameInfo], bool]) -> Rule:
    return Rule(name, "h2", frozenset(breaks.split()), frozenset({frame_type}), drops)


BROKEN = [
    _rule("ignores PING on a stream", "http2/6.7/3 http2/5.4.1/1", 0x6, _drops_ping_on_stream),
    _rule("accepts even stream ids", "http2/5.1.1/1", 0x1, _drops_even_headers),
    _rule("ignores SETTINGS of bad length", "http2/6.5/3", 0x4, _drops_odd_settings),
    _rule("ignores GOAWAY on a stream", "http2/6.8/1", 0x7, _drops_goaway_on_stream),
    _rule("ignores zero WINDOW_UPDATE", "http2/6.9/1", 0x8, _drops_zero_connection_update),
    _rule("ignores ENABLE_PUSH=2", "http2/6.5.2/1", 0x4, _drops_enable_push_2),
]


@pytest.mark.parametrize("rule", BROKEN, ids=[r.name for r in BROKEN])
async def test_suite_catches_broken_server(hypercorn_port: int, rule: Rule) -> None:
    """A server that breaks one rule fails exactly the case for that rule (beyond hypercorn's)."""
    assert not rule.breaks & HYPERCORN_FAILURES
    async with trio.open_nursery() as nursery:
        port = await nursery.start(serve_breaker, rule, ("127.0.0.1", hypercorn_port))
        results = await _run(port)
        nursery.cancel_scope.cancel()
    assert _failed(results) - HYPERCORN_FAILURES == rule.breaks
