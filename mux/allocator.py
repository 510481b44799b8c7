"""Allocator tuning for bulk payload buffers (glibc): :func:`tune_allocator`.

Theory of operation
-------------------
A bulk transfer reads each large DATA payload into a fresh ``bytes`` of up to
a frame (256 KiB to 1 MiB) and frees it once the application consumed it;
several are alive at once (a read burst, a stream's buffered window). glibc's
``malloc`` serves blocks that size from the heap only after its *dynamic*
mmap threshold rose to them, and then keeps at most twice that threshold free
at the top of the heap: a burst of four 256 KiB payloads freed together is
more than that, so glibc gives the memory back to the kernel (``brk``) and the
next burst takes it again, page-faulting and zeroing every page. On this
project's 2-core bench that churn cost about a sixth of the receiver's CPU
(bench/RESULTS.md, target (c)).

:func:`tune_allocator` fixes both thresholds with ``mallopt``: blocks up to
``mmap_threshold`` come from the heap, and up to ``trim_threshold`` bytes of
freed heap stay mapped for the next burst. The price is that much resident
memory kept after a burst, per process, not per connection.

It is process-wide, so a library does not call it on its own: ``mux serve``
does at startup (``--no-tune-allocator`` skips it), and an application using
the client SDK for bulk transfers may call it once. A parameter the
environment already sets (``MALLOC_TRIM_THRESHOLD_``,
``MALLOC_MMAP_THRESHOLD_``, or the same in ``GLIBC_TUNABLES``) is left as the
user set it. Elsewhere (musl, macOS, Windows) it does nothing and returns False.
"""

from __future__ import annotations

import ctypes
import os
import platform

#: ``mallopt`` parameter numbers (glibc ``malloc.h``).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: Defaults: above the largest frame the driver reads (1 MiB), and room for
#: the buffers of several streams' bursts.
TRIM_THRESHOLD = 16 * 2**20
MMAP_THRESHOLD = 2 * 2**20
#: parameter -> (environment variable, GLIBC_TUNABLES name) through which the
#: user may already have chosen it.
_USER_SET = {
    M_TRIM_THRESHOLD: ("MALLOC_TRIM_THRESHOLD_", "glibc.malloc.trim_threshold"),
    M_MMAP_THRESHOLD: ("MALLOC_MMAP_THRESHOLD_", "glibc.malloc.mmap_threshold"),
}


def tune_allocator(
    *, trim_threshold: int = TRIM_THRESHOLD, mmap_threshold: int = MMAP_THRESHOLD
) -> bool:
    """Keep bulk payload buffers in the heap between bursts (see the module doc).

    Args:
        trim_threshold: free bytes at the top of the heap glibc keeps mapped.
        mmap_threshold: blocks up to this size come from the heap, not mmap.

    Returns:
        True when glibc accepted the settings (those the environment does
        not already set); False where there is no glibc ``mallopt`` or it
        refused a value.

    Raises:
        ValueError: a negative threshold.
    """
    if trim_threshold < 0 or mmap_threshold < 0:
        raise ValueError(
            f"thresholds must be >= 0, got trim {trim_threshold} and mmap {mmap_threshold}"
        )
    mallopt = _glibc_mallopt()
    if mallopt is None:
        return False
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    ok = True
    for param, value in ((M_MMAP_THRESHOLD, mmap_threshold), (M_TRIM_THRESHOLD, trim_threshold)):
        variable, tunable = _USER_SET[param]
        if variable not in os.environ and tunable not in tunables:
            ok = bool(mallopt(param, value)) and ok
    return ok


def _glibc_mallopt() -> ctypes._NamedFuncPointer | None:
    """glibc's ``mallopt`` from the running process, or None."""
    if platform.libc_ver()[0] != "glibc":
        return None
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return mallopt
