"""A pre-parser that inspects every HTTP/2 frame header before h2 sees the frame.

Theory of operation
-------------------
python h2's ``FrameBuffer`` waits for a whole frame (up to 16 MiB claimed by the
24-bit length) before it checks the length, and it accepts any frame first,
answers every PING and SETTINGS without limit, and keeps RFC 7540 priority
state. :class:`FrameGuard` sits in front of it: the engine feeds it received
bytes, and it yields complete frames (:class:`RawFrame`) only after checking
each 9-byte header *before* any payload is buffered.

Connection-scoped checks made here (each raises :class:`GuardViolation`, which
the engine turns into GOAWAY + :class:`mux.errors.RemoteProtocolError`):

* the client connection preface (server side), byte by byte (RFC 9113 §3.4):
  PROTOCOL_ERROR;
* the first frame must be a non-ACK SETTINGS (RFC 9113 §3.4): PROTOCOL_ERROR;
* ``length > max_frame_size`` (RFC 9113 §4.2), checked on the header alone:
  FRAME_SIZE_ERROR;
* a header block (HEADERS/PUSH_PROMISE without END_HEADERS) must be followed
  by CONTINUATION frames on the same stream only (RFC 9113 §6.10):
  PROTOCOL_ERROR; the block is bounded in frames and in bytes
  (CONTINUATION flood): ENHANCE_YOUR_CALM;
* floods: consecutive frames with an empty payload (CVE-2019-9518), control
  frames that do no work (PING, SETTINGS, PRIORITY, RST_STREAM, unknown types:
  CVE-2019-9512/9513/9515) drawn from a token budget refilled by useful work,
  SETTINGS frames with too many entries (CVE-2020-11080): ENHANCE_YOUR_CALM.

The guard knows no stream state: state-aware triage (PRIORITY dropping,
WINDOW_UPDATE 0, late frames) happens in :mod:`mux.core.h2engine`.

Outbound, :func:`outbound_problem` is the RFC 9113 §8.2-8.3 check of a header
list we are about to send (h2 lowercases names, strips whitespace and drops
connection-specific fields instead of refusing them): the rules of
:mod:`mux.core.headers` (shared with the mux framing), plus no leading or
trailing SP/HTAB in values (§8.2.1) and HTTP/2's informational responses
(1xx except 101, §8.6). :mod:`mux.core.h2conn` runs it, with h2's own check,
once per distinct list and before any state changes.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any, Final, NamedTuple

import attrs

from mux.core.headers import check_request, check_response, check_trailers
from mux.errors import ErrorCode

#: The HTTP/2 client connection preface (RFC 9113 §3.4).
PREFACE: Final = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#: Bytes in a frame header (RFC 9113 §4.1).
FRAME_HEADER_SIZE: Final = 9

# Frame types (RFC 9113 §6).
DATA: Final = 0x0
HEADERS: Final = 0x1
PRIORITY: Final = 0x2
RST_STREAM: Final = 0x3
SETTINGS: Final = 0x4
PUSH_PROMISE: Final = 0x5
PING: Final = 0x6
GOAWAY: Final = 0x7
WINDOW_UPDATE: Final = 0x8
CONTINUATION: Final = 0x9
#: Highest frame type h2 understands (ALTSVC 0xa); above is "unknown".
_KNOWN_MAX: Final = 0xA

# Flags.
FLAG_END_STREAM: Final = 0x1
FLAG_ACK: Final = 0x1
FLAG_END_HEADERS: Final = 0x4
FLAG_PADDED: Final = 0x8
FLAG_PRIORITY: Final = 0x20

#: Frame types that cost a control-budget token: they make us work but carry
#: no application data.
_CONTROL_TYPES: Final = frozenset({PING, SETTINGS, PRIORITY, RST_STREAM})
#: Types whose header the budget check must see (control types and SETTINGS).
_BUDGET_TYPES: Final = _CONTROL_TYPES
#: Types that can open a header block (the block check runs for these, or
#: while a block is open).
_BLOCK_STARTS: Final = frozenset({HEADERS, PUSH_PROMISE})
_BLOCK_FRAMES: Final = frozenset({HEADERS, PUSH_PROMISE, CONTINUATION})
#: Types whose payload counts towards the empty-frame flood check.
_BODY_TYPES: Final = frozenset({DATA, HEADERS, CONTINUATION})
#: A frame header: 24-bit length (as 8 + 16 bits), type, flags, stream id.
_HEADER: Final = struct.Struct(">BHBBL")


def _positive(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be >= 1, got {value}")


#: Largest SETTINGS_MAX_FRAME_SIZE derived from mux's limits (see from_protocol_limits).
H2_MAX_FRAME_SIZE: Final = 65536


@attrs.frozen
class H2Limits:
    """Knobs of the HTTP/2 engine and its guard (server-side defaults).

    Values follow threats.md §3/§4: small concurrent-stream limit, bounded
    header blocks, bounded control-frame work.
    """

    #: SETTINGS_MAX_CONCURRENT_STREAMS we advertise; excess streams are refused.
    max_concurrent_streams: int = attrs.field(default=100, validator=_positive)
    #: SETTINGS_INITIAL_WINDOW_SIZE we advertise (per-stream receive window, bytes).
    initial_stream_window: int = attrs.field(default=256 * 1024, validator=_positive)
    #: Connection receive window (bytes); raised by WINDOW_UPDATE at start.
    connection_window: int = attrs.field(default=1024 * 1024, validator=_positive)
    #: SETTINGS_MAX_FRAME_SIZE we advertise and enforce (16 KiB .. 16 MiB - 1).
    max_frame_size: int = attrs.field(default=16_384)
    #: SETTINGS_MAX_HEADER_LIST_SIZE (decoded: name + value + 32 per field).
    max_header_list_size: int = attrs.field(default=64 * 1024, validator=_positive)
    #: CONTINUATION frames allowed in one header block.
    max_continuation_frames: int = attrs.field(default=16, validator=_positive)
    #: Consecutive frames with an empty payload and no END_STREAM.
    max_consecutive_empty_frames: int = attrs.field(default=16, validator=_positive)
    #: Control-frame token bucket size (PING, SETTINGS, PRIORITY, RST, unknown).
    control_frame_burst: int = attrs.field(default=1000, validator=_positive)
    #: Entries allowed in one SETTINGS frame.
    max_settings_entries: int = attrs.field(default=32, validator=_positive)
    #: Bytes we may queue *in reply to peer input* (PONGs, SETTINGS ACKs, RSTs)
    #: before the driver drains them; beyond → ENHANCE_YOUR_CALM.
    max_induced_bytes: int = attrs.field(default=64 * 1024, validator=_positive)
    #: Resets (by the peer, or by us because of the peer) tolerated before the
    #: reset ratio is checked (Rapid Reset / MadeYouReset).
    reset_min_count: int = attrs.field(default=200, validator=_positive)
    #: Inbound WINDOW_UPDATE frames allowed per DATA frame we sent (data
    #: dribble, CVE-2019-9511; Envoy's ``max_inbound_window_update_frames_per_data_frame_sent``)...
    window_updates_per_data_frame: int = attrs.field(default=10, validator=_positive)
    #: ...beyond this allowance (plus two per stream the peer opened); past
    #: it, GOAWAY(ENHANCE_YOUR_CALM).
    window_update_allowance: int = attrs.field(default=1000, validator=_positive)
    #: Closed-stream records kept to classify late frames (h2 keeps 65536).
    closed_stream_memory: int = attrs.field(default=512, validator=_positive)

    @classmethod
    def from_protocol_limits(cls, limits: Any) -> H2Limits:
        """Build H2 limits from a :class:`mux.core.limits.ProtocolLimits` (the
        windows, stream and size limits shared by both framings); the
        H2-specific flood budgets keep their defaults."""
        # h2 buffers every frame whole (no partial DATA as in mux), so HTTP/2
        # frames stay at most 64 KiB whatever mux's own frame size.
        frame_size = min(max(int(limits.max_frame_size), 16_384), H2_MAX_FRAME_SIZE)
        return cls(
            max_concurrent_streams=int(limits.max_concurrent_streams),
            initial_stream_window=min(int(limits.initial_stream_window), 2**31 - 1),
            connection_window=min(int(limits.connection_window), 2**31 - 1),
            max_frame_size=frame_size,
            max_header_list_size=int(limits.max_header_list_size),
        )

    @max_frame_size.validator
    def _check_frame_size(self, _: attrs.Attribute[int], value: int) -> None:
        if not 16_384 <= value <= 2**24 - 1:
            raise ValueError(f"max_frame_size must be in [16384, 16777215], got {value}")


class RawFrame(NamedTuple):
    """One complete frame as it arrived (a named tuple: cheap to build)."""

    type: int
    flags: int
    stream_id: int
    payload: bytes

    def serialize(self) -> bytes:
        """The frame's wire bytes (header + payload)."""
        header = len(self.payload).to_bytes(3, "big") + bytes((self.type, self.flags))
        return header + self.stream_id.to_bytes(4, "big") + self.payload


