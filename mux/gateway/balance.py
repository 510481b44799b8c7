"""Load balancing: which endpoint serves the next request (pure functions).

Theory of operation
-------------------
A cluster balances per request, never per connection: every call asks the
balancer for one endpoint among :class:`Candidate` values, a snapshot of each
endpoint's state (its weight, the requests it has in flight, whether it may be
used). Nothing here does I/O or reads a clock; the little state a policy needs
between picks (round-robin credits, the hash ring) is passed in and owned by
the cluster, so every policy is testable as plain code (the property tests in
``tests/gateway/test_balance.py`` check the distribution follows the weights and
that the ring moves about ``1/n`` of the keys when an endpoint is added).

Policies (:class:`~mux.gateway.model.LbPolicy`):

* **weighted round robin**: nginx's *smooth* weighted round robin. Each pick
  adds every usable endpoint's weight to its credit, takes the endpoint with the
  most credit and subtracts the total weight from it; over ``sum(weights)``
  picks each endpoint is chosen exactly ``weight`` times, interleaved
  (``a a b`` becomes ``a b a``);
* **least request (P2C)**: two endpoints drawn at random (weighted), the one
  with fewer requests in flight per unit of weight wins (Mitzenmacher's "power
  of two choices": nearly the best of all, at O(1) cost and without the herd
  that "the global minimum" causes);
* **ring hash**: a consistent hash ring of ``points_per_weight * weight``
  points per endpoint (64-bit BLAKE2b of ``"address#i"``); a request's key
  (a header's value) maps to the first point clockwise whose endpoint is usable.
  The ring is built from *every* configured endpoint, so an endpoint going
  unhealthy moves only its own keys (to the next points), and adding one of
  ``n`` endpoints moves about ``1/(n+1)`` of the keys.

Endpoints that are unhealthy or ejected are never picked (``usable`` False);
when no candidate is usable the result is None and the cluster reports
``NO_HEALTHY_UPSTREAM``.
"""

from __future__ import annotations

import bisect
import hashlib
import random
from collections.abc import MutableMapping, Sequence
from typing import Final

import attrs

#: Ring points per unit of weight (Envoy's minimum ring size is 1024 in all).
POINTS_PER_WEIGHT: Final = 160


@attrs.frozen
class Candidate:
    """An endpoint as the balancer sees it."""

    #: The endpoint's stable identity (``host:port``).
    key: str
    weight: int = 1
    #: Requests in flight on it.
    active: int = 0
    #: False when unhealthy or ejected (never picked).
    usable: bool = True


def round_robin(
    candidates: Sequence[Candidate], credits: MutableMapping[str, int]
) -> Candidate | None:
    """Smooth weighted round robin; ``credits`` is the state kept between picks."""
    best: Candidate | None = None
    best_credit = 0
    total = 0
    for cand in candidates:
        if not cand.usable or cand.weight <= 0:
            continue
        credit = credits.get(cand.key, 0) + cand.weight
        credits[cand.key] = credit
        total += cand.weight
        if best is None or credit > best_credit:
            best, best_credit = cand, credit
    if best is not None:
        credits[best.key] = best_credit - total
    return best


def least_request(candidates: Sequence[Candidate], rng: random.Random) -> Candidate | None:
    """Power of two choices: the less loaded (per weight) of two weighted random picks."""
    usable = [c for c in candidates if c.usable and c.weight > 0]
    if len(usable) <= 1:
        return usable[0] if usable else None
    weights = [c.weight for c in usable]
    first = rng.choices(range(len(usable)), weights)[0]
    second = first
    while second == first:
        second = rng.choices(range(len(usable)), weights)[0]
    a, b = usable[first], usable[second]
    # Compare active/weight without division: a.active * b.weight vs b.active * a.weight.
    return a if a.active * b.weight <= b.active * a.weight else b


def _point(text: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


@attrs.frozen
class Ring:
    """A consistent hash ring over endpoint keys (build once per endpoint set)."""

    points: tuple[int, ...]
    owners: tuple[str, ...]

    @classmethod
    def build(
        cls, endpoints: Sequence[tuple[str, int]], points_per_weight: int = POINTS_PER_WEIGHT
    ) -> Ring:
        """``endpoints`` as ``(key, weight)`` pairs."""
        pairs: list[tuple[int, str]] = []
        for key, weight in endpoints:
            for i in range(max(weight, 0) * points_per_weight):
                pairs.append((_point(f"{key}#{i}".encode()), key))
        pairs.sort()
        return cls(tuple(p for p, _ in pairs), tuple(k for _, k in pairs))

    def owner(self, hash_key: bytes, usable: frozenset[str] | set[str] | None = None) -> str | None:
        """The endpoint key owning ``hash_key``: the first usable one clockwise."""
        if not self.points:
            return None
        start = bisect.bisect_left(self.points, _point(hash_key))
        count = len(self.points)
        for step in range(count):
            key = self.owners[(start + step) % count]
            if usable is None or key in usable:
                return key
        return None


def ring_hash(
    candidates: Sequence[Candidate], ring: Ring, hash_key: bytes | None, rng: random.Random
) -> Candidate | None:
    """The usable candidate owning ``hash_key`` on ``ring`` (no key: a random one)."""
    by_key = {c.key: c for c in candidates if c.usable and c.weight > 0}
    if not by_key:
        return None
    if hash_key is None:
        return rng.choice(list(by_key.values()))
    owner = ring.owner(hash_key, set(by_key))
    return by_key.get(owner) if owner is not None else None


__all__ = ["POINTS_PER_WEIGHT", "Candidate", "Ring", "least_request", "ring_hash", "round_robin"]
