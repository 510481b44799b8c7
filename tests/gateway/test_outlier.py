"""Outlier detection as a pure state machine: thresholds, growing ejections, the cap."""

from __future__ import annotations

from mux.gateway.model import OutlierDetection
from mux.gateway.outlier import OutlierState, is_failure, may_eject

CONFIG = OutlierDetection(
    consecutive_failures=3, base_ejection_time=10.0, max_ejection_time=25.0, max_ejection_percent=50
)


def fail(state: OutlierState, now: float, times: int, *, allowed: bool = True) -> list[bool]:
    return [state.record(False, now, CONFIG, may_eject=allowed) for _ in range(times)]


def test_consecutive_failures_eject_and_success_resets() -> None:
    state = OutlierState()
    assert fail(state, 0.0, 2) == [False, False]
    assert state.record(True, 0.0, CONFIG, may_eject=True) is False  # streak broken
    assert fail(state, 0.0, 3) == [False, False, True]
    assert state.is_ejected(0.0) and state.is_ejected(9.9)
    assert not state.is_ejected(10.0)  # back after base_ejection_time


def test_ejection_time_grows_and_is_capped() -> None:
    state = OutlierState()
    fail(state, 0.0, 3)
    assert state.ejected_until == 10.0
    fail(state, 10.0, 3)
    assert state.ejected_until == 10.0 + 20.0  # second ejection: 2 x base
    fail(state, 30.0, 3)
    assert state.ejected_until == 30.0 + 25.0  # third: 30, capped at 25


def test_multiplier_decays_after_a_quiet_period() -> None:
    state = OutlierState()
    fail(state, 0.0, 3)
    fail(state, 10.0, 3)
    assert state.ejections == 2
    state.record(True, 30.0 + 2 * CONFIG.max_ejection_time, CONFIG, may_eject=True)
    assert state.ejections == 0
    fail(state, 100.0, 3)
    assert state.ejected_until == 110.0


def test_not_ejected_when_the_cluster_may_not_eject_more() -> None:
    state = OutlierState()
    assert fail(state, 0.0, 5, allowed=False) == [False] * 5
    assert not state.is_ejected(0.0)
    assert state.record(False, 1.0, CONFIG, may_eject=True) is True  # as soon as allowed


def test_max_ejection_percent() -> None:
    assert may_eject(0, 2, CONFIG) and not may_eject(1, 2, CONFIG)
    assert may_eject(1, 4, CONFIG) and not may_eject(2, 4, CONFIG)
    assert not may_eject(0, 1, CONFIG)  # never the only endpoint below 100 %
    assert may_eject(0, 3, OutlierDetection(max_ejection_percent=10))  # one of several
    assert not may_eject(0, 3, OutlierDetection(max_ejection_percent=0))
    assert may_eject(0, 1, OutlierDetection(max_ejection_percent=100))


def test_what_counts_as_failure() -> None:
    assert is_failure(503, False) and is_failure(0, True) and is_failure(200, True)
    assert not is_failure(200, False) and not is_failure(404, False)