class GuardViolation(Exception):
    """The peer broke a connection-scoped rule the guard checks.

    Attributes:
        code: the GOAWAY error code to send.
    """

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


@attrs.define
class FrameGuard:
    """Splits inbound bytes into frames, checking each header before buffering.

    Args:
        limits: the limits to enforce.
        expect_preface: True on the server side (the client sends the preface).
    """

    limits: H2Limits
    expect_preface: bool
    _buffer: bytearray = attrs.field(factory=bytearray)
    _preface_left: int = attrs.field(init=False)
    _seen_settings: bool = False
    #: Stream whose header block is open (awaiting CONTINUATION), else 0.
    _block_stream: int = 0
    _block_frames: int = 0
    _block_bytes: int = 0
    _empty_run: int = 0
    _tokens: int = attrs.field(init=False)
    #: Frame header already checked for the frame being buffered, if any.
    _pending: tuple[int, int, int, int] | None = None

    def __attrs_post_init__(self) -> None:
        self._preface_left = len(PREFACE) if self.expect_preface else 0
        self._tokens = self.limits.control_frame_burst

    @property
    def header_block_open(self) -> bool:
        """True while a header block is unfinished: HEADERS/PUSH_PROMISE without
        END_HEADERS awaiting CONTINUATION, or a header-block frame half received."""
        pending = self._pending
        return bool(self._block_stream) or (pending is not None and pending[1] in _BLOCK_FRAMES)

    def credit(self, tokens: int = 1) -> None:
        """Refill the control budget after useful work (new stream, data)."""
        self._tokens = min(self.limits.control_frame_burst, self._tokens + tokens)

    def feed(self, data: bytes) -> Iterator[RawFrame]:
        """Add received bytes and yield every complete, pre-checked frame.

        Complete frames are cut straight out of ``data`` (one copy per
        payload); only an incomplete tail is kept in the buffer.

        Raises:
            GuardViolation: a connection-scoped rule was broken; the guard must
                not be used again.
        """
        if type(data) is not bytes:
            data = bytes(data)
        if self._preface_left:
            data = self._eat_preface(data)
        buffer = self._buffer
        if buffer:
            buffer += data
            pending = self._pending
            if pending is not None and len(buffer) < FRAME_HEADER_SIZE + pending[0]:
                return
            data = bytes(buffer)
            buffer.clear()
        pos, size = 0, len(data)
        try:
            while size - pos >= FRAME_HEADER_SIZE:
                pending = self._pending
                if pending is None:
                    pending = self._pending = self._check_header(*_HEADER.unpack_from(data, pos))
                length, ftype, flags, stream_id = pending
                start = pos + FRAME_HEADER_SIZE
                end = start + length
                if end > size:
                    break
                payload = data[start:end]
                pos = end
                self._pending = None
                if ftype <= CONTINUATION and ftype in _BODY_TYPES:
                    self._check_payload(ftype, flags, payload)
                yield RawFrame(ftype, flags, stream_id, payload)
        finally:
            if pos < size:
                buffer += data[pos:]

    def _eat_preface(self, data: bytes) -> bytes:
        offset = len(PREFACE) - self._preface_left
        take = min(self._preface_left, len(data))
        if data[:take] != PREFACE[offset : offset + take]:
            raise GuardViolation(ErrorCode.PROTOCOL_ERROR, "invalid HTTP/2 connection preface")
        self._preface_left -= take
        return data[take:]

    def _check_header(
        self, length_high: int, length_low: int, ftype: int, flags: int, stream_id: int
    ) -> tuple[int, int, int, int]:
        length = length_high << 16 | length_low
        stream_id &= 0x7FFF_FFFF
        if length > self.limits.max_frame_size:
            raise GuardViolation(
                ErrorCode.FRAME_SIZE_ERROR,
                f"frame length {length} exceeds SETTINGS_MAX_FRAME_SIZE "
                f"{self.limits.max_frame_size}",
            )
        if not self._seen_settings:
            if ftype != SETTINGS or flags & FLAG_ACK:
                raise GuardViolation(
                    ErrorCode.PROTOCOL_ERROR,
                    f"first frame must be SETTINGS, got type 0x{ftype:x}",
                )
            self._seen_settings = True
        if self._block_stream or ftype in _BLOCK_STARTS:
            self._check_header_block(length, ftype, flags, stream_id)
        if ftype > _KNOWN_MAX or ftype in _BUDGET_TYPES:
            self._check_budgets(length, ftype, flags)
        return length, ftype, flags, stream_id

    def _check_header_block(self, length: int, ftype: int, flags: int, stream_id: int) -> None:
        if self._block_stream:
            if ftype != CONTINUATION or stream_id != self._block_stream:
                raise GuardViolation(
                    ErrorCode.PROTOCOL_ERROR,
                    f"expected CONTINUATION on stream {self._block_stream}, "
                    f"got type 0x{ftype:x} on stream {stream_id}",
                )
            self._block_frames += 1
            self._block_bytes += length
            if self._block_frames > self.limits.max_continuation_frames:
                raise GuardViolation(
                    ErrorCode.ENHANCE_YOUR_CALM,
                    f"header block exceeds {self.limits.max_continuation_frames} "
                    "CONTINUATION frames",
                )
            if flags & FLAG_END_HEADERS:
                self._block_stream = 0
        elif ftype in (HEADERS, PUSH_PROMISE) and not flags & FLAG_END_HEADERS:
            self._block_stream, self._block_frames, self._block_bytes = stream_id, 0, length
        if self._block_bytes > 2 * self.limits.max_header_list_size:
            raise GuardViolation(
                ErrorCode.ENHANCE_YOUR_CALM,
                f"header block of {self._block_bytes} bytes exceeds twice "
                f"MAX_HEADER_LIST_SIZE {self.limits.max_header_list_size}",
            )
        if not self._block_stream:
            self._block_bytes = 0

    def _check_budgets(self, length: int, ftype: int, flags: int) -> None:
        if ftype == SETTINGS and (length % 6 or (flags & FLAG_ACK and length)):
            raise GuardViolation(
                ErrorCode.FRAME_SIZE_ERROR, f"SETTINGS frame with invalid length {length}"
            )
        if ftype == SETTINGS and length // 6 > self.limits.max_settings_entries:
            raise GuardViolation(
                ErrorCode.ENHANCE_YOUR_CALM,
                f"SETTINGS frame with {length // 6} entries (max "
                f"{self.limits.max_settings_entries})",
            )
        costly = ftype > _KNOWN_MAX or (ftype in _CONTROL_TYPES and not flags & FLAG_ACK)
        if costly:
            self._tokens -= 1
            if self._tokens < 0:
                raise GuardViolation(
                    ErrorCode.ENHANCE_YOUR_CALM,
                    "control frame flood (PING/SETTINGS/PRIORITY/RST_STREAM/unknown)",
                )

    def _check_payload(self, ftype: int, flags: int, payload: bytes) -> None:
        empty = not _data_length(flags, payload) and not (
            ftype != CONTINUATION and flags & FLAG_END_STREAM
        )
        if not empty:
            self._empty_run = 0
            return
        self._empty_run += 1
        if self._empty_run > self.limits.max_consecutive_empty_frames:
            raise GuardViolation(
                ErrorCode.ENHANCE_YOUR_CALM,
                f"more than {self.limits.max_consecutive_empty_frames} consecutive "
                "empty DATA/HEADERS/CONTINUATION frames",
            )


