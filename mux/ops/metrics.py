"""Prometheus metrics of ``mux serve`` and ``mux gateway`` (and the access log hook).

Theory of operation
-------------------
:class:`Ops` is the :class:`~mux.ops.observer.Observer` a server calls once per
connection and once per request. Per request it does a few dict increments
on plain Python counters (requests by protocol, method class, status class
and route; body bytes; one latency bucket found by bisection) and, when an
access log is configured, appends one tuple to its queue
(:mod:`mux.ops.accesslog`); nothing is formatted or locked on the event loop.

The ``prometheus-client`` objects (one :class:`CollectorRegistry` per
process) are brought up to date by :meth:`Ops.flush`: the pending deltas are
added to them in one pass and the gauges are set from the servers' state
(open and parked connections, open streams) and the drivers' totals
(:mod:`mux.ops.counters`: flow-control stalls, GOAWAYs; ``mux.logs``: peer
errors by kind, floods and limits included). ``/metrics``
(:meth:`Ops.render_metrics`) flushes, then renders the registry in the
Prometheus text format. Collectors added with ``collectors=`` (the gateway's
clusters: :mod:`mux.ops.upstream`) read their state at scrape time.

With ``--workers`` each worker flushes every :data:`FLUSH_INTERVAL` seconds
into prometheus-client's multi-process files (``PROMETHEUS_MULTIPROC_DIR``,
set by the supervisor), whose ``/metrics`` sums them
(:func:`render_multiprocess`).

Names: ``mux_`` prefix; counters end in ``_total``, times are ``_seconds``,
sizes ``_bytes``. The close reason of a connection (:func:`close_reason`) and
the method and status classes keep label sets small and bounded.
"""

from __future__ import annotations

import os
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from time import perf_counter
from typing import TYPE_CHECKING, Any

import trio
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.registry import Collector

from mux.errors import StreamError, code_name
from mux.logs import CONNECTION, PEER_ERRORS
from mux.ops.counters import DRIVER_COUNTERS

if TYPE_CHECKING:
    from mux.driver.connection import ConnectionDriver
    from mux.driver.stream import Stream
    from mux.ops.accesslog import AccessLog
    from mux.server.server import Server

#: Request latency buckets (seconds).
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
#: Seconds between two flushes of a worker into the multi-process files.
FLUSH_INTERVAL = 1.0
_METHOD_CLASS = {
    m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT")
}
_STATUS_CLASS = {b"1": "1xx", b"2": "2xx", b"3": "3xx", b"4": "4xx", b"5": "5xx"}
#: Close reasons by the start of the driver's close message.
_CLOSE_REASONS = (
    ("connection shut down gracefully", "graceful"),
    ("peer closed the connection", "peer_closed"),
    ("peer violated the protocol", "protocol_error"),
    ("peer sent GOAWAY", "peer_goaway"),
    ("timeout", "timeout"),
    ("transport failed", "transport_error"),
    ("connection closed by the local side", "local"),
    ("connection driver stopped", "stopped"),
)


def close_reason(driver: ConnectionDriver | None) -> str:
    """A bounded label for why ``driver``'s connection ended (None: no protocol chosen)."""
    if driver is None:
        return "no_protocol"
    error = driver.error
    if error is None:
        return "parked_closed" if driver.is_parked else "other"
    message = str(error.args[0]) if error.args else ""
    for prefix, reason in _CLOSE_REASONS:
        if message.startswith(prefix):
            return reason
    return "other"


