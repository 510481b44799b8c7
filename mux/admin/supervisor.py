"""Metrics and the admin listener with ``--workers N`` (a supervisor and N workers).

Theory of operation
-------------------
Every worker is a process of its own with its own counters. To give one
``/metrics`` with every worker's figures, mux uses prometheus-client's
multi-process mode: :func:`supervised_admin` (run by the supervisor before it
starts any worker) creates a private directory and exports it as
``PROMETHEUS_MULTIPROC_DIR``; the workers inherit it, so their
prometheus-client values live in files there, and each worker adds its
pending counts to them every :data:`mux.ops.metrics.FLUSH_INTERVAL` seconds
and once more when it stops (:func:`mux.ops.metrics.flush_periodically`).
A scrape sums the files of every worker (``MultiProcessCollector``): counters
and histograms over every worker that ever ran, gauges (``livesum``) over
the live ones: the supervisor removes an exited worker's gauge files
(``mark_process_dead``, the ``on_exit`` hook of :func:`mux.workers.run_supervisor`).

``mux serve --workers N --admin ADDRESS``: the supervisor serves the admin
API itself (the workers serve none): ``/healthz``, ``/readyz``, ``/metrics``
(the sum) and ``/stats`` (the summed request and connection counters).
``mux gateway --workers N``: each worker serves its admin API on the shared
address (SO_REUSEPORT); its ``/metrics`` has the same sum, plus the
``mux_upstream_*`` families of the worker that answered (its own clusters).
The directory is removed when the supervisor exits.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import trio
from prometheus_client.parser import text_string_to_metric_families

from mux.admin.app import AdminSources, start_admin

Task = Callable[[], Awaitable[None]]


def _mark_dead(pid: int) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def _summed_stats() -> dict[str, Any]:
    from mux.ops.metrics import render_multiprocess

    body, _ = render_multiprocess()
    totals: dict[str, float] = {}
    wanted = {
        "mux_requests_total": "requests",
        "mux_connections_open": "connections",
        "mux_connections_accepted_total": "connections_accepted",
        "mux_streams_open": "streams",
    }
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            key = wanted.get(sample.name)
            if key is not None:
                totals[key] = totals.get(key, 0) + sample.value
    return {key: int(totals.get(key, 0)) for key in wanted.values()}


@contextmanager
def supervised_admin(
    address: tuple[str, int] | None, prog: str
) -> Iterator[tuple[list[Task], Callable[[int], None]]]:
    """Set up multi-process metrics; yield the supervisor's tasks (its admin
    listener when ``address`` is given) and its worker-exit hook."""
    directory = tempfile.mkdtemp(prefix="mux-metrics-")
    previous = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    tasks: list[Task] = []
    if address is not None:

        async def serve_admin() -> None:
            from mux.ops.metrics import render_multiprocess

            sources = AdminSources(
                kind="supervisor",
                servers=list,
                stats=_summed_stats,
                ready=list,
                metrics=render_multiprocess,
            )
            async with trio.open_nursery() as nursery:
                server = await start_admin(nursery, sources, address)
                print(f"{prog}: admin on {address[0]}:{server.port}", flush=True)

        tasks.append(serve_admin)
    try:
        yield tasks, _mark_dead
    finally:
        if previous is None:
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        else:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = previous
        shutil.rmtree(directory, ignore_errors=True)
        sys.stdout.flush()


__all__ = ["supervised_admin"]
