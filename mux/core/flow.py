"""Flow-control arithmetic shared by the stream and connection windows.

Theory of operation
-------------------
Only DATA payload bytes count (spec/mux-protocol.md "Flow control"). Each
direction of each stream, and of the connection, has a window:

* **Send side** (what the peer lets us send): a plain int. DATA debits it,
  WINDOW_UPDATE credits it, a SETTINGS change moves it by ``new - old`` (it may
  go negative). :func:`credit` refuses any result above 2^31-1.
* **Receive side** (what we let the peer send) is three ints kept on the
  stream or connection: ``window`` (credit the peer still has), ``unannounced``
  (bytes the application consumed that we have not yet given back) and
  ``target`` (the configured size). Invariant, with ``outstanding`` the bytes
  delivered to the application but not yet acknowledged::

      target == window + outstanding + unannounced

  Credit goes back only through ``acknowledge_received_data`` (end-to-end
  backpressure), in one WINDOW_UPDATE once ``unannounced`` reaches half the
  target (:func:`update_due`), so a steady transfer costs one WINDOW_UPDATE per
  half window instead of one per frame.

Auto-tuning (:class:`WindowTuner`): ``target`` starts at the configured size
and only grows, doubling when one round trip (measured by a PING, no clock)
carried most of the window while the application kept up, up to
``ProtocolLimits.max_stream_window`` / ``max_connection_window``. The growth
is granted as extra WINDOW_UPDATE credit, so the invariant above holds with
the grown target and buffered bytes stay bounded by it.
"""

from __future__ import annotations

from typing import Final

from mux.core.frames import MAX_WINDOW


def credit(window: int, increment: int) -> int | None:
    """Return ``window + increment``, or None when it would exceed 2^31-1.

    Python ints never wrap, so the check is exact (threats.md "Window overflow").
    """
    total = window + increment
    return None if total > MAX_WINDOW else total


def update_due(unannounced: int, target: int) -> bool:
    """Whether ``unannounced`` consumed bytes are worth a WINDOW_UPDATE now."""
    return unannounced > 0 and 2 * unannounced >= target


def outstanding(target: int, window: int, unannounced: int) -> int:
    """Bytes delivered to the application and not yet acknowledged."""
    return target - window - unannounced


#: Largest distance in DATA bytes between two fruitless window samples.
MAX_SAMPLE_GAP: Final = 2**30

#: Payload of the PINGs the receive-window tuner sends; its ACK ends a sample.
BDP_PING: Final = b"\x00mux-bdp"


def grown_target(target: int, sampled: int, buffered: int, cap: int) -> int:
    """The receive-window target after one round-trip sample (BDP probing).

    The window is the bottleneck when the peer sent at least two thirds of it
    within one round trip (``sampled``), and the application keeps up when
    less than half of it sits delivered but unconsumed (``buffered``). Then the
    target doubles, up to ``cap``; otherwise it stays (it never shrinks).
    """
    if target >= cap or 3 * sampled < 2 * target or 2 * buffered >= target:
        return target
    return min(cap, 2 * target)


class WindowTuner:
    """Receive-window auto-tuning state of one connection (created lazily).

    Theory: a sample starts, with one PING carrying :data:`BDP_PING`, when a
    DATA frame leaves over an eighth of a receive window in use (so small
    unary bodies never cost a PING) and that window is below its cap; it counts the
    DATA bytes delivered per stream until the PING's ACK. One round trip of
    bytes is the bandwidth-delay product the window must cover (gRPC's BDP
    estimator, rust-yamux's auto-tuning); :func:`grown_target` turns it into
    a new target. Growth is granted at once by a WINDOW_UPDATE of the
    difference, so the targets below are "configured size + ``*_extra``".

    A sample that grows no window backs off: the next one starts only after
    ``quiet`` more DATA bytes, a distance that doubles with each fruitless
    sample (from one connection window up to :data:`MAX_SAMPLE_GAP`) and
    returns to 0 when a sample grows a window. So a transfer whose windows
    already fit costs a handful of PINGs, not one per round trip (gRPC backs
    off its BDP pings the same way, by time; bytes keep this core clock-free).

    Attributes:
        sampling: a BDP PING is in flight.
        quiet: DATA bytes still to arrive before the next sample may start.
        gap: the ``quiet`` distance set after the last fruitless sample.
        sample_total: connection DATA bytes delivered during the sample.
        sample_streams: stream id -> DATA bytes delivered during the sample.
        conn_extra: bytes the connection target grew beyond CONNECTION_WINDOW.
        stream_extra: stream id -> bytes its target grew beyond INITIAL_STREAM_WINDOW
            (only grown streams; pruned when they close).
    """

    __slots__ = (
        "conn_extra",
        "gap",
        "quiet",
        "sample_streams",
        "sample_total",
        "sampling",
        "stream_extra",
    )

    def __init__(self) -> None:
        self.sampling = False
        self.sample_total = 0
        self.sample_streams: dict[int, int] = {}
        self.conn_extra = 0
        self.stream_extra: dict[int, int] = {}
        self.quiet = 0
        self.gap = 0

    def start(self, sid: int, size: int) -> None:
        """Begin a sample with the frame that triggered it."""
        self.sampling = True
        self.sample_total = size
        self.sample_streams = {sid: size}

    def settle(self, grew: bool, window: int) -> None:
        """End a sample: back off after a fruitless one (see the class doc).

        Args:
            grew: the sample grew a window.
            window: the connection's receive-window target now.
        """
        self.sampling = False
        self.gap = 0 if grew else min(max(2 * self.gap, window), MAX_SAMPLE_GAP)
        self.quiet = self.gap

    def count(self, sid: int, size: int) -> None:
        """Add a delivered DATA frame to the running sample."""
        self.sample_total += size
        streams = self.sample_streams
        streams[sid] = streams.get(sid, 0) + size
