"""The send side of :class:`~mux.core.h2engine.H2Engine`: the commands.

Theory of operation
-------------------
Every command either queues frames through h2 (or the hardened connection's
fast paths, which write exactly h2's bytes) or raises
:class:`mux.errors.LocalProtocolError` /
:class:`mux.errors.LocalFlowControlError` having queued nothing: h2's own
exceptions never escape (:func:`local_errors`). Headers are checked before
any state changes (a refused list may be followed by a valid one); DATA is
split at the peer's max frame size and counted for the data-dribble budget
(:meth:`~mux.core.h2engine_triage.H2TriageMixin._count_window_update`);
receive credit goes back only through :meth:`H2SendMixin.acknowledge_received_data`.
The read-only properties the driver polls live here too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from h2.exceptions import FlowControlError as H2FlowControlError
from h2.exceptions import H2Error, ProtocolError, StreamClosedError

from mux.core.events import Headers
from mux.core.h2conn import SendRefused
from mux.core.h2engine_base import STREAM_CLOSED, H2EngineBase
from mux.errors import ErrorCode, LocalFlowControlError, LocalProtocolError


class H2SendMixin(H2EngineBase):
    """Commands and the connection's read-only figures."""

    def data_to_send(self) -> bytes:
        """Drain and return every byte queued for the peer."""
        self._drain()
        data = bytes(self._out)
        self._out.clear()
        self._induced = 0
        return data

    def get_next_available_stream_id(self) -> int:
        """The id a new outbound stream would get."""
        with local_errors():
            return int(self._h2.get_next_available_stream_id())

    def send_headers(self, stream_id: int, headers: Headers, *, end_stream: bool = False) -> None:
        """Send request/response headers or trailers.

        The list and the stream state are checked first (RFC 9113 §8.2-8.3,
        :meth:`HardenedH2Connection.prepare_send_headers`): a refused call
        changes nothing, so a valid list may follow (e.g. a 500 response).

        Raises:
            LocalProtocolError: invalid headers, a stream closed for sending,
                trailers without ``end_stream``, too many streams.
        """
        if self._goaway_received and self._stream_state(stream_id) == "idle":
            raise LocalProtocolError(f"peer sent GOAWAY: cannot open stream {stream_id}")
        if type(headers) is not list:
            headers = list(headers)
        h2c = self._h2
        try:
            prepared = h2c.prepare_send_headers(stream_id, headers, end_stream)
        except SendRefused as exc:
            raise LocalProtocolError(f"stream {stream_id}: {exc}") from None
        if not h2c.fast_send_headers(stream_id, prepared, end_stream):
            with local_errors():
                h2c.send_headers(stream_id, headers, end_stream=end_stream)
        self._guard.credit()

    def send_data(self, stream_id: int, data: bytes, *, end_stream: bool = False) -> None:
        """Queue body bytes, split into frames of the peer's max frame size.

        Raises:
            LocalFlowControlError: ``len(data)`` exceeds the send window.
            LocalProtocolError: the stream is closed for sending.
        """
        if not data:  # END_STREAM only: no window needed
            if not (end_stream and self._h2.fast_end_stream(stream_id)):
                with local_errors():
                    self._h2.send_data(stream_id, b"", end_stream=end_stream)
            self._guard.credit()
            return
        window = self.local_flow_control_window(stream_id)
        if len(data) > window:
            raise LocalFlowControlError(
                f"{len(data)} bytes exceed the send window of {window} on stream {stream_id}"
            )
        size = self._h2.max_outbound_frame_size
        chunks = [data[i : i + size] for i in range(0, len(data), size)] or [b""]
        self._data_frames_sent += len(chunks)
        h2c = self._h2
        with local_errors():
            for index, chunk in enumerate(chunks):
                last = end_stream and index == len(chunks) - 1
                if not h2c.fast_send_data(stream_id, chunk, last):
                    h2c.send_data(stream_id, chunk, end_stream=last)
        self._guard.credit()

    def end_stream(self, stream_id: int) -> None:
        """Half-close our side with an empty END_STREAM DATA frame."""
        if not self._h2.fast_end_stream(stream_id):
            with local_errors():
                self._h2.end_stream(stream_id)

    def reset_stream(self, stream_id: int, error_code: ErrorCode = ErrorCode.CANCEL) -> None:
        """RST_STREAM; unknown or closed streams are a no-op."""
        if self._stream_state(stream_id) != "open":
            return
        with local_errors():
            self._h2.reset_stream(stream_id, error_code=error_code)

    def acknowledge_received_data(self, size: int, stream_id: int) -> None:
        """Return ``size`` bytes of credit (WINDOW_UPDATE when h2's policy says so)."""
        if size <= 0:
            return
        try:
            self._h2.acknowledge_received_data(size, stream_id)
        except (StreamClosedError, ProtocolError, H2FlowControlError):
            pass  # stream gone: connection credit was already handled

    def local_flow_control_window(self, stream_id: int) -> int:
        """Bytes we may send on the stream now (0 when it is closed)."""
        h2c = self._h2
        stream = h2c.streams.get(stream_id)
        if stream is not None and stream.state_machine.state is not STREAM_CLOSED:
            # h2's local_flow_control_window for a stream it holds, inlined
            return min(h2c.outbound_flow_control_window, stream.outbound_flow_control_window)
        if self._stream_state(stream_id) != "open":
            return 0
        try:
            return int(h2c.local_flow_control_window(stream_id))
        except H2Error:
            return 0

    def ping(self, data: bytes) -> None:
        """Queue a PING with 8 opaque bytes."""
        with local_errors():
            self._h2.ping(data)

    def close_connection(
        self,
        error_code: ErrorCode = ErrorCode.NO_ERROR,
        *,
        last_stream_id: int | None = None,
        debug_data: bytes = b"",
    ) -> None:
        """Queue GOAWAY."""
        with local_errors():
            self._h2.close_connection(
                error_code=error_code,
                additional_data=debug_data or None,
                last_stream_id=last_stream_id,
            )

    @property
    def header_block_open(self) -> bool:
        """True while the peer's header block is unfinished (header timeout)."""
        return self._guard.header_block_open

    @property
    def open_outbound_streams(self) -> int:
        """Streams we opened that are not yet closed."""
        return int(self._h2.open_outbound_streams)

    @property
    def open_inbound_streams(self) -> int:
        """Streams the peer opened that are not yet closed."""
        return int(self._h2.open_inbound_streams)

    @property
    def max_outbound_streams(self) -> int:
        """The peer's limit on streams we may open."""
        return int(self._h2.remote_settings.max_concurrent_streams)

    @property
    def highest_inbound_stream_id(self) -> int:
        """The highest stream id the peer has opened (0 if none)."""
        return int(self._h2.highest_inbound_stream_id)

    @property
    def tracked_streams(self) -> int:
        """Stream records h2 holds (open + recently closed): bounded."""
        return len(self._h2.streams) + len(self._h2._closed_streams)


@contextlib.contextmanager
def local_errors() -> Iterator[None]:
    """Translate h2 exceptions raised by a command into LocalProtocolError."""
    try:
        yield
    except (H2Error, ValueError, TypeError) as exc:
        raise LocalProtocolError(f"{type(exc).__name__}: {exc}") from exc
