"""Process-wide counters the connection drivers bump (flow-control stalls, GOAWAYs).

Theory of operation
-------------------
The drivers must not depend on the metrics code, and what they count here
happens rarely (a stream finds no send credit, a GOAWAY goes out or comes
in), so they add to plain attributes of one module-level object,
:data:`DRIVER_COUNTERS`, and :mod:`mux.ops.metrics` turns the totals into
Prometheus counters when it is scraped. Nothing here allocates per request.
"""

from __future__ import annotations

from collections import Counter
from typing import Final


class DriverCounters:
    """Totals since the process started."""

    __slots__ = ("credit_stall_seconds", "credit_stalls", "goaway_received", "goaway_sent")

    def __init__(self) -> None:
        #: Waits of a stream for send credit (flow-control window), and their time.
        self.credit_stalls = 0
        self.credit_stall_seconds = 0.0
        #: GOAWAY frames sent / received, by error code name.
        self.goaway_sent: Counter[str] = Counter()
        self.goaway_received: Counter[str] = Counter()

    def stalled(self, seconds: float) -> None:
        """A stream waited ``seconds`` for send credit."""
        self.credit_stalls += 1
        self.credit_stall_seconds += seconds


#: The one instance the drivers update.
DRIVER_COUNTERS: Final = DriverCounters()

__all__ = ["DRIVER_COUNTERS", "DriverCounters"]
