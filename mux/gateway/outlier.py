"""Passive health: eject an endpoint after consecutive failures (pure state machine).

Theory of operation
-------------------
Every finished upstream call reports its outcome to its endpoint's
:class:`OutlierState`: a failure is a connect failure, a reset or a lost
connection, a timeout, or a 5xx response; anything else is a success and
clears the count. After ``consecutive_failures`` failures in a row the
endpoint is *ejected*: the balancer skips it until ``ejected_until``. The
n-th ejection lasts ``base_ejection_time * n`` seconds, capped at
``max_ejection_time`` (an endpoint that keeps failing stays out longer); the
multiplier shrinks by one for every ``max_ejection_time`` the endpoint spends
in the cluster without being ejected again, so a host that recovered for good
is forgiven.

The cluster, which sees all endpoints, decides whether one more may be ejected
(:func:`may_eject`: never more than ``max_ejection_percent`` of the endpoints,
but one of several always may be); when it may not, the count stays at the
threshold so the next failure tries again. An ejected endpoint comes back on
its own when its time is up (no traffic is needed to notice): it then gets
requests again, and one more failure streak ejects it for longer.

Times are plain floats from the caller's clock (``trio.current_time()``); no
I/O, so the tests drive it with numbers.
"""

from __future__ import annotations

import attrs

from mux.gateway.model import OutlierDetection


@attrs.define
class OutlierState:
    """Consecutive failures and ejection of one endpoint."""

    consecutive: int = 0
    #: Ejections so far (the multiplier of the next ejection time, minus one).
    ejections: int = 0
    #: While set and in the future, the endpoint is ejected.
    ejected_until: float | None = None
    #: When the multiplier last changed (decay clock).
    since: float = 0.0

    def is_ejected(self, now: float) -> bool:
        """True while ejected; an ejection whose time is up ends here."""
        if self.ejected_until is None:
            return False
        if now < self.ejected_until:
            return True
        self.ejected_until = None
        self.consecutive = 0
        return False

    def record(self, ok: bool, now: float, config: OutlierDetection, *, may_eject: bool) -> bool:
        """Record one outcome; True when this failure ejects the endpoint now."""
        self._decay(now, config)
        if ok:
            self.consecutive = 0
            return False
        self.consecutive += 1
        if self.consecutive < config.consecutive_failures or self.is_ejected(now) or not may_eject:
            return False
        self.ejections += 1
        self.since = now
        duration = min(config.base_ejection_time * self.ejections, config.max_ejection_time)
        self.ejected_until = now + duration
        self.consecutive = 0
        return True

    def _decay(self, now: float, config: OutlierDetection) -> None:
        if self.ejections and not self.is_ejected(now) and config.max_ejection_time > 0:
            periods = int((now - self.since) // config.max_ejection_time)
            if periods > 0:
                self.ejections = max(0, self.ejections - periods)
                self.since = now


def may_eject(ejected: int, total: int, config: OutlierDetection) -> bool:
    """True when one more of ``total`` endpoints may be ejected (``ejected`` are)."""
    allowed = total * config.max_ejection_percent // 100
    if allowed == 0 and total > 1 and config.max_ejection_percent > 0:
        allowed = 1  # one of several may always go
    return ejected < allowed


def is_failure(status: int, error: bool) -> bool:
    """The outcome counts as a failure: an error, or a 5xx response."""
    return error or status >= 500


__all__ = ["OutlierState", "is_failure", "may_eject"]
