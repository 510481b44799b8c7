"""A log-linear latency histogram (HDR-style), mergeable across processes.

Theory of operation
-------------------
Values are integers (microseconds in ``mux bench``). Values below 128 get a bucket of
their own; above, each power of two ``[2**k, 2**(k+1))`` is cut into 64 equal buckets,
so a bucket is at most 1/64 (1.6 %) of its values wide at any magnitude, from 1 µs to
hours, in a few hundred buckets. Bucket ``i``:

* ``i < 128``: exactly the value ``i``;
* else, with ``shift = i // 64 - 1``: values ``[(i - 64*shift) << shift, ...+2**shift)``.

Counts live in a sparse dict (bucket → count), so two histograms merge by adding
counts and travel between processes as JSON (:meth:`to_json`/:meth:`from_json`).
Percentiles report the highest value of the bucket holding the rank (as HdrHistogram
does: never below the true value). Written here rather than depending on the
``hdrhistogram`` package: 80 lines, no compiled extension, and the sparse JSON form is
what the worker processes of ``mux bench`` need anyway.
"""

from __future__ import annotations

import math

_SUB = 64


def bucket_of(value: int) -> int:
    """The bucket index holding ``value`` (negative values count as 0)."""
    if value < 2 * _SUB:
        return max(0, value)
    shift = value.bit_length() - 7
    return shift * _SUB + (value >> shift)


def bucket_low(index: int) -> int:
    """The lowest value of bucket ``index``."""
    if index < 2 * _SUB:
        return index
    shift = index // _SUB - 1
    return (index - shift * _SUB) << shift


def bucket_high(index: int) -> int:
    """The highest value of bucket ``index``."""
    return bucket_low(index + 1) - 1


class Histogram:
    """Counts of integer values in log-linear buckets."""

    __slots__ = ("buckets", "count", "max", "min", "total")

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}
        self.count = 0
        self.total = 0
        self.min = 0
        self.max = 0

    def record(self, value: int, count: int = 1) -> None:
        value = max(0, int(value))
        index = bucket_of(value)
        self.buckets[index] = self.buckets.get(index, 0) + count
        if self.count == 0 or value < self.min:
            self.min = value
        self.max = max(self.max, value)
        self.count += count
        self.total += value * count

    def merge(self, other: Histogram) -> None:
        """Add ``other``'s counts to this histogram."""
        if not other.count:
            return
        for index, count in other.buckets.items():
            self.buckets[index] = self.buckets.get(index, 0) + count
        self.min = other.min if self.count == 0 else min(self.min, other.min)
        self.max = max(self.max, other.max)
        self.count += other.count
        self.total += other.total

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def percentile(self, percent: float) -> int:
        """The value at or below which ``percent`` % of the recorded values lie."""
        if not self.count:
            return 0
        rank = max(1, math.ceil(self.count * percent / 100.0))
        seen = 0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= rank:
                return min(bucket_high(index), self.max)
        return self.max

    def to_json(self) -> dict[str, object]:
        return {
            "buckets": {str(k): v for k, v in self.buckets.items()},
            "count": self.count,
            "total": self.total,
            "min": self.min,
            "max": self.max,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Histogram:
        hist = cls()
        buckets = data.get("buckets", {})
        assert isinstance(buckets, dict)
        hist.buckets = {int(k): int(v) for k, v in buckets.items()}
        for name in ("count", "total", "min", "max"):
            value = data.get(name, 0)
            assert isinstance(value, int)
            setattr(hist, name, value)
        return hist
