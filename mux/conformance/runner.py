"""Run a selection of cases against one target, one fresh connection each.

Theory of operation
-------------------
:func:`select_cases` filters the registry by protocol, ``--strict`` and
``--section``. :func:`run_cases` runs them one after another; each case gets
its own :class:`~.context.CaseContext` and an overall deadline, so a server
that hangs costs at most a few ``timeout`` per case. Whatever happens, every
connection the case opened is closed before the next case starts. A case
that raises anything other than :class:`~.case.CaseFailed` or
:class:`~.case.CaseSkipped` is reported as ``error`` (it counts as failed),
with the exception as *actual*.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence

import trio

from mux.conformance.case import CaseFailed, CaseResult, CaseSkipped, Protocol, TestCase
from mux.conformance.context import CaseContext
from mux.conformance.wire import Target

#: A case may spend this many ``timeout`` periods in total before it is stopped.
_CASE_BUDGET = 4


def select_cases(
    cases: Iterable[TestCase],
    protocol: Protocol,
    *,
    strict: bool = False,
    sections: Sequence[str] = (),
) -> list[TestCase]:
    """The cases to run: one protocol, MUST-level (plus SHOULD with ``strict``), by section."""
    chosen = [c for c in cases if c.protocol == protocol and (strict or not c.strict)]
    if sections:
        chosen = [c for c in chosen if any(c.in_section(s) for s in sections)]
    return chosen


async def run_case(
    case: TestCase, target: Target, *, reply_timeout: float, strict: bool
) -> CaseResult:
    """Run one case and classify the outcome."""
    timeout = reply_timeout
    context = CaseContext(target, timeout, strict)
    start = time.monotonic()
    status: str = "passed"
    expected = actual = ""
    try:
        with trio.fail_after(timeout * _CASE_BUDGET + 1):
            await case.run(context)
    except CaseFailed as exc:
        status, expected, actual = "failed", exc.expected, exc.actual
    except CaseSkipped as exc:
        status, actual = "skipped", str(exc)
    except trio.TooSlowError:
        status, expected = "failed", "the case to finish"
        actual = f"still waiting after {timeout * _CASE_BUDGET + 1:g} s"
    except OSError as exc:
        status, expected, actual = "error", "a connection to the target", f"{exc}"
    except Exception as exc:
        status, expected = "error", "the case to run"
        actual = f"{type(exc).__name__}: {exc}"
    finally:
        with trio.CancelScope(shield=True):
            await context.aclose()
    duration = time.monotonic() - start
    return CaseResult(case, status, expected, actual, duration)  # type: ignore[arg-type]


async def run_cases(
    cases: Sequence[TestCase],
    target: Target,
    *,
    reply_timeout: float = 2.0,
    strict: bool = False,
    on_result: Callable[[CaseResult], None] | None = None,
    concurrency: int = 1,
) -> list[CaseResult]:
    """Run ``cases`` and return one result per case, in the order given.

    With ``concurrency`` above 1, up to that many cases run at once (each on
    its own connections), so cases that must wait out a timeout overlap;
    ``on_result`` is then called in completion order.
    """
    results: list[CaseResult | None] = [None] * len(cases)
    limiter = trio.CapacityLimiter(max(1, concurrency))

    async def one(index: int, case: TestCase) -> None:
        async with limiter:
            result = await run_case(case, target, reply_timeout=reply_timeout, strict=strict)
        results[index] = result
        if on_result is not None:
            on_result(result)

    if concurrency <= 1:
        for index, case in enumerate(cases):
            await one(index, case)
    else:
        async with trio.open_nursery() as nursery:
            for index, case in enumerate(cases):
                nursery.start_soon(one, index, case)
    return [r for r in results if r is not None]
