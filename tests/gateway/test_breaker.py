"""Circuit breakers and the retry budget as counters (the cluster tests trip them for real)."""

from __future__ import annotations

import pytest

from mux.gateway.breaker import Breakers
from mux.gateway.errors import FailureKind, GatewayError
from mux.gateway.model import CircuitBreakers, RetryPolicy


def test_requests_and_pending_limits_fail_fast_and_recover() -> None:
    b = Breakers(CircuitBreakers(max_requests=2, max_pending_requests=1), RetryPolicy(), "c")
    b.enter_request()
    b.enter_request()
    with pytest.raises(GatewayError) as info:
        b.enter_request()
    assert info.value.kind is FailureKind.OVERLOADED and not info.value.processed
    assert "max_requests" in str(info.value) and "'c'" in str(info.value)
    b.leave_request()
    b.enter_request()  # recovered
    b.enter_pending()
    with pytest.raises(GatewayError, match="max_pending_requests"):
        b.enter_pending()
    b.leave_pending()
    b.enter_pending()
    with pytest.raises(GatewayError, match="max_connections"):
        Breakers(CircuitBreakers(max_connections=3), RetryPolicy()).check_connections(3)
    assert b.snapshot()["tripped"] == {
        "requests": 1,
        "pending": 1,
        "connections": 0,
        "retry_budget": 0,
    }


def test_retry_budget_is_a_fraction_of_active_requests() -> None:
    b = Breakers(CircuitBreakers(), RetryPolicy(budget_ratio=0.2, budget_min_concurrency=2))
    b.active = 5
    assert b.retry_allowed()
    b.retrying = 2
    assert not b.retry_allowed()  # max(2, 0.2 * 5 = 1) = 2 in flight already
    b.active = 100
    assert b.retry_allowed()  # 20 allowed now
    b.retrying = 20
    assert not b.retry_allowed()
    assert b.tripped["retry_budget"] == 2