class Ops:
    """Counters, histograms and the access log of one process (see the module docstring).

    Args:
        servers: the public servers whose connections and streams are gauged.
        access_log: where finished requests are logged (None: not logged).
        collectors: more collectors registered (read at scrape time).
        registry: the registry (a new one by default).
    """

    def __init__(
        self,
        servers: Callable[[], Iterable[Server]],
        *,
        access_log: AccessLog | None = None,
        collectors: Sequence[Collector] = (),
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.servers = servers
        self.access_log = access_log
        self.registry = registry if registry is not None else CollectorRegistry()
        self._define(self.registry)
        self._collectors = list(collectors)
        for collector in collectors:
            self.registry.register(collector)
        # Pending deltas, flushed into the prometheus-client objects.
        self._accepted: defaultdict[str, int] = defaultdict(int)
        self._closed: defaultdict[tuple[str, str], int] = defaultdict(int)
        self._open: defaultdict[str, int] = defaultdict(int)  # a level, not a delta
        self._started: defaultdict[str, int] = defaultdict(int)
        self._requests: defaultdict[tuple[str, str, str, str], int] = defaultdict(int)
        self._in_bytes: defaultdict[str, int] = defaultdict(int)
        self._out_bytes: defaultdict[str, int] = defaultdict(int)
        self._resets: defaultdict[tuple[str, str], int] = defaultdict(int)
        self._retries: defaultdict[str, int] = defaultdict(int)
        self._latency: dict[tuple[str, str], list[float]] = {}
        self._flushed_drivers: dict[str, float] = {}
        self._flushed_peer: dict[str, int] = {}
        self._flushed_drops = 0
        #: Requests finished since the start (``/stats``).
        self.requests_total = 0

    def _define(self, registry: CollectorRegistry) -> None:
        def counter(name: str, doc: str, labels: Sequence[str] = ()) -> Counter:
            return Counter(name, doc, labels, registry=registry)

        def gauge(name: str, doc: str, labels: Sequence[str] = ()) -> Gauge:
            return Gauge(name, doc, labels, registry=registry, multiprocess_mode="livesum")

        self.m_accepted = counter(
            "mux_connections_accepted_total", "Connections accepted, by protocol", ["protocol"]
        )
        self.m_closed = counter(
            "mux_connections_closed_total",
            "Connections closed, by protocol and reason",
            ["protocol", "reason"],
        )
        self.m_open = gauge("mux_connections_open", "Connections open, by protocol", ["protocol"])
        self.m_parked = gauge("mux_connections_parked", "Idle connections parked (no task)")
        self.m_streams_open = gauge("mux_streams_open", "Streams open")
        self.m_started = counter(
            "mux_streams_started_total", "Request streams started, by protocol", ["protocol"]
        )
        self.m_requests = counter(
            "mux_requests_total",
            "Requests finished, by protocol, method, status class and route (gateway: cluster)",
            ["protocol", "method", "status", "route"],
        )
        self.m_in = counter(
            "mux_request_body_bytes_total", "Request body bytes received", ["protocol"]
        )
        self.m_out = counter(
            "mux_response_body_bytes_total", "Response body bytes sent", ["protocol"]
        )
        self.m_resets = counter(
            "mux_stream_resets_total",
            "Request streams reset, by protocol and code",
            ["protocol", "code"],
        )
        self.m_latency = Histogram(
            "mux_request_duration_seconds",
            "Time from a request's headers to the end of its handler",
            ["protocol", "route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.m_stalls = counter(
            "mux_flow_control_stalls_total", "Waits of a stream for send credit (peer windows)"
        )
        self.m_stall_seconds = counter(
            "mux_flow_control_stall_seconds_total", "Time streams spent waiting for send credit"
        )
        self.m_goaway_sent = counter(
            "mux_goaway_sent_total", "GOAWAY frames sent, by code", ["code"]
        )
        self.m_goaway_received = counter(
            "mux_goaway_received_total", "GOAWAY frames received, by code", ["code"]
        )
        self.m_peer_errors = counter(
            "mux_peer_errors_total",
            "Connections closed for a peer's fault, by kind (floods, limits, protocol errors, "
            "timeouts)",
            ["kind"],
        )
        self.m_retries = counter(
            "mux_upstream_retries_total", "Gateway retries (attempts beyond the first)", ["cluster"]
        )
        self.m_log_dropped = counter(
            "mux_access_log_dropped_total", "Access log lines dropped (queue full)"
        )

    # --------------------------------------------------------------- hooks

    def connection_opened(self, protocol: str) -> None:
        self._accepted[protocol] += 1
        self._open[protocol] += 1

    def connection_closed(self, driver: ConnectionDriver | None) -> None:
        if driver is None:
            self._accepted["none"] += 1
            self._closed["none", "no_protocol"] += 1
            return
        engine = driver.engine
        # counted by the protocol it was accepted with (an h2c upgrade says "h2" now)
        upgraded = getattr(engine, "upgraded_to", None) is not None
        protocol = "http/1.1" if upgraded else engine.protocol
        self._open[protocol] -= 1
        self._closed[protocol, close_reason(driver)] += 1

    def request_started(self, stream: Stream) -> None:
        self._started[stream._driver._engine.protocol] += 1

    def request_done(self, stream: Stream, started: float) -> None:
        """One finished request (its handler returned or failed)."""
        duration = perf_counter() - started
        self.requests_total += 1
        protocol = stream._driver._engine.protocol
        method = b""
        for name, value in stream.headers or ():
            if name == b":method":
                method = value
                break
        status = stream.status
        error = stream.error
        if status:
            status_class = _STATUS_CLASS.get(status[:1], "other")
        else:
            status_class = "none" if error is None else "reset"
        upstream = stream.upstream
        route = "" if upstream is None else upstream[0]
        method_class = _METHOD_CLASS.get(method, "other")
        self._requests[protocol, method_class, status_class, route] += 1
        self._in_bytes[protocol] += stream.received_bytes
        self._out_bytes[protocol] += stream.sent_bytes
        if isinstance(error, StreamError):
            self._resets[protocol, code_name(error.code)] += 1
        if upstream is not None and upstream[2] > 1:
            self._retries[route] += upstream[2] - 1
        buckets = self._latency.get((protocol, route))
        if buckets is None:
            buckets = self._latency[protocol, route] = [0.0] * (len(LATENCY_BUCKETS) + 2)
        buckets[bisect_left(LATENCY_BUCKETS, duration)] += 1
        buckets[-1] += duration
        log = self.access_log
        if log is not None:
            log.add(stream, CONNECTION.get(), protocol, method, error, duration)

    # --------------------------------------------------------------- flush

    def flush(self) -> None:
        """Add the pending deltas to the registry's metrics; set the gauges."""
        for protocol, n in self._accepted.items():
            self.m_accepted.labels(protocol).inc(n)
        for (protocol, reason), n in self._closed.items():
            self.m_closed.labels(protocol, reason).inc(n)
        for protocol, n in self._open.items():
            self.m_open.labels(protocol).set(n)
        for protocol, n in self._started.items():
            self.m_started.labels(protocol).inc(n)
        for key, n in self._requests.items():
            self.m_requests.labels(*key).inc(n)
        for protocol, n in self._in_bytes.items():
            self.m_in.labels(protocol).inc(n)
        for protocol, n in self._out_bytes.items():
            self.m_out.labels(protocol).inc(n)
        for (protocol, code), n in self._resets.items():
            self.m_resets.labels(protocol, code).inc(n)
        for cluster, n in self._retries.items():
            self.m_retries.labels(cluster).inc(n)
        for (protocol, route), buckets in self._latency.items():
            child = self.m_latency.labels(protocol, route)
            for i, count in enumerate(buckets[:-1]):
                if count:
                    child._buckets[i].inc(count)
            child._sum.inc(buckets[-1])
        for pending in (
            self._accepted, self._closed, self._started, self._requests,
            self._in_bytes, self._out_bytes, self._resets, self._retries,
        ):  # fmt: skip
            pending.clear()
        self._latency.clear()
        servers = list(self.servers())
        self.m_parked.set(sum(s.parked_count for s in servers))
        self.m_streams_open.set(sum(s.open_stream_count for s in servers))
        self._flush_totals()

    def _flush_totals(self) -> None:
        """Process-wide totals kept elsewhere: add what grew since the last flush."""
        drivers = DRIVER_COUNTERS
        totals = {
            "stalls": float(drivers.credit_stalls),
            "stall_seconds": drivers.credit_stall_seconds,
            **{f"sent:{code}": float(n) for code, n in drivers.goaway_sent.items()},
            **{f"received:{code}": float(n) for code, n in drivers.goaway_received.items()},
        }
        for key, total in totals.items():
            delta = total - self._flushed_drivers.get(key, 0.0)
            if delta <= 0:
                continue
            self._flushed_drivers[key] = total
            if key == "stalls":
                self.m_stalls.inc(delta)
            elif key == "stall_seconds":
                self.m_stall_seconds.inc(delta)
            else:
                direction, code = key.split(":", 1)
                metric = self.m_goaway_sent if direction == "sent" else self.m_goaway_received
                metric.labels(code).inc(delta)
        for kind, n in list(PEER_ERRORS.totals.items()):
            delta = n - self._flushed_peer.get(kind, 0)
            if delta > 0:
                self._flushed_peer[kind] = n
                self.m_peer_errors.labels(kind).inc(delta)
        if self.access_log is not None:
            dropped = self.access_log.dropped
            if dropped > self._flushed_drops:
                self.m_log_dropped.inc(dropped - self._flushed_drops)
                self._flushed_drops = dropped

    def render_metrics(self) -> tuple[bytes, str]:
        """``/metrics``: flush, then the registry in the Prometheus text format
        (multi-process: every worker's sum, plus this process's collectors)."""
        self.flush()
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            return render_multiprocess(self._collectors)
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def stats(self) -> dict[str, Any]:
        """Totals for ``/stats``."""
        result: dict[str, Any] = {"requests": self.requests_total}
        if self.access_log is not None:
            result["access_log_dropped"] = self.access_log.dropped
        return result


def render_multiprocess(collectors: Sequence[Collector] = ()) -> tuple[bytes, str]:
    """Every process's figures summed from ``PROMETHEUS_MULTIPROC_DIR`` (and ``collectors``)."""
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    for collector in collectors:
        registry.register(collector)
    return generate_latest(registry), CONTENT_TYPE_LATEST


async def flush_periodically(ops: Ops) -> None:
    """A worker of ``--workers``: flush into the multi-process files every
    :data:`FLUSH_INTERVAL` seconds (the supervisor's scrape reads them)."""
    try:
        while True:
            ops.flush()
            await trio.sleep(FLUSH_INTERVAL)
    finally:
        ops.flush()


__all__ = [
    "FLUSH_INTERVAL",
    "LATENCY_BUCKETS",
    "Ops",
    "close_reason",
    "flush_periodically",
    "render_multiprocess",
]
