"""Circuit breakers and the retry budget of a cluster (pure counters).

Theory of operation
-------------------
A cluster never queues without bound. :class:`Breakers` counts, per cluster,
the requests in flight (``active``), those waiting for a connection or a
stream slot (``pending``) and the retries in flight (``retrying``), and
answers before each step whether it may proceed:

* a new request beyond ``max_requests`` active, or one that would wait beyond
  ``max_pending_requests`` pending, fails at once with
  ``GatewayError(OVERLOADED)`` (Envoy's circuit breakers, fail fast instead of
  adding latency to everybody);
* a request that would open a new upstream connection while the cluster
  already holds ``max_connections`` fails the same way (the cluster asks,
  since only it sees the pools);
* a retry is allowed only within the **retry budget**: retries in flight stay
  below ``max(budget_min_concurrency, budget_ratio * active)``. When an
  upstream fails everything, the retries it causes are a fixed fraction of the
  load, so they cannot multiply it (no retry storm).

Each refusal is counted in ``tripped`` for the admin snapshot. The counters
move in pairs (``enter``/``leave``) that the cluster calls from ``finally``
blocks, so a cancelled request always gives back what it took.
"""

from __future__ import annotations

import attrs

from mux.gateway.errors import FailureKind, GatewayError
from mux.gateway.model import CircuitBreakers, RetryPolicy


@attrs.define
class Breakers:
    """The live counters of one cluster, checked against its limits."""

    limits: CircuitBreakers
    retry: RetryPolicy
    cluster: str = ""
    active: int = 0
    pending: int = 0
    retrying: int = 0
    tripped: dict[str, int] = attrs.field(
        factory=lambda: {"requests": 0, "pending": 0, "connections": 0, "retry_budget": 0}
    )

    def enter_request(self) -> None:
        """Admit one request, or raise OVERLOADED."""
        if self.active >= self.limits.max_requests:
            self._trip("requests", f"{self.active} requests in flight (max_requests)")
        self.active += 1

    def leave_request(self) -> None:
        self.active -= 1

    def enter_pending(self) -> None:
        """A request starts waiting for a connection/stream slot, or OVERLOADED."""
        if self.pending >= self.limits.max_pending_requests:
            self._trip("pending", f"{self.pending} requests waiting (max_pending_requests)")
        self.pending += 1

    def leave_pending(self) -> None:
        self.pending -= 1

    def check_connections(self, connections: int) -> None:
        """A new connection is needed while ``connections`` are open: OVERLOADED at the limit."""
        if connections >= self.limits.max_connections:
            self._trip("connections", f"{connections} upstream connections (max_connections)")

    def retry_allowed(self) -> bool:
        """True when one more retry fits in the budget (counted as refused otherwise)."""
        budget = max(self.retry.budget_min_concurrency, int(self.retry.budget_ratio * self.active))
        if self.retrying < budget:
            return True
        self.tripped["retry_budget"] += 1
        return False

    def _trip(self, which: str, why: str) -> None:
        self.tripped[which] += 1
        raise GatewayError(
            FailureKind.OVERLOADED,
            f"cluster {self.cluster!r} circuit breaker open: {why}",
            processed=False,
        )

    def snapshot(self) -> dict[str, object]:
        return {
            "active": self.active,
            "pending": self.pending,
            "retrying": self.retrying,
            "tripped": dict(self.tripped),
        }


__all__ = ["Breakers"]
