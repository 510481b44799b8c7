"""Handler tasks, draining and closing of :class:`~mux.driver.connection.ConnectionDriver`.

Theory of operation
-------------------
Closing is one path, :meth:`LifecycleMixin._close`: record why, fail every
unfinished stream with :class:`mux.errors.ConnectionClosed` (saying whether its
request may have been processed), queue GOAWAY if asked, let the flusher finish
for at most ``close_flush`` seconds, then cancel the nursery.

**Lingering close** (as nginx and Apache do it): when the connection closes
because of the peer (a protocol error or a frame/handshake timeout: a GOAWAY
with an error code), or once a server's streams-per-connection cap sent its
final GOAWAY and the streams are done (the client may still be sending streams
it opened before it read the GOAWAY), and that GOAWAY went to the kernel whole, closing the TCP
socket at once would find the peer's unread bytes in our receive buffer, and
the kernel would answer with RST. An RST discards what we sent and the peer
did not read yet (our own kernel drops its unsent tail at once), so the peer
would see "connection reset" instead of the GOAWAY naming its error. Instead,
once the nursery is gone, ``run`` calls :meth:`LifecycleMixin._linger`: it
half-closes (``send_eof``) and reads and discards what the peer still sends
until its EOF, for at most :data:`~mux.driver.tuning.LINGER` seconds and
:data:`~mux.driver.tuning.LINGER_BYTES` bytes, in the ``run`` task (no extra
task, nothing kept). Plain TCP only: TLS has no half-close, so a TLS peer
would see no EOF until the linger ran out. It is not done when the peer
closed first, the transport broke, the GOAWAY is not out whole (judged when
the close flush ends: frames queued after the nursery is cancelled, such as
refusals of the client's late streams, are dropped and do not count), or the local
side asked to end the connection (:meth:`LifecycleMixin._stop_linger`: ``aclose``, a graceful
shutdown, which also stops a linger under way); an outside cancellation (a
server's drain timeout) interrupts it like any wait.

**Early responses**: a handler that completes its response before the
request body ended (404, 413, an early error) leaves the stream to
:meth:`LifecycleMixin._discard_request_body`, which reads and drops the rest,
credit returned at once, within :data:`DISCARD_TIME` and
:data:`DISCARD_BYTES`, and resets with NO_ERROR only past them.

Graceful shutdown (:meth:`LifecycleMixin.start_graceful_shutdown`) on a server
sends GOAWAY(2**31-1) and a PING; on the PONG (or after ``shutdown_ping``
seconds) it sends the final GOAWAY(last processed id) and closes once no
stream or handler is left (:meth:`LifecycleMixin._maybe_finish`). A client
stops opening streams and closes once idle.

The peer's GOAWAY (any code) does not close the connection under its
in-flight streams: they complete and PINGs are answered; then we send our own
GOAWAY (NO_ERROR, the last stream processed: RFC 9113 §6.8) and close, naming
the peer's error code if it carried one. An engine that the peer's GOAWAY
closed at once (mux with an error code, spec 9.1) closes the driver at once.

Every GOAWAY handed to the engine is counted by code
(:data:`mux.ops.counters.DRIVER_COUNTERS`).
"""

from __future__ import annotations

import logging
import math
import socket
from typing import TYPE_CHECKING

import trio

from mux.driver.tuning import LINGER, LINGER_BYTES, MAX_STREAM_ID, RECEIVE_SIZE, SHUTDOWN_PING
from mux.driver.writer import WriterMixin
from mux.errors import ConnectionClosed, ErrorCode, LocalProtocolError, StreamError, code_name
from mux.ops.counters import DRIVER_COUNTERS

if TYPE_CHECKING:
    from mux.driver.stream import Stream

logger = logging.getLogger("mux.driver")

#: After an early response (the handler finished before the request body did),
#: the rest of the body is read and dropped for at most this many seconds...
DISCARD_TIME = 1.0
#: ...and this many bytes (flow-controlled), like nginx's discarded body; past
#: either bound the stream is reset with NO_ERROR (HTTP/1.1: the connection
#: closes after the response).
DISCARD_BYTES = 1024 * 1024

_SO_RCVLOWAT: int | None = getattr(socket, "SO_RCVLOWAT", None)


