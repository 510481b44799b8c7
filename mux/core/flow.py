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
"""

from __future__ import annotations

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
