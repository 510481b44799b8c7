"""The interface every protocol engine implements.

Theory of operation
-------------------
An engine is a pure state machine for one connection (h2/h11 style): the driver
feeds it received bytes with :meth:`Engine.receive_data`, reads the events it
returns, issues commands (``send_headers``, ``send_data``, ...) that *queue*
bytes, and drains those bytes with :meth:`Engine.data_to_send`. Engines never
block and never do I/O.

The verb names are h2's (``local_flow_control_window``, ``close_connection``,
``get_next_available_stream_id``) so that :mod:`mux.core.h2engine` stays a thin
adapter and developers reading h2 every day find the same words.

Error handling:
    ``receive_data`` returns events or raises :class:`mux.errors.RemoteProtocolError`
    (GOAWAY already queued: flush ``data_to_send()`` then close); any other
    exception is a bug. Stream-scoped violations never raise: they produce a
    ``StreamReset(remote=False)`` event and queue RST_STREAM. Commands that break
    the protocol (sending on a closed stream, beyond the window) raise
    :class:`mux.errors.LocalProtocolError` and change nothing.
"""

from __future__ import annotations

from typing import Protocol

from mux.core.events import Event, Headers
from mux.errors import ErrorCode


class Engine(Protocol):
    """One connection's protocol state machine, whatever the framing."""

    #: "mux", "h2" or "http/1.1".
    protocol: str
    #: True for the side that opens streams.
    client_side: bool

    def initiate_connection(self) -> None:
        """Queue the connection preface and our initial SETTINGS."""

    def receive_data(self, data: bytes) -> list[Event]:
        """Feed received bytes (``b""`` means EOF) and return the events."""

    def data_to_send(self) -> bytes:
        """Drain and return every byte queued for the peer."""

    def get_next_available_stream_id(self) -> int:
        """The id a new outbound stream would get (client side)."""

    def send_headers(self, stream_id: int, headers: Headers, *, end_stream: bool = False) -> None:
        """Open a stream (request), answer one (response) or send trailers."""

    def send_data(self, stream_id: int, data: bytes, *, end_stream: bool = False) -> None:
        """Queue body bytes; ``len(data)`` must not exceed
        ``local_flow_control_window(stream_id)``. Frames are split by the engine."""

    def end_stream(self, stream_id: int) -> None:
        """Half-close our side of the stream with an empty END_STREAM."""

    def reset_stream(self, stream_id: int, error_code: ErrorCode = ErrorCode.CANCEL) -> None:
        """Abort the stream with RST_STREAM; unknown or closed streams are a no-op."""

    def acknowledge_received_data(self, size: int, stream_id: int) -> None:
        """The application consumed ``size`` flow-controlled bytes of ``stream_id``;
        the engine returns credit (WINDOW_UPDATE) when its policy says so."""

    def local_flow_control_window(self, stream_id: int) -> int:
        """How many body bytes we may send on the stream now
        (the minimum of the stream's and the connection's send window)."""

    def ping(self, data: bytes) -> None:
        """Queue a PING with 8 opaque bytes."""

    def close_connection(
        self,
        error_code: ErrorCode = ErrorCode.NO_ERROR,
        *,
        last_stream_id: int | None = None,
        debug_data: bytes = b"",
    ) -> None:
        """Queue GOAWAY. ``last_stream_id`` None means the highest peer stream
        we have processed; pass ``2**31 - 1`` for the first step of a graceful
        two-step shutdown."""

    @property
    def open_outbound_streams(self) -> int:
        """Streams we opened that are not yet closed."""

    @property
    def open_inbound_streams(self) -> int:
        """Streams the peer opened that are not yet closed."""

    @property
    def max_outbound_streams(self) -> int:
        """The peer's current limit on streams we may have open."""

    @property
    def highest_inbound_stream_id(self) -> int:
        """The highest stream id the peer has opened (0 if none)."""
