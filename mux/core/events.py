"""Events reported by every engine (mux/msgpack, HTTP/2, HTTP/1.1).

Theory of operation
-------------------
An engine's ``receive_data(bytes)`` returns a list of these events. They are
the *one* vocabulary between a protocol core and the Trio driver above it, so
the driver, the gateway and user code never learn which framing a stream came
over. Events are frozen, slotted attrs classes named as past-tense facts; do not
subclass them.

Headers are always ``list[tuple[bytes, bytes]]`` with lowercase names, pseudo
headers (``:method``, ``:path``, ``:scheme``, ``:authority``, ``:status``) first.
"""

from __future__ import annotations

import attrs

from mux.errors import ErrorCode

Headers = list[tuple[bytes, bytes]]


@attrs.frozen
class RequestReceived:
    """The peer opened a stream with request headers (server side)."""

    stream_id: int
    headers: Headers
    #: True when the request carries no body (HEADERS had END_STREAM).
    end_stream: bool = False


@attrs.frozen
class ResponseReceived:
    """Response headers arrived on a stream we opened (client side)."""

    stream_id: int
    headers: Headers
    end_stream: bool = False


@attrs.frozen
class InformationalResponseReceived:
    """A 1xx response arrived (HTTP/2 and HTTP/1.1 only); a final one follows."""

    stream_id: int
    headers: Headers


@attrs.frozen
class TrailersReceived:
    """Trailing headers arrived; they always end the peer's half of the stream."""

    stream_id: int
    headers: Headers


@attrs.frozen
class DataReceived:
    """Body bytes arrived on a stream.

    ``flow_controlled_length`` is what the application must later hand to
    ``acknowledge_received_data`` once it has consumed ``data``; credit is
    returned to the peer only then (end-to-end backpressure).
    """

    stream_id: int
    data: bytes
    flow_controlled_length: int
    end_stream: bool = False


@attrs.frozen
class StreamEnded:
    """The peer half-closed the stream (END_STREAM): no more data will arrive."""

    stream_id: int


@attrs.frozen
class StreamReset:
    """The stream was reset: by the peer (``remote``), or by the core itself
    because the peer broke a stream-scoped rule (RST_STREAM already queued)."""

    stream_id: int
    error_code: ErrorCode | int
    remote: bool = True


@attrs.frozen
class WindowUpdated:
    """Send credit grew; ``stream_id`` 0 means the connection window."""

    stream_id: int
    delta: int


@attrs.frozen
class SettingsChanged:
    """The peer's settings changed (``changes`` maps setting id → new value)."""

    changes: dict[int, int]


@attrs.frozen
class SettingsAcknowledged:
    """The peer acknowledged our settings; they are now in force."""


@attrs.frozen
class PingReceived:
    """The peer pinged us; the core already queued the PONG."""

    data: bytes


@attrs.frozen
class PingAcknowledged:
    """A PONG for one of our pings arrived."""

    data: bytes


@attrs.frozen
class GoAwayReceived:
    """The peer will accept no new streams.

    Streams we opened with ids above ``last_stream_id`` were not processed and
    may be retried elsewhere. A graceful shutdown first sends
    ``last_stream_id = 2**31 - 1`` and later the real value.
    """

    error_code: ErrorCode | int
    last_stream_id: int
    debug_data: bytes = b""


@attrs.frozen
class ConnectionClosed:
    """The transport reached EOF (``receive_data(b"")``)."""


Event = (
    RequestReceived
    | ResponseReceived
    | InformationalResponseReceived
    | TrailersReceived
    | DataReceived
    | StreamEnded
    | StreamReset
    | WindowUpdated
    | SettingsChanged
    | SettingsAcknowledged
    | PingReceived
    | PingAcknowledged
    | GoAwayReceived
    | ConnectionClosed
)
