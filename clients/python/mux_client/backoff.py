"""Reconnection backoff (gRPC connection-backoff algorithm).

Theory of operation
-------------------
After a failed connection attempt the client waits before the next one:
``min(initial * multiplier**n, maximum)`` seconds after the n-th consecutive
failure (n from 0), randomised by ``±jitter`` so that thousands of clients that
lost the same server do not reconnect in lock-step. A success resets the count.

Everything here is pure: the random source is injected, so tests are exact.
Defaults are gRPC's (1 s initial, x1.6, cap 120 s, jitter 0.2).
"""

from __future__ import annotations

import random
from typing import Protocol

import attrs


class UniformSource(Protocol):
    """What the backoff needs from a random source (``random.Random`` fits)."""

    def uniform(self, a: float, b: float) -> float:
        """Return a float in ``[a, b]``."""
        ...


def _positive(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value!r}")


def _jitter_range(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0 <= value < 1:
        raise ValueError(f"{attribute.name} must be in [0, 1), got {value!r}")


def _at_least_one(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be >= 1, got {value!r}")


@attrs.frozen
class BackoffPolicy:
    """How long to wait between connection attempts.

    Attributes:
        initial: delay after the first failure, seconds.
        multiplier: growth factor per further failure.
        maximum: cap on the (un-jittered) delay, seconds.
        jitter: relative randomisation, ``0.2`` means ±20 %.
    """

    initial: float = attrs.field(default=1.0, validator=_positive)
    multiplier: float = attrs.field(default=1.6, validator=_at_least_one)
    maximum: float = attrs.field(default=120.0, validator=_positive)
    jitter: float = attrs.field(default=0.2, validator=_jitter_range)

    def base_delay(self, failures: int) -> float:
        """The un-jittered delay after ``failures`` consecutive failures (>= 1)."""
        if failures < 1:
            return 0.0
        # Cap the exponent so a long outage never overflows the float.
        exponent = min(failures - 1, 1000)
        try:
            grown = self.initial * self.multiplier**exponent
        except OverflowError:
            grown = self.maximum
        return min(grown, self.maximum)

    def delay(self, failures: int, rng: UniformSource) -> float:
        """The jittered delay after ``failures`` consecutive failures (0 → no wait)."""
        base = self.base_delay(failures)
        if base == 0.0 or self.jitter == 0.0:
            return base
        return base * (1.0 + rng.uniform(-self.jitter, self.jitter))


@attrs.define
class Backoff:
    """Consecutive-failure counter plus the time before which no attempt may start.

    Times are whatever clock the caller uses (``trio.current_time()``).
    """

    policy: BackoffPolicy = attrs.field(factory=BackoffPolicy)
    rng: UniformSource = attrs.field(factory=random.Random)
    failures: int = 0
    #: No connection attempt before this time.
    not_before: float = float("-inf")

    def record_failure(self, now: float) -> float:
        """Count a failed attempt at ``now``; return the delay until the next one."""
        self.failures += 1
        wait = self.policy.delay(self.failures, self.rng)
        self.not_before = now + wait
        return wait

    def record_success(self) -> None:
        """A connection was established: the next failure starts from ``initial``."""
        self.failures = 0
        self.not_before = float("-inf")

    def remaining(self, now: float) -> float:
        """Seconds until an attempt is allowed (0 when allowed now)."""
        return max(0.0, self.not_before - now)
