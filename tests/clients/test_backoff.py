"""Tests for the reconnection backoff (pure)."""

from __future__ import annotations

import random

import pytest

from mux_client.backoff import Backoff, BackoffPolicy


class _Fixed:
    def __init__(self, value: float) -> None:
        self.value = value

    def uniform(self, a: float, b: float) -> float:
        assert a <= self.value <= b
        return self.value


def test_BackoffPolicy_grpc_defaults() -> None:
    """The defaults are gRPC's: 1 s initial, x1.6, 120 s cap, 20 % jitter."""
    policy = BackoffPolicy()
    assert (policy.initial, policy.multiplier, policy.maximum, policy.jitter) == (
        1.0,
        1.6,
        120.0,
        0.2,
    )
    assert policy.base_delay(0) == 0.0
    assert policy.base_delay(1) == 1.0
    assert policy.base_delay(2) == pytest.approx(1.6)
    assert policy.base_delay(3) == pytest.approx(2.56)
    assert policy.base_delay(50) == 120.0
    assert policy.base_delay(10**9) == 120.0


def test_BackoffPolicy_jitter_bounds() -> None:
    """Jittered delays stay within ±jitter of the base delay."""
    policy = BackoffPolicy(initial=0.5, multiplier=2.0, maximum=10.0, jitter=0.2)
    rng = random.Random(7)
    for failures in range(1, 20):
        base = policy.base_delay(failures)
        for _ in range(20):
            assert base * 0.8 <= policy.delay(failures, rng) <= base * 1.2
    assert policy.delay(3, _Fixed(-0.2)) == pytest.approx(2.0 * 0.8)
    assert BackoffPolicy(jitter=0.0).delay(2, _Fixed(0.0)) == pytest.approx(1.6)


@pytest.mark.parametrize(
    "kwargs",
    [{"initial": 0.0}, {"maximum": -1.0}, {"multiplier": 0.5}, {"jitter": 1.0}, {"jitter": -0.1}],
)
def test_BackoffPolicy_rejects_bad_values(kwargs: dict[str, float]) -> None:
    """Nonsense settings are refused with a message naming the field."""
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        BackoffPolicy(**kwargs)


def test_Backoff_grows_and_resets() -> None:
    """Consecutive failures grow the wait; a success resets it."""
    backoff = Backoff(BackoffPolicy(initial=1.0, multiplier=2.0, jitter=0.0))
    assert backoff.remaining(100.0) == 0.0
    assert backoff.record_failure(100.0) == 1.0
    assert backoff.remaining(100.5) == pytest.approx(0.5)
    assert backoff.record_failure(101.0) == 2.0
    assert backoff.record_failure(103.0) == 4.0
    assert backoff.remaining(110.0) == 0.0
    backoff.record_success()
    assert backoff.remaining(0.0) == 0.0
    assert backoff.record_failure(200.0) == 1.0
