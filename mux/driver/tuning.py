"""Driver constants: I/O sizes, backpressure thresholds and PING payloads."""

from __future__ import annotations

#: Bytes asked of the transport per receive_some call.
RECEIVE_SIZE = 65536
#: Largest receive_some size while reads keep coming back full (bulk transfer).
MAX_RECEIVE_SIZE = 1048576
#: Unsent bytes (queued or in flight to the transport) above which senders wait:
#: a peer that stops reading TCP cannot make us buffer more than about this.
SEND_HIGH_WATER = 262144
#: Largest legal stream id; GOAWAY with it is step one of a graceful shutdown.
MAX_STREAM_ID = 2**31 - 1
#: PING payload of step one of a graceful shutdown.
SHUTDOWN_PING = b"muxdrain"
#: PING payload of a keepalive probe.
KEEPALIVE_PING = b"muxalive"
#: Lingering close: after a GOAWAY for the peer's fault (protocol error, frame or
#: handshake timeout), the driver half-closes and reads and discards what the
#: peer still sends until its EOF, for at most this many seconds, before it
#: closes the socket. Closing with unread bytes makes the kernel answer with
#: RST, which can destroy the GOAWAY before the peer reads it.
LINGER = 2.0
#: ... and for at most this many discarded bytes.
LINGER_BYTES = 1048576
