"""Why a stream is not moving: the wait reasons the driver records, and the windows.

Theory of operation
-------------------
Each :class:`~mux.driver.stream.Stream` carries, in slots, what it waits for
right now, set where the wait happens and cleared when it ends (no allocation:
the reasons are the members of :class:`Wait`, the start a float):

* ``_send_wait`` / ``_send_since``: a sender parked in
  :func:`mux.driver.credit.wait_for_credit`: :attr:`Wait.STREAM_WINDOW` or
  :attr:`Wait.CONNECTION_WINDOW` (which send window is short, read from the
  engine by :func:`send_windows`), or :attr:`Wait.SEND_BUFFER` (the peer
  does not read its socket: our unsent bytes are above the high-water mark);
* ``_recv_since``: a reader parked in ``receive_headers`` / ``receive_data``
  (:attr:`Wait.PEER`: nothing to do until the peer's next frame);
* ``wait`` / ``wait_since``: set by the application through
  :meth:`~mux.driver.stream.Stream.set_wait`: the gateway's forwarder and
  cluster say :attr:`Wait.UPSTREAM` (pool, response), :attr:`Wait.UPSTREAM_CONNECT`
  or :attr:`Wait.STREAM_SLOT` (the SDK pool's ticket waits for a free stream
  slot under the upstream's MAX_CONCURRENT_STREAMS).

:attr:`Wait.READER` (our receive buffer is full: the application does not
read) and :attr:`Wait.HANDLER` (a request nobody answers or reads) are states,
not parked tasks: :mod:`mux.admin.streams` derives them from the same slots and
the engine's windows when it lists the streams. :attr:`Wait.PARKED` is a
connection's (:attr:`ConnectionDriver.is_parked`).

:func:`send_windows` and :func:`receive_windows` read the engines' windows
(mux, HTTP/2; ``None`` where a protocol has none, e.g. HTTP/1.1) for this and
for display; they only read.
"""

from __future__ import annotations

import enum
from typing import Any


class Wait(enum.IntEnum):
    """What a stream (or connection) waits for; see the module docstring."""

    NONE = 0
    STREAM_WINDOW = 1
    CONNECTION_WINDOW = 2
    SEND_BUFFER = 3
    STREAM_SLOT = 4
    HANDLER = 5
    UPSTREAM = 6
    UPSTREAM_CONNECT = 7
    READER = 8
    PEER = 9
    PARKED = 10

    @property
    def label(self) -> str:
        """The words shown by ``/streams``, the page and ``mux top``."""
        return LABELS[self]


LABELS = {
    Wait.NONE: "running",
    Wait.STREAM_WINDOW: "peer stream window",
    Wait.CONNECTION_WINDOW: "connection window",
    Wait.SEND_BUFFER: "peer not reading (send buffer)",
    Wait.STREAM_SLOT: "stream slot",
    Wait.HANDLER: "handler",
    Wait.UPSTREAM: "upstream",
    Wait.UPSTREAM_CONNECT: "upstream connect",
    Wait.READER: "downstream reader",
    Wait.PEER: "peer",
    Wait.PARKED: "parked idle",
}


def _mux_stream(engine: Any, stream_id: int) -> Any:
    streams = getattr(engine, "_streams", None)
    return streams.get(stream_id) if isinstance(streams, dict) else None


def _h2(engine: Any) -> Any:
    inner = getattr(engine, "upgraded_to", None)  # HTTP/1.1 upgraded to h2c
    if inner is not None:
        engine = inner
    return getattr(engine, "_h2", None), engine


def send_windows(engine: Any, stream_id: int) -> tuple[int | None, int | None]:
    """``(stream, connection)`` send windows of ``stream_id`` (None: none/unknown)."""
    h2, engine = _h2(engine)
    if h2 is not None:
        stream = h2.streams.get(stream_id)
        window = None if stream is None else int(stream.outbound_flow_control_window)
        return window, int(h2.outbound_flow_control_window)
    conn = getattr(engine, "_send_window", None)
    if conn is None:
        return None, None
    stream = _mux_stream(engine, stream_id)
    return (None if stream is None else int(stream.send_window)), int(conn)


def receive_windows(engine: Any, stream_id: int) -> tuple[int | None, int | None]:
    """``(stream, connection)`` windows we advertise to the peer (None: none/unknown)."""
    h2, engine = _h2(engine)
    if h2 is not None:
        try:
            stream_window: int | None = int(h2.remote_flow_control_window(stream_id))
        except Exception:  # the stream is closed for receiving in h2
            stream_window = None
        return stream_window, int(h2.inbound_flow_control_window)
    conn = getattr(engine, "_recv_window", None)
    if conn is None:
        return None, None
    stream = _mux_stream(engine, stream_id)
    return (None if stream is None else int(stream.recv_window)), int(conn)


def send_wait(engine: Any, stream_id: int, backlogged: bool) -> Wait:
    """Which send-side wait a credit waiter is in (see the module docstring)."""
    if backlogged:
        return Wait.SEND_BUFFER
    stream_window, conn_window = send_windows(engine, stream_id)
    if conn_window is not None and (stream_window is None or conn_window < stream_window):
        return Wait.CONNECTION_WINDOW
    return Wait.STREAM_WINDOW
