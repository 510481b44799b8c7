"""Gateway metrics read from the clusters' own state at scrape time.

Theory of operation
-------------------
The clusters already count what an operator asks about (each endpoint's
requests, failures, connections, ejections, health; each cluster's breaker
trips and live counters; each pool's connection attempts), so
:class:`UpstreamCollector` adds no work per request: on every scrape it walks
``clusters()`` (the running configuration's clusters, so a reload shows the
new ones) and reports them as Prometheus families. Retries are counted per
request by :mod:`mux.ops.metrics` (``mux_upstream_retries_total``), from the
attempts the forwarder records on the stream.

``mux_upstream_reused_requests_total`` is requests minus connection attempts
of an endpoint (floored at 0): the requests that did not open a connection.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

import trio
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from mux.gateway.cluster import Cluster


class UpstreamCollector(Collector):
    """The ``mux_upstream_*`` families of the clusters ``clusters()`` returns."""

    def __init__(self, clusters: Callable[[], Mapping[str, Cluster]]) -> None:
        self._clusters = clusters

    def collect(self) -> Iterator[Metric]:
        ep_labels = ["cluster", "endpoint"]
        connections = GaugeMetricFamily(
            "mux_upstream_connections", "Pooled upstream connections", labels=ep_labels
        )
        active = GaugeMetricFamily(
            "mux_upstream_active_requests", "Requests in flight", labels=ep_labels
        )
        healthy = GaugeMetricFamily(
            "mux_upstream_healthy", "1: passes health checks and is not ejected", labels=ep_labels
        )
        requests = CounterMetricFamily(
            "mux_upstream_requests", "Requests sent (attempts included)", labels=ep_labels
        )
        failures = CounterMetricFamily("mux_upstream_failures", "Failed attempts", labels=ep_labels)
        connects = CounterMetricFamily(
            "mux_upstream_connects", "Connection attempts", labels=ep_labels
        )
        reused = CounterMetricFamily(
            "mux_upstream_reused_requests", "Requests that opened no connection", labels=ep_labels
        )
        ejections = CounterMetricFamily(
            "mux_upstream_ejections", "Outlier ejections", labels=ep_labels
        )
        trips = CounterMetricFamily(
            "mux_upstream_breaker_trips", "Circuit breaker trips, by breaker",
            labels=["cluster", "breaker"],
        )  # fmt: skip
        pending = GaugeMetricFamily(
            "mux_upstream_pending_requests", "Requests waiting for a connection or stream slot",
            labels=["cluster"],
        )  # fmt: skip
        now = trio.current_time()
        for name, cluster in self._clusters().items():
            for ep in cluster.endpoints:
                labels = [name, ep.key]
                opened = max(0, getattr(ep.channel._book, "_next_key", 1) - 1)
                connections.add_metric(labels, len(ep.channel.connections))
                active.add_metric(labels, ep.active)
                usable = ep.healthy and not ep.outlier.is_ejected(now)
                healthy.add_metric(labels, 1.0 if usable else 0.0)
                requests.add_metric(labels, ep.requests)
                failures.add_metric(labels, ep.failures)
                connects.add_metric(labels, opened)
                reused.add_metric(labels, max(0, ep.requests - opened))
                ejections.add_metric(labels, ep.outlier.ejections)
            for breaker, n in cluster.breakers.tripped.items():
                trips.add_metric([name, breaker], n)
            pending.add_metric([name], cluster.breakers.pending)
        yield from (
            connections, active, healthy, requests, failures, connects, reused, ejections,
            trips, pending,
        )  # fmt: skip


__all__ = ["UpstreamCollector"]