class LifecycleMixin(WriterMixin):
    """Handler tasks, graceful shutdown and close."""

    __slots__ = ()

    def start_graceful_shutdown(self) -> None:
        """Stop taking new streams; close once in-flight streams finish.

        Server: two-step GOAWAY (2**31-1 + PING, then the last processed id).
        Client: GOAWAY(NO_ERROR) and no new streams.
        """
        if self._shutting_down or self._closing:
            return
        if self._nursery is None:
            self._shutdown_on_start = True
            return
        self._shutting_down = True
        if self._engine.client_side:
            self._engine.close_connection(ErrorCode.NO_ERROR)
            self._final_goaway_sent = True
            DRIVER_COUNTERS.goaway_sent["NO_ERROR"] += 1
        else:
            try:
                self._engine.close_connection(ErrorCode.NO_ERROR, last_stream_id=MAX_STREAM_ID)
                DRIVER_COUNTERS.goaway_sent["NO_ERROR"] += 1
                self._engine.ping(SHUTDOWN_PING)
            except LocalProtocolError:
                # The engine is past GOAWAY (e.g. h2 after the peer's GOAWAY):
                # no new streams can come, so the last step is already done.
                self._final_goaway_sent = True
            else:
                self._shutdown_ping_at = trio.current_time() + self._timeouts.shutdown_ping
        self._rearm_timers()
        self._unpark_slots()
        self._wake_writer()
        self._maybe_finish()

    # ------------------------------------------------------ handlers/streams

    async def _run_handler(self, stream: Stream) -> None:
        assert self._on_stream is not None
        try:
            with trio.CancelScope() as scope:
                stream._handler_scope = scope
                await self._on_stream(stream)
        except (StreamError, ConnectionClosed) as exc:
            logger.debug("stream %d ended early: %s", stream.stream_id, exc)
        except Exception:
            logger.exception("handler for stream %d failed", stream.stream_id)
        finally:
            stream._handler_scope = None
            self._active_handlers -= 1
            try:
                if not stream.local_ended:
                    stream.reset(ErrorCode.INTERNAL_ERROR)
                elif not stream.is_done:
                    await self._discard_request_body(stream)
            finally:
                self._became_quieter()

    async def _discard_request_body(self, stream: Stream) -> None:
        """Response complete, request body not: read and drop the rest for at
        most :data:`DISCARD_TIME` s and :data:`DISCARD_BYTES` bytes, then
        reset with NO_ERROR (a no-op if the body ended meanwhile)."""
        stream.deadline = math.inf  # bounded by DISCARD_TIME instead
        stream._discard_rest(DISCARD_BYTES)
        try:
            with trio.move_on_after(DISCARD_TIME):
                while not stream.is_done:
                    await stream._park()
        finally:
            stream.reset(ErrorCode.NO_ERROR)

    def _became_quieter(self) -> None:
        if not self._streams and not self._active_handlers:
            self._idle_since = now = trio.current_time()
            if self._can_park is not None:
                self._park_at = now + self._park_delay
            self._rearm_timers()
            if self._pending_events is not None and getattr(self._engine, "must_close", False):
                done = ConnectionClosed("HTTP/1.1 exchange complete", code=ErrorCode.NO_ERROR)
                self._close(done)
                return
            self._maybe_finish()

    def _send_final_goaway(self) -> None:
        self._shutdown_ping_at = None
        if self._final_goaway_sent or self._closing:
            return
        self._final_goaway_sent = True
        try:
            self._engine.close_connection(ErrorCode.NO_ERROR)
            DRIVER_COUNTERS.goaway_sent["NO_ERROR"] += 1
        except LocalProtocolError:
            pass  # the engine is already past GOAWAY
        self._wake_writer()
        self._maybe_finish()

    def _maybe_finish(self) -> None:
        """Close once draining is complete (shutdown or peer GOAWAY, nothing in flight)."""
        if self._closing or self._streams or self._active_handlers:
            return
        goaway = self._goaway
        if goaway is not None:
            # The peer's GOAWAY, its streams done: answer with ours (RFC 9113
            # §6.8: say what was processed before closing), then close.
            answer = None if self._final_goaway_sent else ErrorCode.NO_ERROR
            self._close(self._peer_goaway_error(), answer, b"closing after the peer's GOAWAY")
        elif self._final_goaway_sent:
            done = ConnectionClosed("connection shut down gracefully", code=ErrorCode.NO_ERROR)
            self._close(done)

    def _peer_goaway_error(self) -> ConnectionClosed:
        """Why the connection ends after the peer's GOAWAY: with an error code,
        that error named (not "gracefully")."""
        goaway = self._goaway
        if goaway is None or goaway.error_code == ErrorCode.NO_ERROR:
            return ConnectionClosed("connection shut down gracefully", code=ErrorCode.NO_ERROR)
        debug = goaway.debug_data[:200].decode("utf-8", "replace")
        reason = f"peer sent GOAWAY({code_name(goaway.error_code)})"
        return ConnectionClosed(reason + (f": {debug}" if debug else ""), code=goaway.error_code)

    # ----------------------------------------------------------------- close

    def _close(
        self, error: ConnectionClosed, goaway: ErrorCode | None = None, debug: bytes = b""
    ) -> None:
        """The one way a connection ends (idempotent); see the module docstring."""
        if self._closing:
            return
        self._closing = True
        self._error = error
        if goaway is not None:
            try:
                self._engine.close_connection(goaway, debug_data=debug)
                DRIVER_COUNTERS.goaway_sent[code_name(goaway)] += 1
            except LocalProtocolError:
                pass
        for stream in list(self._streams.values()):
            stream._fail(self._stream_error(stream, str(error)))
        self._streams.clear()
        self._unpark_slots()
        self._wake_writer()
        self._spawn(self._finish_close)

    async def _finish_close(self) -> None:
        with trio.move_on_after(self._timeouts.close_flush):
            while self._flushing:
                if self._flush_done is None:
                    self._flush_done = trio.Event()
                await self._flush_done.wait()
        # Judged now, not when ``run`` decides to linger: once the nursery is
        # cancelled, the reader may still queue frames (answers to the peer's
        # late frames) whose flusher dies cancelled, leaving them in ``_carry``;
        # they must not cancel the linger that protects what went out before.
        self._close_flushed = not (
            self._flushing or self._dirty or self._carry or self._unsent or self._sending
        )
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    # --------------------------------------------------------- lingering close

    def _should_linger(self) -> bool:
        """Closing for the peer's fault, our GOAWAY out whole, over TCP (module docstring)."""
        error = self._error
        code = error.code if error is not None else None
        return (
            LINGER > 0
            and code is not None
            and (code != ErrorCode.NO_ERROR or self._streams_exhausted())
            and not self._shutting_down
            and self._goaway is None  # the peer ended it: nothing of ours to protect
            and self._close_flushed  # our last bytes (GOAWAY, responses) are out whole
            # Plain TCP only: TLS cannot half-close, so the peer would see no
            # EOF until the linger ran out (the conformance suite over TLS
            # waits for one after the GOAWAY).
            and type(self._transport) is trio.SocketStream
        )

    def _streams_exhausted(self) -> bool:
        """A server closing after the final GOAWAY of its streams-per-connection
        cap: the client may still be sending streams it opened before it read
        the GOAWAY, and closing on them would reset what we sent last."""
        return (
            not self._engine.client_side
            and self._final_goaway_sent
            and getattr(self._engine, "streams_exhausted", False)
        )

    async def _linger(self) -> None:
        """Half-close, then read and discard until the peer's EOF (bounded).

        Runs in the ``run`` task after the nursery is gone, so only an outside
        cancellation or :meth:`_stop_linger` (through ``_timer_scope``, the
        scope the reader task waits in) can cut it short.
        """
        transport = self._transport
        sock = _tcp_socket(transport)
        if sock is None:
            return
        try:
            if isinstance(transport, trio.SocketStream):
                await transport.send_eof()
            if _SO_RCVLOWAT is not None:
                # The bulk reader may have left a high mark: wake on any byte.
                sock.setsockopt(socket.SOL_SOCKET, _SO_RCVLOWAT, 1)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            return
        left = LINGER_BYTES
        # Two scopes: _rearm_timers may move the inner one's deadline, never
        # past the outer bound.
        with trio.move_on_after(LINGER), trio.CancelScope() as scope:
            self._timer_scope = scope
            try:
                while left > 0:
                    data = await transport.receive_some(min(left, RECEIVE_SIZE))
                    if not data:
                        break
                    left -= len(data)  # dropped: nothing is kept
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
            finally:
                self._timer_scope = None

    def _stop_linger(self) -> None:
        """The local side ends the connection: stop lingering (or never start)."""
        if not self._closing:
            return
        self._shutting_down = True
        if self._timer_scope is not None:
            self._timer_scope.cancel()

    def _stream_error(self, stream: Stream, reason: str) -> ConnectionClosed:
        goaway = self._goaway
        base = self._error
        code = goaway.error_code if goaway is not None else (base.code if base else None)
        last = goaway.last_stream_id if goaway is not None else None
        if self._engine.client_side and last is not None and stream.stream_id > last:
            fate = "was not processed by the peer (safe to retry)"
        elif self._engine.client_side:
            fate = "may have been processed by the peer"
        else:
            fate = "was interrupted"
        name = f" ({code_name(code)})" if code is not None else ""
        return ConnectionClosed(
            f"{reason}{name}: stream {stream.stream_id} {fate}", code=code, last_stream_id=last
        )


def _tcp_socket(transport: trio.abc.Stream) -> trio.socket.SocketType | None:
    """The TCP socket under a plain or TLS socket stream (None: another transport)."""
    if isinstance(transport, trio.SSLStream):
        transport = transport.transport_stream
    return transport.socket if isinstance(transport, trio.SocketStream) else None
