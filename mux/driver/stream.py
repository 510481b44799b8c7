"""The one stream abstraction: a request/response exchange over any engine.

Theory of operation
-------------------
A :class:`Stream` is a small slotted object owned by a
:class:`~mux.driver.connection.ConnectionDriver`. It has no task of its own:
the driver's reader task pushes events into it (``_on_*`` methods) and wakes
whoever waits on it; application tasks call the public ``send_*`` /
``receive_*`` coroutines, which issue engine commands and wake the driver's
flusher (see :meth:`ConnectionDriver._wake_writer`).

It is forwardable: headers, body chunks, trailers, end and reset are explicit,
so a gateway can copy one stream onto another frame by frame.

Backpressure: ``send_data`` never hands the engine more than the peer's
flow-control window (large chunks go out in pieces as credit arrives) and also
waits while the connection's unsent bytes are above a high-water mark (a peer
that stops reading TCP cannot make us buffer). Received data stays in a queue
bounded by the window we advertise; :meth:`Stream.receive_data` acknowledges
each chunk to the engine only when the application takes it, so credit goes
back to the peer only as fast as the application consumes.

HEAD (server side): the response to a HEAD request is its headers only,
whatever the handler writes: :meth:`Stream.send_headers` sends them with
END_STREAM (``content-length`` kept) and later body, trailers and ``end``
calls are dropped, so every protocol (HTTP/2, mux, HTTP/1.1) behaves alike.

Early responses (server side): when a handler completes its response before
the request body has all arrived, the rest of the body is read and dropped
(credit returned at once) for a bounded time and byte count, and the stream is
reset with NO_ERROR only past the bound (:meth:`Stream._discard_rest`, bounds
in :mod:`mux.driver.lifecycle`), as nginx discards a body: a client still
sending sees its stream end normally instead of a reset.

Errors: once reset, every call raises :class:`mux.errors.StreamReset`
(:class:`mux.errors.StreamRefused` for REFUSED_STREAM); when the connection
ends they raise :class:`mux.errors.ConnectionClosed`. A stream whose peer half
already ended (END_STREAM received) still yields its buffered body afterwards.
A finite :attr:`Stream.deadline` makes every wait raise :class:`trio.TooSlowError`
after resetting the stream with CANCEL. Waiting for send credit (silly-window
floor, tiny-piece pacing, the send-stall timeout that resets with CANCEL) is
:mod:`mux.driver.credit`.

What a stream waits for (a window, the peer, the application's reason given
to :meth:`Stream.set_wait`) is kept in slots where the wait happens, for the
admin API's stream table (:mod:`mux.driver.waits`, :mod:`mux.admin.streams`).
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING

import trio

from mux.core.events import Headers
from mux.driver.credit import SEND_FLOOR, wait_for_credit
from mux.driver.waits import Wait
from mux.errors import ErrorCode, LocalProtocolError, StreamRefused, StreamReset

if TYPE_CHECKING:
    from mux.driver.connection import ConnectionDriver

__all__ = ["ACK_BATCH", "INLINE_SEND", "MAX_SEND_PIECE", "SEND_FLOOR", "Stream"]

#: Largest piece handed to the engine at once (bytes): bounds what a sender adds
#: to the connection's unsent buffer in one step. The mux engine queues big
#: ``bytes`` by reference (no copy) and splits them into frames itself, so a
#: 1 MiB write costs one credit wait and one engine call, not sixteen.
MAX_SEND_PIECE = 1048576
#: From this many bytes on, a write with no flusher running is sent by the
#: writing task itself (bulk: no task hand-off per write); smaller writes are
#: left to the flusher, which joins the writes of one scheduler tick.
INLINE_SEND = 65536
#: The wait reason of a stream nothing holds (a module constant: no enum lookup per stream).
_NO_WAIT = Wait.NONE
#: Credit of chunks taken from one receive batch is returned in one
#: acknowledgement when the batch is used up, or once this many bytes add up
#: (a bulk reader's burst of four 256 KiB payloads costs one engine call).
ACK_BATCH = 1048576


class Stream:
    """One logical request/response stream on a connection.

    Attributes:
        stream_id: the stream id.
        headers: the peer's headers (request headers on a server, response
            headers on a client); ``None`` until they arrive.
        trailers: the peer's trailers, once received.
        deadline: a :func:`trio.current_time` value after which every wait fails.
    """

    __slots__ = (
        "_buffered",
        "_chunks",
        "_discard_left",
        "_driver",
        "_error",
        "_filled_since",
        "_handler_scope",
        "_head",
        "_headers_sent",
        "_local_ended",
        "_lot",
        "_peak_window",
        "_pending_data",
        "_pending_headers",
        "_recv_since",
        "_remote_ended",
        "_send_since",
        "_send_wait",
        "_unacked",
        "bytes_in",
        "bytes_out",
        "deadline",
        "headers",
        "opened_at",
        "received_bytes",
        "request_headers",
        "sent_bytes",
        "status",
        "stream_id",
        "trailers",
        "upstream",
        "wait",
        "wait_since",
    )

    def __init__(
        self,
        driver: ConnectionDriver,
        stream_id: int,
        *,
        headers: Headers | None = None,
        remote_ended: bool = False,
        headers_sent: bool = False,
        head: bool = False,
    ) -> None:
        self._driver = driver
        self.stream_id = stream_id
        self.headers = headers
        self.trailers: Headers | None = None
        self.deadline = math.inf
        self._chunks: deque[tuple[bytes, int]] | None = None
        self._buffered = 0
        self._unacked = 0
        self._remote_ended = remote_ended
        self._local_ended = False
        self._headers_sent = headers_sent
        self._pending_headers: Headers | None = None
        self._pending_data: bytes | None = None
        #: Largest send window the peer granted this stream (silly-window floor).
        self._peak_window = 0
        self._error: BaseException | None = None
        self._lot: trio.lowlevel.ParkingLot | None = None
        self._handler_scope: trio.CancelScope | None = None
        #: Server side of a HEAD request: the response is its headers only.
        self._head = head
        #: Request body bytes still discarded after an early response (-1: not discarding).
        self._discard_left = -1
        # What it waits for (mux.driver.waits): the time a wait began, 0.0: none.
        # A request arrives in a read: that read's time costs no clock call.
        self.opened_at = driver._last_received if headers is not None else trio.current_time()
        #: Client side: the request headers sent (for the admin API).
        self.request_headers: Headers | None = None
        #: ``wait``: set by the application (:meth:`set_wait`), e.g. the gateway's forwarder.
        self._send_wait = self.wait = _NO_WAIT
        self._send_since = self._recv_since = self.wait_since = self._filled_since = 0.0
        #: Operations (mux.ops): body bytes handed to the engine / received,
        #: the ``:status`` we sent (b"" before), and the gateway's upstream
        #: (cluster, endpoint, attempts) when it forwarded the stream.
        self.sent_bytes = 0
        self.received_bytes = 0
        self.status = b""
        self.upstream: tuple[str, str, int] | None = None

    def __repr__(self) -> str:
        return (
            f"<Stream {self.stream_id} local_ended={self._local_ended} "
            f"remote_ended={self._remote_ended} error={self._error!r}>"
        )

    # ----------------------------------------------------------------- state

    @property
    def client_address(self) -> tuple[str, int] | None:
        """Server side: the connection's client ``(host, port)``, if known."""
        return self._driver.client_address

    @property
    def is_done(self) -> bool:
        """True once both halves ended, or the stream was reset or failed."""
        return (self._local_ended and self._remote_ended) or self._error is not None

    @property
    def local_ended(self) -> bool:
        """True once our half is closed (END_STREAM sent or stream aborted)."""
        return self._local_ended

    @property
    def remote_ended(self) -> bool:
        """True once the peer's END_STREAM arrived."""
        return self._remote_ended

    @property
    def headers_sent(self) -> bool:
        """True once our (request or response) headers went out."""
        return self._headers_sent

    @property
    def error(self) -> BaseException | None:
        """Why the stream failed, if it did."""
        return self._error

    @property
    def buffered_bytes(self) -> int:
        """Received body bytes waiting for the application."""
        return self._buffered

    def set_wait(self, reason: Wait) -> None:
        """Say what the application waits for on this stream's behalf
        (:attr:`Wait.NONE`: nothing); shown by the admin API."""
        if reason is not self.wait:
            self.wait = reason
            self.wait_since = trio.current_time() if reason else 0.0

    # ------------------------------------------------------------------ send

    async def send_headers(self, headers: Headers, *, end_stream: bool = False) -> None:
        """Send our headers (the response on a server).

        Without ``end_stream`` the headers are handed to the engine at the
        next flush, or by this stream's next command, whichever comes first:
        on the wire nothing changes, but an :meth:`end` in the same scheduler
        tick (an empty response) becomes one HEADERS frame with END_STREAM.
        If the engine then refuses them (invalid headers), the next command
        raises, or, when the flush came first, the stream is reset with
        INTERNAL_ERROR.

        Raises:
            LocalProtocolError: headers were already sent or our half ended.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        self._check_sendable()
        if self._headers_sent:
            raise LocalProtocolError(f"stream {self.stream_id}: headers already sent")
        if headers and headers[0][0] == b":status":
            self.status = headers[0][1]
        if end_stream or self._head:
            self._driver._engine.send_headers(self.stream_id, headers, end_stream=True)
            self._headers_sent = True
            self._driver._wake_writer()
            self._end_local()
            return
        self._pending_headers = headers
        self._headers_sent = True
        self._driver._defer(self)

    async def send_data(self, data: bytes, *, end_stream: bool = False) -> None:
        """Send body bytes, waiting for flow-control credit as needed.

        Never buffers beyond the peer's window: a chunk larger than the
        window goes out in pieces as credit arrives. A chunk sent whole
        without ``end_stream`` is handed to the engine at the next flush or
        by this stream's next command (like deferred headers), so an
        :meth:`end` right after it becomes END_STREAM on that DATA frame.
        """
        if self._head_answered():
            await trio.lowlevel.checkpoint_if_cancelled()
            return
        self._check_sendable()
        if not self._headers_sent:
            raise LocalProtocolError(f"stream {self.stream_id}: send headers before data")
        if self._pending_data is not None:
            self._commit(False)
        total = len(data)
        if total == 0:
            if end_stream:
                await self.end()
            else:
                await trio.lowlevel.checkpoint_if_cancelled()
            return
        view = memoryview(data)
        offset = 0
        while offset < total:
            window = await self._wait_for_credit(total - offset)
            size = min(window, total - offset, MAX_SEND_PIECE)
            piece = data if size == total else bytes(view[offset : offset + size])
            offset += size
            self.sent_bytes += size
            driver = self._driver
            inline = size >= INLINE_SEND and driver._can_flush_inline()
            if size == total and not end_stream and not inline:
                self._defer_data(piece)
                return
            if self._pending_headers is not None:
                self._commit(False)
            last = end_stream and offset == total
            driver._engine.send_data(self.stream_id, piece, end_stream=last)
            if inline and driver._can_flush_inline():
                driver._unsent += size
                driver._dirty = True
                await driver._flush_inline()
            else:
                driver._note_queued(size)
        if end_stream:
            self._end_local()

    async def end(self) -> None:
        """Half-close our side (empty END_STREAM)."""
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._head_answered():
            return
        self._check_sendable()
        if not self._headers_sent:
            raise LocalProtocolError(f"stream {self.stream_id}: send headers before ending")
        if self._pending_headers is not None or self._pending_data is not None:
            self._commit(True)
        else:
            self._driver._engine.end_stream(self.stream_id)
            self._driver._wake_writer()
        self._end_local()

    async def send_trailers(self, trailers: Headers) -> None:
        """Send trailing headers; they end our side of the stream."""
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._head_answered():
            return
        self._check_sendable()
        if not self._headers_sent:
            raise LocalProtocolError(f"stream {self.stream_id}: send headers before trailers")
        if self._pending_headers is not None or self._pending_data is not None:
            self._commit(False)
        self._driver._engine.send_headers(self.stream_id, trailers, end_stream=True)
        self._driver._wake_writer()
        self._end_local()

    def reset(self, code: ErrorCode = ErrorCode.CANCEL) -> None:
        """Abort the stream with RST_STREAM(code); a no-op once it is done."""
        if self.is_done:
            return
        if self._pending_headers is not None or self._pending_data is not None:
            try:
                self._commit(False)
            except LocalProtocolError:
                pass  # the reset below still goes out
        self._driver._engine.reset_stream(self.stream_id, code)
        self._driver._wake_writer()
        self._fail(StreamReset(self.stream_id, code, remote=False))

    async def aclose(self) -> None:
        """Reset with CANCEL unless the exchange already completed."""
        await trio.lowlevel.checkpoint_if_cancelled()
        self.reset(ErrorCode.CANCEL)

    # --------------------------------------------------------------- receive

    async def receive_headers(self) -> Headers:
        """Wait for the peer's headers (the response, on a client)."""
        while self.headers is None:
            if self._error is not None:
                raise self._error.with_traceback(None)
            await self._park_receiving()
        await trio.lowlevel.checkpoint_if_cancelled()
        return self.headers

    async def receive_data(self) -> bytes:
        """The next body chunk, or ``b""`` once the peer ended the stream.

        Taking a chunk returns its flow-control credit to the peer: chunks
        that arrived together are acknowledged together, when the last of them
        is taken (or every :data:`ACK_BATCH` bytes), one engine call per batch.
        """
        while True:
            chunks = self._chunks
            if chunks:
                data, flow = chunks.popleft()
                self._buffered -= len(data)
                unacked = self._unacked + flow
                if chunks and unacked < ACK_BATCH:
                    self._unacked = unacked
                else:
                    self._unacked = 0
                    self._driver._acknowledge(self.stream_id, unacked)
                await trio.lowlevel.checkpoint_if_cancelled()
                return data
            if self._remote_ended:
                await trio.lowlevel.checkpoint_if_cancelled()
                return b""
            if self._error is not None:
                raise self._error.with_traceback(None)
            await self._park_receiving()

    async def receive_trailers(self) -> Headers | None:
        """Drain the body and return the trailers (None if there were none)."""
        while await self.receive_data():
            pass
        return self.trailers

    def __aiter__(self) -> Stream:
        return self

    async def __anext__(self) -> bytes:
        data = await self.receive_data()
        if not data:
            raise StopAsyncIteration
        return data

    # ------------------------------------------------ driver-side (internal)

    def _on_data(self, data: bytes, flow: int, end_stream: bool) -> None:
        if self._discard_left >= 0:
            self._discard_data(flow, end_stream)
            return
        if data:
            if self._chunks is None:
                self._chunks = deque()
            if not self._buffered:  # since when the application has data to take
                self._filled_since = self._driver._last_received
            self._chunks.append((data, flow))
            self._buffered += len(data)
            self.received_bytes += len(data)
        elif flow:
            self._driver._acknowledge(self.stream_id, flow)
        if end_stream:
            self._end_remote()
        self._wake()

    def _discard_rest(self, limit: int) -> None:
        """The response is complete but the request body is not: from now on
        take and drop up to ``limit`` more body bytes, returning their credit
        at once (buffered chunks too); past it, reset with NO_ERROR."""
        self._discard_left = limit
        if self._chunks:
            flow = sum(f for _, f in self._chunks) + self._unacked
            self._chunks.clear()
            self._buffered = self._unacked = 0
            self._driver._acknowledge(self.stream_id, flow)

    def _discard_data(self, flow: int, end_stream: bool) -> None:
        if flow:
            self._driver._acknowledge(self.stream_id, flow)
        self._discard_left -= flow
        if end_stream:
            self._end_remote()
        elif self._discard_left < 0:
            self._discard_left = 0
            self.reset(ErrorCode.NO_ERROR)
        self._wake()

    def _on_response(self, headers: Headers, end_stream: bool) -> None:
        self.headers = headers
        if end_stream:
            self._end_remote()
        self._wake()

    def _on_trailers(self, headers: Headers) -> None:
        self.trailers = headers
        self._end_remote()
        self._wake()

    def _on_end(self) -> None:
        self._end_remote()
        self._wake()

    def _on_reset(self, code: ErrorCode | int, remote: bool) -> None:
        cls = StreamRefused if remote and code == ErrorCode.REFUSED_STREAM else StreamReset
        self._fail(cls(self.stream_id, code, remote=remote))
        if remote and self._handler_scope is not None:
            self._handler_scope.cancel()

    def _fail(self, error: BaseException) -> None:
        """Record a terminal error: sends fail; receives fail unless the peer
        already ended (its body stays readable)."""
        if self._error is not None:
            return
        self._error = error
        self._local_ended = True
        self._pending_headers = None
        if self._pending_data is not None:
            self._pending_data = None
            self._driver._deferred_data -= 1
        if not self._remote_ended and self._chunks:
            flow = sum(f for _, f in self._chunks) + self._unacked
            self._chunks.clear()
            self._buffered = self._unacked = 0
            self._driver._acknowledge(self.stream_id, flow)
        self._wake()
        self._driver._stream_done(self)

    def _wake(self) -> None:
        if self._lot is not None:
            self._lot.unpark_all()

    # --------------------------------------------------------------- helpers

    def _defer_data(self, data: bytes) -> None:
        if self._pending_headers is None:
            self._driver._defer(self)
        self._pending_data = data
        self._driver._deferred_data += 1
        self._driver._note_queued(len(data))

    def _commit(self, end_stream: bool) -> None:
        """Hand deferred headers, then deferred data, to the engine.

        ``end_stream`` goes on the last frame handed over.

        Raises:
            LocalProtocolError: the engine refused the headers; as before
                deferral, they count as not sent (deferred data is dropped).
        """
        engine = self._driver._engine
        headers, data = self._pending_headers, self._pending_data
        self._pending_headers = self._pending_data = None
        if data is not None:
            self._driver._deferred_data -= 1
        if headers is not None:
            try:
                engine.send_headers(self.stream_id, headers, end_stream=end_stream and data is None)
            except LocalProtocolError:
                self._headers_sent = False
                raise
        if data is not None:
            engine.send_data(self.stream_id, data, end_stream=end_stream)
        self._driver._wake_writer()

    def _head_answered(self) -> bool:
        """True when this answers HEAD and the headers went out (with
        END_STREAM): body, trailers and end are dropped (RFC 9110 §9.3.2)."""
        return self._head and self._headers_sent and self._error is None

    def _check_sendable(self) -> None:
        if self._error is not None:
            raise self._error.with_traceback(None)
        if self._local_ended:
            raise LocalProtocolError(f"stream {self.stream_id}: our side already ended")

    def _end_remote(self) -> None:
        self._remote_ended = True
        if self._local_ended:
            self._driver._stream_done(self)

    def _end_local(self) -> None:
        self._local_ended = True
        if self._remote_ended:
            self._driver._stream_done(self)

    async def _wait_for_credit(self, want: int) -> int:
        """Wait for send credit (:func:`mux.driver.credit.wait_for_credit`)."""
        return await wait_for_credit(self, want)

    async def _park_receiving(self) -> None:
        """Park until the peer's next frame (:attr:`Wait.PEER` meanwhile)."""
        self._recv_since = trio.current_time()
        try:
            await self._park()
        finally:
            self._recv_since = 0.0

    async def _park(self) -> None:
        if self._lot is None:
            self._lot = trio.lowlevel.ParkingLot()
        if self.deadline == math.inf:
            await self._lot.park()
            return
        with trio.move_on_at(self.deadline):
            await self._lot.park()
            return
        self.reset(ErrorCode.CANCEL)
        raise trio.TooSlowError(f"stream {self.stream_id}: deadline exceeded")
