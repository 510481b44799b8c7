"""Logging for ``mux serve``: one line format, connection context, peer-error summaries.

Theory of operation
-------------------
**Format.** :func:`setup_logging` installs one stderr handler whose lines read
``2026-12-07 14:22:01,123 INFO mux.driver [127.0.0.1:52344 h2 stream 3] ...``:
time, level, logger, then, for a line logged on behalf of a connection, the
peer address, the protocol and (inside a request handler) the stream id.
hpack/h2/h11 stay at WARNING even at ``--log-level DEBUG``
(:data:`QUIET_LIBRARIES`): their DEBUG lines are byte reprs of every header.

**Context.** The server sets :data:`CONNECTION` (``"127.0.0.1:52344 h2"``)
in each connection task (:func:`set_connection`) and :data:`STREAM` in each
handler task (:func:`set_stream`). Trio gives every task a copy of the context
of the task that started it, so handler tasks started by the connection task
inherit the peer; :class:`ContextFilter` copies both into every record as
``record.conn`` (``""`` outside a connection). A connection resumed after
parking runs in a fresh task and sets the context again.

**Peer protocol errors** (a GOAWAY with an error code, a 400, bytes that are
no protocol, a frame/header/handshake timeout, a failed TLS handshake) are
the peer's doing and can come by the thousand: each is logged at DEBUG
(:func:`peer_error`) and counted by kind in :data:`PEER_ERRORS`; the server
calls :meth:`PeerErrorCounter.flush` every :data:`SUMMARY_INTERVAL` seconds,
which logs one INFO line ``N connections closed for peer protocol errors in
the last 60 s: 3 PROTOCOL_ERROR, 1 timeout (unfinished header block)`` when
N > 0.

No trio import: the context variables work under any event loop.
"""

from __future__ import annotations

import collections
import contextvars
import logging
import sys
from typing import Final

#: Seconds between two summaries of peer protocol errors.
SUMMARY_INTERVAL: Final = 60.0
#: Libraries whose DEBUG lines quote raw header bytes as Python reprs (and would
#: put every header value, credentials included, in the log): kept at WARNING.
QUIET_LIBRARIES: Final = ("hpack", "h2", "h11")
#: Line format of :func:`setup_logging`.
LOG_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s%(conn)s %(message)s"

#: ``"<peer address> <protocol>"`` of the connection the current task serves.
CONNECTION: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "mux_connection", default=None
)
#: The stream id the current task (a request handler) serves.
STREAM: contextvars.ContextVar[int | None] = contextvars.ContextVar("mux_stream", default=None)

_logger = logging.getLogger("mux.peer")


class ContextFilter(logging.Filter):
    """Adds ``record.conn``: `` [peer protocol stream N]`` or ``""``."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Annotate ``record`` (never drops it)."""
        if not hasattr(record, "conn"):
            connection, stream = CONNECTION.get(), STREAM.get()
            if connection is None:
                record.conn = ""
            elif stream is None:
                record.conn = f" [{connection}]"
            else:
                record.conn = f" [{connection} stream {stream}]"
        return True


def setup_logging(level: str | int = "INFO") -> logging.Handler:
    """Log to stderr in :data:`LOG_FORMAT` at ``level``; returns the handler.

    Replaces handlers a previous call installed (safe to call twice).
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_mux_handler", False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(ContextFilter())
    handler._mux_handler = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
    return handler


def describe_peer(address: object) -> str:
    """``host:port`` from a socket address (``[v6]:port`` for IPv6), else ``str``."""
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address) if address else "?"


def set_connection(peer: str, protocol: str) -> None:
    """Mark the current task (and tasks it starts) as serving ``peer`` over ``protocol``."""
    CONNECTION.set(f"{peer} {protocol}")
    STREAM.set(None)


def set_stream(stream_id: int) -> None:
    """Mark the current task (a request handler) as serving ``stream_id``."""
    STREAM.set(stream_id)


class PeerErrorCounter:
    """Counts connections closed for peer protocol errors, by kind, between summaries."""

    def __init__(self) -> None:
        self._counts: collections.Counter[str] = collections.Counter()
        #: Every kind counted since the process started (``mux_peer_errors_total``).
        self.totals: collections.Counter[str] = collections.Counter()

    def note(self, kind: str) -> None:
        """Count one connection closed for ``kind`` (an error code name or a few words)."""
        self._counts[kind] += 1
        self.totals[kind] += 1

    @property
    def pending(self) -> int:
        """Connections counted since the last summary."""
        return sum(self._counts.values())

    def flush(self, interval: float = SUMMARY_INTERVAL) -> str | None:
        """Log (INFO) and return the summary of what was counted; None when nothing was."""
        if not self._counts:
            return None
        total = sum(self._counts.values())
        kinds = ", ".join(f"{n} {kind}" for kind, n in self._counts.most_common())
        self._counts.clear()
        noun = "connection" if total == 1 else "connections"
        line = f"{total} {noun} closed for peer protocol errors in the last {interval:g} s: {kinds}"
        _logger.info("%s", line)
        return line


#: The process-wide counter the server summarises.
PEER_ERRORS: Final = PeerErrorCounter()


def peer_error(logger: logging.Logger, kind: str, message: str, *args: object) -> None:
    """A connection closed because of its peer: DEBUG line, counted as ``kind``."""
    PEER_ERRORS.note(kind)
    logger.debug(message, *args, stacklevel=2)
