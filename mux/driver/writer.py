"""The flusher and send-side bookkeeping of :class:`~mux.driver.connection.ConnectionDriver`.

Theory of operation
-------------------
Every command (from any task) queues bytes in the engine and calls
:meth:`WriterMixin._wake_writer`, which starts one flusher task if none runs.
The flusher commits deferred response headers/data, then sends what the
engine queued as ONE send per round (commands of the same scheduler tick
share a syscall) and exits once nothing is left, so an idle connection has no
writer task. A send that makes no progress for ``send_stall`` seconds closes
the connection. Streams waiting for flow-control window or for the send
backlog to drain are woken after each round.

On a plain socket a round is first written with ``writev`` without waiting
(:func:`write_now`); only what the socket does not take goes through Trio's
``sendmsg`` wait (:func:`send_vectored`), under the stall timer. A flush that
wrote :data:`BURST` bytes without waiting checkpoints, so a bulk writer still
lets other tasks run. Two shortcuts skip the flusher task:

* a write of :data:`~mux.driver.stream.INLINE_SEND` bytes or more, with no
  flusher running, is flushed by the writing task itself
  (:meth:`WriterMixin._flush_inline`); if that task is cancelled mid-send,
  the unsent views (whole frames: ``_carry``) go to a flusher task;
* an acknowledgement that queues a WINDOW_UPDATE writes it at once
  (:meth:`WriterMixin._send_now`).

A send that fails (the peer reset the connection) on a client first feeds the
engine what the peer sent before the reset and is still readable
(:meth:`WriterMixin._take_received`): a GOAWAY there tells the streams the
server never processed (safe to retry) from those it may have.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

import trio

from mux.driver.base import DriverBase
from mux.errors import ConnectionClosed, ErrorCode, LocalProtocolError

#: Tiny DATA pieces (see ``mux.driver.credit.TINY_PIECE``) a connection may
#: send at once, before pacing applies...
TINY_BURST = 200.0
#: ...then at most this many per second: a peer that grants 1-byte windows
#: one at a time (and answers each 1-byte frame with the next byte) costs
#: bounded CPU instead of a wake-up, an engine call and a send per byte.
TINY_RATE = 100.0

if TYPE_CHECKING:
    from mux.driver.stream import Stream

logger = logging.getLogger("mux.driver")


#: Below this many bytes a round is joined and sent with ``send_all``.
VECTORED_SEND = 65536
#: At most this many buffers per ``sendmsg`` call (POSIX IOV_MAX is >= 16).
_IOV_MAX = 512
#: Largest round :meth:`WriterMixin._send_now` writes synchronously (bytes).
SEND_NOW_MAX = 4096

#: ``writev(2)`` for synchronous first attempts (POSIX only).
_WRITEV: Callable[[int, list[memoryview]], int] | None = getattr(os, "writev", None)
#: Bytes a flush may write without a scheduler round before it checkpoints.
BURST = 1 << 20
#: After a failed send, at most this many already received bytes are fed to
#: the engine (:meth:`WriterMixin._take_received`) before the streams fail.
DRAIN_BYTES = 1 << 20

Buffer = bytes | memoryview


def _reason(exc: BaseException) -> str:
    """A transport error in words (``[Errno 104] Connection reset by peer``), no repr."""
    cause = exc.__cause__
    return str(cause) if isinstance(cause, OSError) else str(exc) or type(exc).__name__


def _trim(views: list[memoryview], sent: int) -> None:
    """Drop the first ``sent`` bytes from ``views`` (whole buffers, then a part)."""
    done = 0
    while sent:
        n = views[done].nbytes
        if sent < n:
            views[done] = views[done][sent:]
            break
        sent -= n
        done += 1
    del views[:done]


def write_now(fd: int, views: list[memoryview]) -> int:
    """Write as much of ``views`` as the socket takes without waiting (``writev``).

    Trims ``views`` like :func:`send_vectored`; returns the bytes written.

    Raises:
        trio.BrokenResourceError: the socket failed.
    """
    total = 0
    try:
        while views:
            sent = _WRITEV(fd, views[:_IOV_MAX])  # type: ignore[misc]
            total += sent
            _trim(views, sent)
    except BlockingIOError:
        pass
    except OSError as exc:
        raise trio.BrokenResourceError(f"socket send failed: {exc!r}") from exc
    return total


async def send_vectored(sock: trio.socket.SocketType, views: list[memoryview]) -> None:
    """Send ``views`` in order with as few ``sendmsg`` calls as the kernel allows.

    Progress is kept in ``views`` itself: sent buffers are removed and a
    partly sent one is trimmed, so if the wait for the socket is cancelled
    (a trio socket call that sent bytes is never cancelled afterwards),
    ``views`` holds exactly the bytes still to send, frames intact.

    Raises:
        trio.BrokenResourceError: the socket failed (like ``SocketStream.send_all``).
    """
    try:
        while views:
            _trim(views, await sock.sendmsg(views[:_IOV_MAX]))
    except OSError as exc:
        raise trio.BrokenResourceError(f"socket send failed: {exc!r}") from exc


class WriterMixin(DriverBase):
    """The on-demand flusher task, deferred commits and window waiters."""

    __slots__ = ()

    if TYPE_CHECKING:

        def _feed(self, data: bytes) -> None:
            """Defined by :class:`~mux.driver.dispatch.ReaderMixin`."""

    # ---------------------------------------------------------------- writer

    async def _flusher(self) -> None:
        """Send everything queued, one send per round, then exit.

        Started on demand by :meth:`_wake_writer` (at most one at a time), it
        runs after the tasks woken in the same scheduler tick queued their
        bytes, so they share a syscall; an idle connection has no writer task.
        """
        try:
            await self._flush_rounds(None)
        finally:
            self._flush_finished(handed_over=False)

    async def _flush_inline(self) -> None:
        """Flush in the calling task (a bulk writer) instead of a flusher task.

        The caller checked :meth:`_can_flush_inline`. At most two rounds run
        here; what is queued after them, or left by a cancellation of the
        caller (``_carry``, whole frames), goes to a flusher task.
        """
        self._flushing = True
        handed_over = True
        try:
            await self._flush_rounds(2)
            handed_over = False
        finally:
            self._flush_finished(handed_over=handed_over)
            if handed_over or self._dirty:
                self._wake_writer()

    def _can_flush_inline(self) -> bool:
        """No flusher runs and the transport is a plain socket (sends are resumable)."""
        return not self._flushing and type(self._transport) is trio.SocketStream

    def _flush_finished(self, *, handed_over: bool) -> None:
        if not handed_over:
            self._sending = 0
        self._flushing = False
        if self._flush_done is not None:
            self._flush_done.set()
            self._flush_done = None

    async def _flush_rounds(self, max_rounds: int | None) -> None:
        """Send rounds (each: commit deferred, drain the engine, one send).

        On a socket a round is first written without waiting (``writev``); the
        stall timer and the awaited send only come in when the socket is full.
        """
        transport = self._transport
        sock = transport.socket if type(transport) is trio.SocketStream else None
        rounds = 0
        try:
            while self._carry or self._dirty:
                if max_rounds is not None and rounds >= max_rounds:
                    return
                rounds += 1
                joined = b"" if self._carry else self._next_round(sock)
                if sock is not None and self._carry and self._unyielded < BURST and _WRITEV:
                    # A cancelled flush writes nothing, like the awaited send.
                    await trio.lowlevel.checkpoint_if_cancelled()
                    self._unyielded += write_now(sock.fileno(), self._carry)
                if joined or self._carry:
                    self._unyielded = 0
                    with trio.move_on_after(self._stall_limit) as stall:
                        if sock is None:
                            await transport.send_all(joined)
                        else:
                            await send_vectored(sock, cast(list[memoryview], self._carry))
                    if stall.cancelled_caught:
                        self._close(
                            ConnectionClosed(
                                f"timeout: peer read nothing for {self._stall_limit} s"
                            )
                        )
                        return
                elif self._unyielded >= BURST:
                    # Written without waiting for a while: let other tasks run.
                    self._unyielded = 0
                    await trio.lowlevel.checkpoint()
                self._carry = None
                self._sending = 0
                if self._window_waiters:
                    self._wake_window_waiters()
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            self._carry = None
            if sock is not None and self._engine.client_side:
                self._take_received(sock)
            self._close(ConnectionClosed(f"transport failed while sending: {_reason(exc)}"))

    def _take_received(self, sock: trio.socket.SocketType) -> None:
        """A send failed: feed the engine what the peer sent before its reset.

        Linux keeps bytes that arrived before an RST readable after it; they
        may hold the peer's last GOAWAY, whose ``last_stream_id`` tells the
        streams it never processed (safe to retry) from the others. Read
        without waiting, at most :data:`DRAIN_BYTES`, before the streams fail.
        Client side only: a server could answer nothing more, and must not
        start handlers for requests it finds there. Plain TCP only: a TLS
        record cannot be read past the reader task, which owns the stream.
        """
        left = DRAIN_BYTES
        fd = sock.fileno()
        while left > 0 and not self._closing:
            try:
                data = os.read(fd, min(left, 65536))
            except OSError:  # nothing more (EAGAIN), or the reset itself
                return
            if not data:
                return  # EOF: the close below says why
            left -= len(data)
            self._feed(data)

    def _next_round(self, sock: trio.socket.SocketType | None) -> Buffer:
        """Commit deferred streams and drain the engine into the next round.

        On a socket the round becomes ``_carry`` (views, sent in place);
        otherwise it is returned joined, for ``send_all``.
        """
        self._dirty = False
        if self._deferred:
            self._commit_deferred()
            self._dirty = False  # what it queued goes out below
        engine = self._engine
        # Engines that can (MuxConnection) hand out big payloads uncopied.
        drain = getattr(engine, "data_to_send_chunks", None)
        chunks: list[Buffer] = drain() if drain is not None else [engine.data_to_send()]
        size = sum(map(len, chunks))
        if not size:
            return b""
        self._sending = size
        self._unsent = 0
        self.bytes_sent += size
        if sock is None:
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if len(chunks) > 1 and size < VECTORED_SEND:
            chunks = [b"".join(chunks)]
        self._carry = [memoryview(chunk) for chunk in chunks]
        return b""

    @property
    def _stall_limit(self) -> float:
        stall = self._timeouts.send_stall
        return math.inf if stall is None else stall

    def _defer(self, stream: Stream) -> None:
        """``stream`` holds headers/data for the engine: commit them at the flush."""
        if self._deferred is None:
            self._deferred = []
        self._deferred.append(stream)
        self._wake_writer()

    def _commit_deferred(self) -> None:
        deferred, self._deferred = self._deferred, None
        for stream in deferred or ():
            if stream._pending_headers is None and stream._pending_data is None:
                continue  # committed or dropped meanwhile
            try:
                stream._commit(False)
            except LocalProtocolError as exc:
                logger.error("stream %d: response headers refused: %s", stream.stream_id, exc)
                stream.reset(ErrorCode.INTERNAL_ERROR)

    def _wake_writer(self) -> None:
        """Bytes were queued in the engine: make sure a flusher will send them."""
        self._dirty = True
        if not self._flushing and self._nursery is not None:
            self._flushing = self._spawn(self._flusher)

    def _wake_writer_if_queued(self) -> None:
        """:meth:`_wake_writer` unless the engine tells it queued nothing."""
        if getattr(self._engine, "has_data_to_send", True) or self._deferred:
            self._wake_writer()

    def _note_queued(self, size: int) -> None:
        self._unsent += size
        self._wake_writer()

    def _acknowledge(self, stream_id: int, size: int) -> None:
        if size and not self._closing:
            self._engine.acknowledge_received_data(size, stream_id)
            # Most acknowledgements queue no WINDOW_UPDATE (credit goes back in
            # batches): start no flusher for them; send the others right away.
            if (
                getattr(self._engine, "has_data_to_send", True) and not self._send_now()
            ) or self._deferred:
                self._wake_writer()
            if self._read_lot is not None:
                self._read_lot.unpark_all()

    def _send_now(self) -> bool:
        """Write the engine's few queued bytes at once, without a flusher task.

        For the bulk receive path, where a WINDOW_UPDATE would otherwise start a
        task of its own. Only on a plain socket with no flusher and nothing
        deferred, and only a small round; what the socket does not take at once
        becomes the ``_carry`` of a flusher (the caller starts it).

        Returns:
            True when nothing is left to send.
        """
        transport = self._transport
        if (
            _WRITEV is None
            or self._flushing
            or self._deferred
            or type(transport) is not trio.SocketStream
        ):
            return False
        data = self._engine.data_to_send()
        if not data:
            return True
        self.bytes_sent += len(data)
        views = [memoryview(data)]
        if len(data) <= SEND_NOW_MAX:
            try:
                write_now(transport.socket.fileno(), views)
            except trio.BrokenResourceError:
                pass  # the flusher meets the error again and closes
        if not views:
            return True
        self._carry = views
        self._sending = views[0].nbytes
        return False

    def _tiny_send_wait(self) -> float:
        """Seconds to wait before sending a tiny DATA piece (0: send now, a
        token is taken). A token bucket per connection: :data:`TINY_BURST`
        pieces, then :data:`TINY_RATE` per second (see Stream._wait_for_credit)."""
        now = trio.current_time()
        tokens, at = self._tiny_pace if self._tiny_pace is not None else (TINY_BURST, now)
        tokens = min(TINY_BURST, tokens + (now - at) * TINY_RATE)
        if tokens >= 1:
            self._tiny_pace = (tokens - 1, now)
            return 0.0
        self._tiny_pace = (tokens, now)
        return (1 - tokens) / TINY_RATE

    def _wake_window_waiters(self) -> None:
        if self._window_waiters:
            for stream in list(self._window_waiters):
                stream._wake()

    def _add_window_waiter(self, stream: Stream) -> None:
        if self._window_waiters is None:
            self._window_waiters = set()
        self._window_waiters.add(stream)

    def _discard_window_waiter(self, stream: Stream) -> None:
        if self._window_waiters is not None:
            self._window_waiters.discard(stream)
