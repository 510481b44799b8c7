"""The access log: one line per finished request, written off the event loop.

Theory of operation
-------------------
:meth:`AccessLog.add` runs on the event loop once per finished request: it
appends one tuple of raw values (no formatting, no I/O, no lock, no wake-up)
to a ``deque``. When
:data:`QUEUE_LIMIT` lines are already waiting (the disk or the terminal is
slower than the requests), the line is **dropped and counted**
(:attr:`AccessLog.dropped`, ``mux_access_log_dropped_total`` and ``/stats``):
the server never waits for its log.

One dedicated daemon thread (:meth:`AccessLog._run`) wakes every
:data:`WRITE_INTERVAL` seconds, takes what is queued, formats it
(:func:`format_text` or :func:`format_json`) and writes it in one ``write``
per batch, then flushes. :meth:`AccessLog.close` writes what is
left and joins the thread.

Fields: time (UTC, ISO 8601, ms), peer address, protocol (``mux``, ``h2``,
``http/1.1``), method, authority, path (with the query), status (``-``: none
sent), request and response body bytes, duration (headers received to
handler done), stream id, for the gateway the upstream endpoint and the
attempts, and the reset or error code if the stream failed. Text lines look
like::

    2026-12-07T15:03:02.123Z 127.0.0.1:51514 h2 GET localhost:8080 "/echo" 200 5 5 0.4ms sid=1

(``upstream=HOST:PORT attempts=N`` and ``error=CODE`` follow when they apply.)
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import deque
from typing import IO, TYPE_CHECKING, Any

from mux.errors import ConnectionClosed, StreamError, code_name

if TYPE_CHECKING:
    from mux.driver.stream import Stream

#: Lines waiting to be written; beyond, new lines are dropped (and counted).
QUEUE_LIMIT = 65536
#: Seconds between two writes: the thread wakes on this clock, never per line
#: (a wake-up per request would cost the event loop a GIL hand-off each time).
WRITE_INTERVAL = 0.05
#: Longest path or authority logged (longer ones are cut, with ``...``).
MAX_FIELD = 2048

#: (time, connection, protocol, method, headers, status, in, out, duration,
#:  stream id, upstream, error)
Entry = tuple[
    float, "str | None", str, bytes, Any, bytes, int, int, float, int,
    "tuple[str, str, int] | None", "str | None",
]  # fmt: skip


def _error_code(error: BaseException | None) -> str | None:
    if error is None:
        return None
    if isinstance(error, StreamError):
        return code_name(error.code)
    if isinstance(error, ConnectionClosed):
        return "connection_closed" if error.code is None else code_name(error.code)
    return type(error).__name__


def _field(value: bytes) -> str:
    text = value.decode("latin-1")
    if len(text) > MAX_FIELD:
        text = text[:MAX_FIELD] + "..."
    return text


_SECOND: list[Any] = [-1, ""]


def _stamp(at: float) -> str:
    """``2026-12-07T15:03:02.123Z`` (the seconds part formatted once per second)."""
    second = int(at)
    if second != _SECOND[0]:
        _SECOND[:] = [second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))]
    return f"{_SECOND[1]}.{int(at % 1 * 1000):03d}Z"


def _target(headers: Any) -> tuple[bytes, bytes]:
    """``(path, authority)`` of request ``headers``."""
    path = authority = b""
    for name, value in headers or ():
        if name == b":path":
            path = value
        elif name == b":authority" or (name == b"host" and not authority):
            authority = value
    return path, authority


def _fields(entry: Entry) -> dict[str, Any]:
    at, conn, protocol, method, headers, status, got, sent, duration, sid, upstream, error = entry
    peer = conn.rsplit(" ", 1)[0] if conn else "-"
    path, authority = _target(headers)
    fields: dict[str, Any] = {
        "time": _stamp(at),
        "peer": peer,
        "protocol": protocol,
        "method": method.decode("latin-1") or "-",
        "authority": _field(authority) or "-",
        "path": _field(path),
        "status": int(status) if status.isdigit() else None,
        "bytes_in": got,
        "bytes_out": sent,
        "duration_s": round(duration, 6),
        "stream_id": sid,
    }
    if upstream is not None:
        fields["cluster"], fields["upstream"], fields["attempts"] = upstream
    if error is not None:
        fields["error"] = error
    return fields


def format_json(entry: Entry) -> str:
    """One JSON object per line."""
    return json.dumps(_fields(entry), separators=(",", ":"))


def _quoted(value: bytes) -> str:
    """``value`` in double quotes; escaped as JSON when it holds quotes, backslashes,
    control or non-ASCII bytes (a log line never carries raw control characters)."""
    text = _field(value)
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    return json.dumps(text)


def format_text(entry: Entry) -> str:
    """The readable default (see the module docstring)."""
    at, conn, protocol, method, headers, status, got, sent, duration, sid, upstream, error = entry
    path = authority = b""
    for name, value in headers or ():
        if name == b":path":
            path = value
        elif name == b":authority" or (name == b"host" and not authority):
            authority = value
    line = (
        f"{_stamp(at)} {conn.rsplit(' ', 1)[0] if conn else '-'} {protocol} "
        f"{method.decode('latin-1') or '-'} {_field(authority) or '-'} {_quoted(path)} "
        f"{status.decode('latin-1') or '-'} {got} {sent} {duration * 1000:.1f}ms sid={sid}"
    )
    if upstream is not None:
        line += f" upstream={upstream[1] or '-'} attempts={upstream[2]}"
    if error is not None:
        line += f" error={error}"
    return line


class AccessLog:
    """A bounded queue of finished requests and the thread writing them.

    Args:
        target: a path, or ``"-"`` for standard output.
        json_format: one JSON object per line instead of the text format.
    """

    def __init__(self, target: str, *, json_format: bool = False) -> None:
        self.target = target
        self._format = format_json if json_format else format_text
        self._queue: deque[Entry] = deque()
        self._stop = threading.Event()
        self._closed = False
        self._file: IO[str] | None = None
        self._thread: threading.Thread | None = None
        #: Lines dropped because the queue was full.
        self.dropped = 0
        #: Lines written.
        self.written = 0

    def start(self) -> None:
        """Open the target (raises OSError now, not in the thread) and start writing."""
        if self.target == "-":
            self._file = sys.stdout
        else:
            self._file = open(self.target, "a", encoding="utf-8")  # noqa: SIM115
        self._thread = threading.Thread(target=self._run, name="mux-access-log", daemon=True)
        self._thread.start()

    def add(
        self,
        stream: Stream,
        connection: str | None,
        protocol: str,
        method: bytes,
        error: BaseException | None,
        duration: float,
    ) -> None:
        """Queue one finished request (event loop side: no formatting, no I/O)."""
        queue = self._queue
        if len(queue) >= QUEUE_LIMIT:
            self.dropped += 1
            return
        queue.append(
            (
                time.time(), connection, protocol, method, stream.headers, stream.status,
                stream.received_bytes, stream.sent_bytes, duration, stream.stream_id,
                stream.upstream, None if error is None else _error_code(error),
            )
        )  # fmt: skip

    def _run(self) -> None:
        queue = self._queue
        while True:
            closed = self._closed
            self._drain(queue)
            if closed:
                return
            self._stop.wait(WRITE_INTERVAL)

    def _drain(self, queue: deque[Entry]) -> None:
        lines = []
        while queue:
            try:
                lines.append(self._format(queue.popleft()))
            except Exception as exc:  # a line that cannot be formatted must not stop the log
                lines.append(f"access log: cannot format an entry: {exc!r}")
        if lines and self._file is not None:
            try:
                self._file.write("\n".join(lines) + "\n")
                self._file.flush()
            except (OSError, ValueError):
                self.dropped += len(lines)
                return
            self.written += len(lines)

    def close(self) -> None:
        """Write what is queued, stop the thread, close the file."""
        self._closed = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._file is not None and self._file is not sys.stdout:
            self._file.close()


__all__ = ["QUEUE_LIMIT", "WRITE_INTERVAL", "AccessLog", "format_json", "format_text"]
