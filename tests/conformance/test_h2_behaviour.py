"""The behaviour cases fail against a server broken in their one way, and pass otherwise.

The cases are ``h2/5.1/1`` (DATA after our RST_STREAM ignored and credited),
``h2/8.1/1`` (no content in the response to HEAD), ``h2/8.1/2``-``3`` (early
responses) and h2spec's ``http2/4.2/3`` (a 17 KB HEADERS is too large for the
default SETTINGS_MAX_FRAME_SIZE). The server is the scripted one of
:mod:`tests.conformance.fake_h2`, so the verdicts do not depend on what
``mux serve`` does today.
"""

from __future__ import annotations

import pytest
import trio

from mux.conformance.groups import all_cases
from mux.conformance.runner import run_cases
from mux.conformance.wire import Target
from tests.conformance.fake_h2 import VARIANTS, Variant, serve_fake_h2

BEHAVIOUR_CASES = ("http2/4.2/3", "h2/5.1/1", "h2/8.1/1", "h2/8.1/2", "h2/8.1/3")
REPLY_TIMEOUT = 2.0


@pytest.mark.parametrize("variant", list(VARIANTS))
async def test_behaviour_cases_against_fake_server(variant: Variant) -> None:
    """``good`` passes every behaviour case; each broken variant fails exactly its own."""
    cases = [c for c in all_cases("h2") if c.id in BEHAVIOUR_CASES]
    assert len(cases) == len(BEHAVIOUR_CASES)
    async with trio.open_nursery() as nursery:
        port = await nursery.start(serve_fake_h2, variant)
        target = Target("127.0.0.1", port, path="/", hold_path="/")
        results = await run_cases(
            cases, target, reply_timeout=REPLY_TIMEOUT, strict=True, concurrency=len(cases)
        )
        nursery.cancel_scope.cancel()
    outcome = {r.case.id: f"{r.status}: {r.expected} / {r.actual}" for r in results}
    failed = {r.case.id for r in results if r.is_failure}
    assert failed == VARIANTS[variant], outcome
    assert all(r.status in ("passed", "failed") for r in results), outcome
