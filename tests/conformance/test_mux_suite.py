"""The mux suite (hand-written cases and spec vectors) against ``mux serve``."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import trio

from mux.conformance.case import CaseResult
from mux.conformance.groups import all_cases
from mux.conformance.runner import run_cases, select_cases
from mux.conformance.wire import Target
from tests.conformance.breaker import FrameInfo, Rule, serve_breaker

#: Generous, so a busy 2-core machine does not turn a slow answer into a failure;
#: only "must not happen" checks use a short fixed window (verify.QUIET_PERIOD).
REPLY_TIMEOUT = 2.0
#: Cases run at once, so the timeouts a broken server makes us wait out overlap.
JOBS = 4

#: Cases `mux serve` fails today (reported to the lead); none at the moment.
KNOWN_SERVER_BUGS: set[str] = set()

#: Vectors whose input is an HTTP/2 or HTTP/1.1 preface: they assume a mux-only
#: endpoint, so on the sniffing plain-TCP port they are skipped (they run over
#: TLS with ALPN mux/1 in test_tls_suite.py, and with --mux-only).
FOREIGN_PREFACE_VECTORS = [
    "vector/preface/server-bad-magic-h2",
    "vector/preface/server-bad-magic-http1",
]
#: `mux serve` advertises MAX_FRAME_SIZE 1 MiB: the vectors that assume the
#: spec's 64 KiB are skipped with that reason (they run in test_tls_suite.py,
#: whose server keeps 64 KiB frames).
ASSUMING_VECTORS = [
    "vector/frame_size/frame-too-large-header-only",
    "vector/frame_size/frame-too-large-unknown-type",
]
SKIPPED = [*ASSUMING_VECTORS, *FOREIGN_PREFACE_VECTORS]


def _target(port: int) -> Target:
    return Target("127.0.0.1", port, path="/bytes/4096", hold_path="/delay/3000")


async def _run(port: int, *, strict: bool = True) -> list[CaseResult]:
    cases = select_cases(all_cases("mux"), "mux", strict=strict)
    return await run_cases(
        cases, _target(port), reply_timeout=REPLY_TIMEOUT, strict=strict, concurrency=JOBS
    )


def _failed(results: list[CaseResult]) -> set[str]:
    return {r.case.id for r in results if r.is_failure}


async def test_suite_against_mux_server(mux_port: int) -> None:
    """Every mux case, strict ones included, passes against our server (known bugs aside)."""
    results = await _run(mux_port)
    assert len(results) > 100
    assert _failed(results) == KNOWN_SERVER_BUGS
    skipped = [r for r in results if r.status == "skipped"]
    assert [r.case.id for r in skipped] == SKIPPED
    assert all("assumes MAX_FRAME_SIZE 65536" in r.actual for r in skipped[:2])
    assert all("--mux-only" in r.actual for r in skipped[2:])


async def test_h2_suite_against_mux_server(mux_port: int) -> None:
    """Every HTTP/2 case, strict ones included, passes against our server on the shared port."""
    cases = select_cases(all_cases("h2"), "h2", strict=True)
    results = await run_cases(
        cases, _target(mux_port), reply_timeout=REPLY_TIMEOUT, strict=True, concurrency=JOBS
    )
    failed = {r.case.id: f"{r.expected} / {r.actual}" for r in results if r.is_failure}
    assert not failed, failed
    assert not [r.case.id for r in results if r.status == "skipped"]


def _rule(name: str, breaks: set[str], frame_type: int, drops: Callable[[FrameInfo], bool]) -> Rule:
    return Rule(name, "mux", frozenset(breaks), frozenset({frame_type}), drops)


BROKEN = [
    _rule(
        "accepts a 7-byte PING on a stream",
        {"mux/3.3/1"},
        0x4,
        lambda f: f[2] != 0 and len(f[3]) == 7,
    ),
    _rule(
        "ignores PING with undefined flags",
        {"mux/4.5/1", "vector/unknown/unknown-flags-ping"},
        0x4,
        lambda f: f[1] == 0xFE,
    ),
    Rule(
        "accepts even stream ids",
        "mux",
        frozenset({"vector/headers/headers-even-stream"}),
        frozenset({0x1}),
        lambda f: f[2] != 0 and f[2] % 2 == 0,
        needs_payload=False,
    ),
]


@pytest.mark.parametrize("rule", BROKEN, ids=[r.name for r in BROKEN])
async def test_suite_catches_broken_mux_server(mux_port: int, rule: Rule) -> None:
    """A mux server that breaks one rule fails exactly the matching cases."""
    async with trio.open_nursery() as nursery:
        port = await nursery.start(serve_breaker, rule, ("127.0.0.1", mux_port))
        results = await _run(port)
        nursery.cancel_scope.cancel()
    assert _failed(results) - KNOWN_SERVER_BUGS == rule.breaks
