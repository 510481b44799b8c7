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

:func:`check_target` is the one look at the target before any case runs:
connect and do the protocol's handshake once. An address nothing listens
on, or a port that answers in another protocol (HTTP/1.1, TLS on a plain
connection, HTTP/2 where mux was asked for), is then one line of
:class:`TargetUnusable` instead of a hundred failed cases.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Iterable, Sequence

import trio

from mux.conformance.case import CaseFailed, CaseResult, CaseSkipped, Protocol, TestCase
from mux.conformance.context import CaseContext
from mux.conformance.wire import Target

#: The first octets of a mux/msgpack preface (spec/mux-protocol.md §2).
MUX_PREFACE = b"\x89MUX\r\n\x1a"

#: A case may spend this many ``timeout`` periods in total before it is stopped.
_CASE_BUDGET = 4
_PROTOCOL_NAMES = {"h2": "HTTP/2", "mux": "mux/msgpack"}


class TargetUnusable(Exception):
    """The target cannot be tested at all; the message is one line saying why."""


def _connect_reason(exc: BaseException) -> str:
    """The first OS-level reason in ``exc`` and its causes ("connection refused" ...)."""
    seen: list[BaseException] = [exc]
    while seen:
        current = seen.pop(0)
        if isinstance(current, ConnectionRefusedError):
            return "connection refused"
        if isinstance(current, ssl.SSLError):
            return f"TLS handshake failed ({current.reason or current})"
        if isinstance(current, OSError) and current.strerror:
            return current.strerror[:1].lower() + current.strerror[1:]
        seen.extend(getattr(current, "exceptions", ()))
        if current.__cause__ is not None:
            seen.append(current.__cause__)
    return str(exc) or type(exc).__name__


def _speaks(first: bytes) -> str:
    """What the first bytes a server sent look like, for the error line."""
    if not first:
        return ""
    if first[:1] in (b"\x15", b"\x16"):
        return f"; it answered with TLS records ({first[:8]!r}): try --tls"
    if len(first) >= 9 and first[3] == 0x4 and first[5:9] == bytes(4):
        return "; it answered with an HTTP/2 SETTINGS frame: try --protocol h2"
    if first.startswith(MUX_PREFACE[:4]):
        return "; it answered with a mux preface: try --protocol mux"
    if first.startswith(b"HTTP/"):
        line = first.split(b"\r\n", 1)[0].decode("ascii", "replace")
        return f"; it answered in HTTP/1.x: {line!r}"
    return f"; it answered {first[:24]!r}"


async def check_target(target: Target, protocol: Protocol, *, reply_timeout: float) -> None:
    """Connect to ``target`` once and do the ``protocol`` handshake.

    Raises:
        TargetUnusable: nothing listens there, TLS failed, or the answer is not
            ``protocol`` (the message names the address and the reason).
    """
    address = f"{target.host}:{target.port}"
    name = _PROTOCOL_NAMES.get(protocol, protocol)
    context = CaseContext(target, reply_timeout)
    try:
        with trio.fail_after(reply_timeout * 2 + 1):
            if protocol == "h2":
                await context.h2()
            else:
                await context.mux()
    except CaseFailed as exc:
        first = context.peers[-1].first_bytes if context.peers else b""
        raise TargetUnusable(
            f"{address} does not speak {name}: expected {exc.expected}, got {exc.actual}"
            f"{_speaks(first)}"
        ) from None
    except trio.TooSlowError:
        raise TargetUnusable(f"{address} did not finish the {name} handshake in time") from None
    except (OSError, trio.BrokenResourceError) as exc:
        raise TargetUnusable(f"cannot reach {address}: {_connect_reason(exc)}") from None
    finally:
        with trio.CancelScope(shield=True):
            await context.aclose()


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