def _data_length(flags: int, payload: bytes) -> int:
    """Payload bytes excluding padding (malformed padding counts as non-empty:
    h2 rejects it later)."""
    if flags & FLAG_PADDED and payload:
        size = len(payload) - 1 - payload[0]
        return size if size >= 0 else 1
    return len(payload)


# ------------------------------------------------------------ outbound lists


def outbound_problem(headers: list[Any], *, request: bool, trailers: bool) -> str | None:
    """What is wrong with a header list we are about to send, or None.

    Args:
        headers: the fields (2-tuples of bytes; a ``HeaderTuple`` is one).
        request: a request (client side) rather than a response.
        trailers: a trailer block (``request`` then only names the side).
    """
    for field in headers:
        if not isinstance(field, tuple) or len(field) != 2:
            return f"header field {field!r} is not a (name, value) pair"
        name, value = field
        if not isinstance(name, bytes) or not isinstance(value, bytes):
            return f"header field {field!r} is not a pair of bytes"
        if value[:1] in _WHITESPACE or value[-1:] in _WHITESPACE:
            return f"value of {name!r} has leading or trailing whitespace"
    if trailers:
        return check_trailers(headers)
    if request:
        return check_request(headers)
    if headers and headers[0][0] == b":status" and headers[0][1][:1] == b"1":
        return _informational_problem(headers)
    return check_response(headers)


#: Bytes a field value may not start or end with (RFC 9113 §8.2.1).
_WHITESPACE: Final = frozenset({b" ", b"\t"})


def _informational_problem(headers: list[Any]) -> str | None:
    """An interim response: ``:status`` 1xx (not 101, RFC 9113 §8.6) first,
    then regular fields only."""
    status = headers[0][1]
    if len(status) != 3 or not status.isdigit() or status == b"101":
        return f":status {status!r} is not an informational status (1xx, not 101)"
    return check_trailers(headers[1:])
