"""Shared by the client-mode tests: serve scenarios and drive them with workloads."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

from mux.conformance.case import CaseResult
from mux.conformance.clientmode import Scenario, serve

#: A client that connects to ``host:port`` and plays one scenario's part.
Workload = Callable[[str], Awaitable[None]]


async def run_scenarios(
    scenarios: list[Scenario],
    workloads: dict[str, Workload],
    *,
    reply: float,
    wait: float,
    limit: float,
) -> list[CaseResult]:
    """Serve ``scenarios`` on a free port and drive each with its workload, concurrently.

    Args:
        scenarios: what the tester serves.
        workloads: the client of each scenario, by scenario name.
        reply: the tester's reply timeout, in seconds.
        wait: the tester's wait for each client, in seconds.
        limit: the bound on the whole run, in seconds.
    """
    results: list[CaseResult] = []
    async with trio.open_nursery() as nursery:

        async def tester(task_status: trio.TaskStatus[int]) -> None:
            found = await serve(
                scenarios, reply_timeout=reply, wait_timeout=wait, task_status=task_status
            )
            results.extend(found)

        port = await nursery.start(tester)
        with trio.fail_after(limit):
            async with trio.open_nursery() as clients:
                for s in scenarios:
                    clients.start_soon(workloads[s.name], f"127.0.0.1:{port}")
    return results
