"""Waiting for send credit: silly-window floor, tiny-piece pacing, send stall.

Theory of operation
-------------------
:meth:`mux.driver.stream.Stream.send_data` sends a piece only once
:func:`wait_for_credit` returns a window for it. The wait guards against the
flow-control attacks of threats.md:

* **Silly window** ("Data dribble", CVE-2019-9511): the window must hold at
  least ``min(want, SEND_FLOOR, peak / 2)`` bytes, ``peak`` being the largest
  window the peer ever granted the stream, so a peer that drains its window
  and then opens it a byte at a time gets frames of :data:`SEND_FLOOR` bytes,
  not 1-byte frames (and the send-stall timer if it never opens enough).
* **Tiny windows**: a peer that only ever grants tiny windows (its SETTINGS
  say so) still gets progress, but a piece under :data:`TINY_PIECE` bytes sent
  while more waits is paced per connection (``_tiny_send_wait``: a burst, then
  a rate, see :mod:`mux.driver.writer`), so answering each 1-byte frame with
  the next byte costs bounded CPU.
* **Send stall** (zero-window hold, CVE-2016-1546): no usable credit for the
  driver's ``send_stall`` seconds resets the stream with CANCEL; when every
  unfinished stream of a server connection is held so, the connection is
  closed with GOAWAY too (``_every_stream_held`` / ``_send_stall_timeout``).

While parked, the stream records which window holds it and since when
(:func:`mux.driver.waits.send_wait`) for the admin API; each wait is counted
with its duration (:data:`mux.ops.counters.DRIVER_COUNTERS`,
``mux_flow_control_stall*`` metrics).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import trio

from mux.driver.waits import Wait, send_wait
from mux.errors import ErrorCode
from mux.ops.counters import DRIVER_COUNTERS

if TYPE_CHECKING:
    from mux.driver.stream import Stream

#: Smallest DATA piece sent while more body waits, once the peer has granted
#: this stream a window of twice as much.
SEND_FLOOR = 16384
#: A DATA piece smaller than this, sent while more body waits, is "tiny" (the
#: peer keeps its window tiny): paced per connection.
TINY_PIECE = 1024


async def wait_for_credit(stream: Stream, want: int) -> int:
    """Wait for send credit on ``stream``; return the window (at most
    ``want`` is sent from it). See the module docstring.

    Raises:
        StreamReset: the stream was reset (also by the send-stall timeout).
        ConnectionClosed: the connection ended (also because every stream
            was held at a zero window).
    """
    driver = stream._driver
    stall = driver._timeouts.send_stall
    stalled_at = math.inf if stall is None else trio.current_time() + stall
    while True:
        stream._check_sendable()
        if driver._deferred_data:
            driver._commit_deferred()  # their bytes count against the window
        window = driver._engine.local_flow_control_window(stream.stream_id)
        if window > stream._peak_window:
            stream._peak_window = window
        floor = min(want, SEND_FLOOR, stream._peak_window // 2)
        if window > 0 and window >= floor and not driver._send_backlogged:
            if window >= TINY_PIECE or window >= want:
                return window
            pause = driver._tiny_send_wait()
            if not pause:
                return window
            await trio.sleep(pause)  # more credit may arrive meanwhile
            continue
        if trio.current_time() >= stalled_at:
            held = driver._every_stream_held(stream)
            stream.reset(ErrorCode.CANCEL)
            if held:
                driver._send_stall_timeout(stall)
            stream._check_sendable()  # raises the StreamReset just recorded
        driver._add_window_waiter(stream)
        stream._send_wait = send_wait(driver._engine, stream.stream_id, driver._send_backlogged)
        stream._send_since = waited_from = trio.current_time()
        try:
            with trio.move_on_at(stalled_at):
                await stream._park()
        finally:
            stream._send_wait = Wait.NONE
            driver._discard_window_waiter(stream)
            DRIVER_COUNTERS.stalled(trio.current_time() - waited_from)
