"""The HTTP/2 engine: an :class:`~mux.core.engine.Engine` adapter over h2.

Theory of operation
-------------------
Bytes from the peer go through three stages:

1. :class:`mux.core.h2guard.FrameGuard` checks every 9-byte frame header before
   the payload is buffered (preface, first SETTINGS, frame size, CONTINUATION
   and control-frame floods) and yields complete frames.
2. :meth:`H2Engine._triage` applies the state-aware rules h2 gets wrong or that
   we want cheaper (RFC 9113): PRIORITY frames are validated and dropped (no
   priority tree, CVE-2019-9513); PRIORITY data is stripped from HEADERS (a
   self-dependency is a *stream* error, §5.3.1); RST_STREAM and WINDOW_UPDATE
   on an idle stream are connection errors, on a closed stream are ignored
   (late frames never kill the connection), WINDOW_UPDATE 0 on a stream is a
   stream error (§6.9); unknown frame types are dropped (§5.5).
3. :class:`mux.core.h2conn.HardenedH2Connection` (h2 with stream-scoped
   malformed-message errors, refused excess streams, bounded closed-stream
   memory) parses the frame; its events are translated into mux events.

Flow control is end to end: h2 never credits a window by itself (except for
DATA it discards, which must be credited or the connection stalls); credit is
returned only by :meth:`H2Engine.acknowledge_received_data`.

Budgets enforced here: bytes queued in reply to peer input and not yet drained
(PING/SETTINGS ACK and RST floods), the ratio of reset streams (Rapid Reset,
MadeYouReset) and the ratio of inbound WINDOW_UPDATE frames to DATA frames we
sent (data dribble: a peer granting 1-byte windows makes us do work per frame
while the silly-window floor sends nothing; at most
``window_updates_per_data_frame`` per DATA frame beyond an allowance).
Every connection-scoped failure, including any unexpected exception inside
h2, queues GOAWAY and raises
:class:`mux.errors.RemoteProtocolError`; nothing else escapes ``receive_data``.

Events: ``RequestReceived``/``ResponseReceived``/``DataReceived`` carry an
``end_stream`` hint, and a separate ``StreamEnded`` always follows when the
peer half-closes (as in h2).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import h2.events as h2e
from h2.config import H2Configuration
from h2.exceptions import FlowControlError as H2FlowControlError
from h2.exceptions import H2Error, ProtocolError, StreamClosedError
from h2.settings import SettingCodes
from h2.stream import StreamState
from hyperframe.frame import GoAwayFrame, RstStreamFrame

from mux.core import events as ev
from mux.core.events import Event, Headers
from mux.core.h2compact import CompactSettings
from mux.core.h2conn import HardenedH2Connection, SendRefused
from mux.core.h2guard import (
    CONTINUATION,
    DATA,
    FLAG_PADDED,
    FLAG_PRIORITY,
    HEADERS,
    PREFACE,
    PRIORITY,
    RST_STREAM,
    WINDOW_UPDATE,
    FrameGuard,
    GuardViolation,
    H2Limits,
    RawFrame,
)
from mux.errors import (
    ErrorCode,
    LocalFlowControlError,
    LocalProtocolError,
    RemoteProtocolError,
    code_from_int,
)
from mux.wording import plain_text

_DEFAULT_WINDOW = 65_535
_STREAM_CLOSED = StreamState.CLOSED
_KNOWN_TYPES = frozenset(range(0xB))
_STREAM_TYPES = frozenset({DATA, HEADERS, CONTINUATION})
_HEADER_EVENTS = (
    h2e.RequestReceived,
    h2e.ResponseReceived,
    h2e.TrailersReceived,
    h2e.InformationalResponseReceived,
)

_NO_IDS: frozenset[int] = frozenset()


def _config(client_side: bool) -> H2Configuration:
    return H2Configuration(
        client_side=client_side,
        header_encoding=None,
        validate_inbound_headers=True,
        normalize_inbound_headers=True,
        validate_outbound_headers=True,
        normalize_outbound_headers=True,
    )


#: One h2 configuration per side, shared by every engine (neither h2 nor we
#: change it after creation).
_CONFIGS = {False: _config(False), True: _config(True)}


class H2Engine:
    """One HTTP/2 connection (server or client side) as a mux Engine.

    Args:
        client_side: True for the side that opens streams.
        limits: windows, stream limits and flood budgets.
    """

    protocol = "h2"

    def __init__(self, client_side: bool, limits: H2Limits | None = None) -> None:
        self.client_side = client_side
        self.limits = limits or H2Limits()
        self._h2 = HardenedH2Connection(_CONFIGS[client_side], self.limits.closed_stream_memory)
        self._h2.local_settings = CompactSettings(
            client=client_side, initial_values=self._settings()
        )
        self._h2.decoder.max_header_list_size = self.limits.max_header_list_size
        self._h2.max_inbound_frame_size = self.limits.max_frame_size
        self._guard = FrameGuard(self.limits, expect_preface=not client_side)
        self._out = bytearray()
        self._induced = 0
        #: Streams the peer doomed (self-dependency) and those reset since:
        #: a shared empty frozenset until needed (idle memory), never mutated.
        self._doomed: frozenset[int] | set[int] = _NO_IDS
        self._doomed_done: frozenset[int] | set[int] = _NO_IDS
        self._pending_resets: list[Event] = []
        self._failure: RemoteProtocolError | None = None
        self._goaway_received = False
        self._resets = 0
        self._streams_seen = 0
        self._window_updates = 0
        self._data_frames_sent = 0
        if not client_side:
            self._h2.receive_data(PREFACE)  # the guard checks the real one

    def _settings(self) -> dict[SettingCodes, int]:
        lim = self.limits
        values: dict[SettingCodes, int] = {
            SettingCodes.MAX_CONCURRENT_STREAMS: lim.max_concurrent_streams,
            SettingCodes.MAX_FRAME_SIZE: lim.max_frame_size,
            SettingCodes.MAX_HEADER_LIST_SIZE: lim.max_header_list_size,
            SettingCodes.ENABLE_CONNECT_PROTOCOL: 0,
        }
        if self.client_side:
            values[SettingCodes.ENABLE_PUSH] = 0
        if lim.initial_stream_window >= _DEFAULT_WINDOW:
            values[SettingCodes.INITIAL_WINDOW_SIZE] = lim.initial_stream_window
        return values

    # ------------------------------------------------------------------ setup

    def initiate_connection(self) -> None:
        """Queue the preface (client), our SETTINGS and the connection WINDOW_UPDATE."""
        self._h2.initiate_connection()
        if self.limits.initial_stream_window < _DEFAULT_WINDOW:
            # Smaller than the default: must only apply once the peer ACKs.
            self._h2.update_settings(
                {SettingCodes.INITIAL_WINDOW_SIZE: self.limits.initial_stream_window}
            )
        extra = self.limits.connection_window - _DEFAULT_WINDOW
        if extra > 0:
            self._h2.increment_flow_control_window(extra)
        self._drain()

    def initiate_upgrade_connection(self, settings_header: bytes) -> None:
        """Server side of ``Upgrade: h2c`` (RFC 7540 §3.2): stream 1 is the
        upgraded request, half-closed (remote); the client's preface follows.

        Raises:
            RemoteProtocolError: the HTTP2-Settings header is invalid.
        """
        try:
            self._h2.initiate_upgrade_connection(settings_header)
        except Exception as exc:
            raise RemoteProtocolError(f"invalid HTTP2-Settings header: {exc}") from None
        self._streams_seen += 1
        extra = self.limits.connection_window - _DEFAULT_WINDOW
        if extra > 0:
            self._h2.increment_flow_control_window(extra)
        self._drain()

    # ---------------------------------------------------------------- receive

    def receive_data(self, data: bytes) -> list[Event]:
        """Feed received bytes (``b""`` = EOF) and return the mux events.

        Raises:
            RemoteProtocolError: connection error; GOAWAY is queued, flush
                ``data_to_send()`` and close. Raised again on later calls.
        """
        if self._failure is not None:
            raise self._failure
        if not data:
            return [ev.ConnectionClosed()]
        self._drain()
        base = len(self._out)
        out: list[Event] = []
        try:
            for frame in self._guard.feed(data):
                out.extend(self._process(frame))
                self._check_induced(len(self._out) - base)
        except GuardViolation as exc:
            self._fail(exc.code, str(exc))
        except ProtocolError as exc:
            self._failure = RemoteProtocolError(str(exc), _known_code(exc.error_code))
            self._out += _with_debug_data(self._h2.data_to_send(), self._failure.args[0])
            raise self._failure from None
        except RemoteProtocolError:
            raise
        except Exception as exc:  # an h2/hpack bug must not escape as such
            self._fail(ErrorCode.INTERNAL_ERROR, f"internal error: {type(exc).__name__}: {exc}")
        self._induced += len(self._out) - base
        self._h2.prune_closed_streams()
        return out

    def _check_induced(self, induced: int) -> None:
        if self._induced + induced > self.limits.max_induced_bytes:
            self._fail(
                ErrorCode.ENHANCE_YOUR_CALM,
                f"peer induced more than {self.limits.max_induced_bytes} bytes of "
                "replies (PING/SETTINGS ACK, RST_STREAM) without reading",
            )

    def _fail(self, code: ErrorCode, message: str) -> None:
        """Queue GOAWAY(code) and raise the connection error."""
        message = plain_text(message)
        try:
            self._h2.close_connection(error_code=code, additional_data=message.encode()[:256])
            self._drain()
        except Exception:
            frame = GoAwayFrame(0)
            frame.last_stream_id = self._h2.highest_inbound_stream_id
            frame.error_code = int(code)
            self._out += frame.serialize()
        self._failure = RemoteProtocolError(message, code)
        raise self._failure

    def _process(self, frame: RawFrame) -> list[Event]:
        raw = self._triage(frame)
        if raw is None:
            result, self._pending_resets = self._pending_resets, []
            return result
        h2_events = self._h2.receive_frame(raw.type, raw.flags, raw.stream_id, raw.payload)
        self._drain()
        result, self._pending_resets = self._pending_resets, []
        for h2_event in h2_events:
            result.extend(self._translate(h2_event))
        if self._doomed_done:
            self._doomed = (self._doomed - self._doomed_done) or _NO_IDS
            self._doomed_done = _NO_IDS
        return result

    def _stream_state(self, stream_id: int) -> str:
        """ "idle", "open" or "closed" (our view, RFC 9113 §5.1)."""
        stream = self._h2.streams.get(stream_id)
        if stream is not None:  # h2's ``stream.closed``, without the property
            return "closed" if stream.state_machine.state is _STREAM_CLOSED else "open"
        outbound = stream_id % 2 == int(self.client_side)
        highest = (
            self._h2.highest_outbound_stream_id if outbound else self._h2.highest_inbound_stream_id
        )
        return "closed" if stream_id <= highest else "idle"

    def _triage(self, frame: RawFrame) -> RawFrame | None:
        """Apply the state-aware rules; return the frame to give h2, or None."""
        if frame.type not in _KNOWN_TYPES:
            return None
        if frame.type == PRIORITY:
            self._priority_frame(frame)
            return None
        if frame.type == HEADERS and frame.flags & FLAG_PRIORITY:
            frame = self._strip_priority(frame)
        if frame.type == WINDOW_UPDATE:
            self._count_window_update()
        if frame.type in (RST_STREAM, WINDOW_UPDATE) and frame.stream_id:
            return self._stream_control_frame(frame)
        if frame.type in _STREAM_TYPES and self._ended_by_peer(frame.stream_id):
            self._fail(
                ErrorCode.STREAM_CLOSED,
                f"frame type 0x{frame.type:x} on stream {frame.stream_id} after END_STREAM",
            )
        return frame

    def _count_window_update(self) -> None:
        """Data dribble (CVE-2019-9511): bound WINDOW_UPDATEs per DATA frame sent."""
        self._window_updates += 1
        lim = self.limits
        allowed = (
            lim.window_update_allowance
            + 2 * self._streams_seen
            + lim.window_updates_per_data_frame * self._data_frames_sent
        )
        if self._window_updates > allowed:
            self._fail(
                ErrorCode.ENHANCE_YOUR_CALM,
                f"too many WINDOW_UPDATE frames ({self._window_updates} for "
                f"{self._data_frames_sent} DATA frames sent)",
            )

    def _ended_by_peer(self, stream_id: int) -> bool:
        """True when the stream is closed and the closing was by END_STREAM
        (so the peer had ended its side): RFC 9113 §5.1 "closed"."""
        return bool(stream_id) and (
            self._stream_state(stream_id) == "closed"
            and self._h2._stream_is_closed_by_end(stream_id)
        )

    def _priority_frame(self, frame: RawFrame) -> None:
        if frame.stream_id == 0:
            self._fail(ErrorCode.PROTOCOL_ERROR, "PRIORITY frame on stream 0")
        if len(frame.payload) != 5:
            self._stream_error(frame.stream_id, ErrorCode.FRAME_SIZE_ERROR)
        elif int.from_bytes(frame.payload[:4], "big") & 0x7FFF_FFFF == frame.stream_id:
            self._stream_error(frame.stream_id, ErrorCode.PROTOCOL_ERROR)

    def _strip_priority(self, frame: RawFrame) -> RawFrame:
        payload = frame.payload
        pad = 1 if frame.flags & FLAG_PADDED else 0
        if len(payload) < pad + 5 or (pad and payload[0] > len(payload) - 6):
            self._fail(ErrorCode.PROTOCOL_ERROR, "HEADERS frame too short for its padding/priority")
        dependency = int.from_bytes(payload[pad : pad + 4], "big") & 0x7FFF_FFFF
        if dependency == frame.stream_id:
            self._doomed = {*self._doomed, frame.stream_id}
        body = payload[:pad] + payload[pad + 5 :]
        return RawFrame(frame.type, frame.flags & ~FLAG_PRIORITY, frame.stream_id, body)

    def _stream_control_frame(self, frame: RawFrame) -> RawFrame | None:
        if len(frame.payload) != 4:
            self._fail(ErrorCode.FRAME_SIZE_ERROR, f"frame type 0x{frame.type:x} length must be 4")
        state = self._stream_state(frame.stream_id)
        name = "RST_STREAM" if frame.type == RST_STREAM else "WINDOW_UPDATE"
        if state == "idle":
            self._fail(ErrorCode.PROTOCOL_ERROR, f"{name} on idle stream {frame.stream_id}")
        if state == "closed":
            return None  # a late frame: ignore (RFC 9113 §5.1 "closed")
        if frame.type == WINDOW_UPDATE and not int.from_bytes(frame.payload, "big") & 0x7FFF_FFFF:
            self._stream_error(frame.stream_id, ErrorCode.PROTOCOL_ERROR)
            return None
        return frame

    def _stream_error(self, stream_id: int, code: ErrorCode) -> None:
        """Reset a stream because of the peer (stream error, RFC 9113 §5.4.2)."""
        if self._stream_state(stream_id) == "open":
            self._h2.reset_stream(stream_id, error_code=code)
            self._drain()
            self._pending_resets.append(ev.StreamReset(stream_id, code, remote=False))
        else:
            frame = RstStreamFrame(stream_id)
            frame.error_code = int(code)
            self._out += frame.serialize()
        self._count_reset()

    def _count_reset(self) -> None:
        self._resets += 1
        lim = self.limits.reset_min_count
        if self._resets >= lim and self._resets * 2 > self._streams_seen:
            self._fail(
                ErrorCode.ENHANCE_YOUR_CALM,
                f"too many stream resets ({self._resets} of {self._streams_seen} streams)",
            )

    # -------------------------------------------------------- event translation

    def _translate(self, e: Any) -> list[Event]:
        sid: int = getattr(e, "stream_id", 0)
        if sid in self._doomed:
            return self._doomed_event(e)
        if type(e) is h2e.StreamEnded:  # the commonest events first
            return [ev.StreamEnded(sid)]
        if isinstance(e, h2e.RequestReceived | h2e.ResponseReceived):
            self._streams_seen += 1
            self._guard.credit()
            cls = ev.RequestReceived if isinstance(e, h2e.RequestReceived) else ev.ResponseReceived
            return [cls(sid, _headers(e.headers), e.stream_ended is not None)]
        if isinstance(e, h2e.DataReceived):
            if e.data:
                self._guard.credit()
            return [
                ev.DataReceived(sid, e.data, e.flow_controlled_length, e.stream_ended is not None)
            ]
        return self._translate_other(e)

    def _translate_other(self, e: Any) -> list[Event]:
        if isinstance(e, h2e.StreamEnded):
            return [ev.StreamEnded(e.stream_id)]
        if isinstance(e, h2e.StreamReset):
            self._count_reset()
            return [ev.StreamReset(e.stream_id, code_from_int(int(e.error_code)), e.remote_reset)]
        if isinstance(e, h2e.TrailersReceived):
            return [ev.TrailersReceived(e.stream_id, _headers(e.headers))]
        if isinstance(e, h2e.InformationalResponseReceived):
            return [ev.InformationalResponseReceived(e.stream_id, _headers(e.headers))]
        if isinstance(e, h2e.WindowUpdated):
            return [ev.WindowUpdated(e.stream_id, e.delta)]
        if isinstance(e, h2e.RemoteSettingsChanged):
            return [
                ev.SettingsChanged({int(k): v.new_value for k, v in e.changed_settings.items()})
            ]
        if isinstance(e, h2e.SettingsAcknowledged):
            return [ev.SettingsAcknowledged()]
        if isinstance(e, h2e.PingReceived):
            return [ev.PingReceived(e.ping_data)]
        if isinstance(e, h2e.PingAckReceived):
            return [ev.PingAcknowledged(e.ping_data)]
        if isinstance(e, h2e.ConnectionTerminated):
            self._goaway_received = True
            code = code_from_int(int(e.error_code or 0))
            return [ev.GoAwayReceived(code, e.last_stream_id or 0, e.additional_data or b"")]
        return []  # PriorityUpdated, UnknownFrameReceived, AltSvc, pushes: ignored

    def _doomed_event(self, e: Any) -> list[Event]:
        """Events of a stream we reset because of the peer: report only the reset."""
        if isinstance(e, _HEADER_EVENTS):
            self._doomed_done = {*self._doomed_done, e.stream_id}
            self._streams_seen += not isinstance(e, h2e.TrailersReceived)
            self._h2.reset_stream(e.stream_id, error_code=ErrorCode.PROTOCOL_ERROR)
            self._drain()
            self._count_reset()
            return [ev.StreamReset(e.stream_id, ErrorCode.PROTOCOL_ERROR, remote=False)]
        if isinstance(e, h2e.DataReceived):
            self.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
        return []

    # --------------------------------------------------------------- commands

    def data_to_send(self) -> bytes:
        """Drain and return every byte queued for the peer."""
        self._drain()
        data = bytes(self._out)
        self._out.clear()
        self._induced = 0
        return data

    def _drain(self) -> None:
        self._out += self._h2.data_to_send()

    def get_next_available_stream_id(self) -> int:
        """The id a new outbound stream would get."""
        with _local_errors():
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
            with _local_errors():
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
                with _local_errors():
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
        with _local_errors():
            for index, chunk in enumerate(chunks):
                last = end_stream and index == len(chunks) - 1
                if not h2c.fast_send_data(stream_id, chunk, last):
                    h2c.send_data(stream_id, chunk, end_stream=last)
        self._guard.credit()

    def end_stream(self, stream_id: int) -> None:
        """Half-close our side with an empty END_STREAM DATA frame."""
        if not self._h2.fast_end_stream(stream_id):
            with _local_errors():
                self._h2.end_stream(stream_id)

    def reset_stream(self, stream_id: int, error_code: ErrorCode = ErrorCode.CANCEL) -> None:
        """RST_STREAM; unknown or closed streams are a no-op."""
        if self._stream_state(stream_id) != "open":
            return
        with _local_errors():
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
        if stream is not None and stream.state_machine.state is not _STREAM_CLOSED:
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
        with _local_errors():
            self._h2.ping(data)

    def close_connection(
        self,
        error_code: ErrorCode = ErrorCode.NO_ERROR,
        *,
        last_stream_id: int | None = None,
        debug_data: bytes = b"",
    ) -> None:
        """Queue GOAWAY."""
        with _local_errors():
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


def _known_code(code: Any) -> ErrorCode:
    try:
        return ErrorCode(int(code))
    except (TypeError, ValueError):
        return ErrorCode.PROTOCOL_ERROR


def _headers(raw: Any) -> Headers:
    return [(bytes(name), bytes(value)) for name, value in raw]


@contextlib.contextmanager
def _local_errors() -> Iterator[None]:
    """Translate h2 exceptions raised by a command into LocalProtocolError."""
    try:
        yield
    except (H2Error, ValueError, TypeError) as exc:
        raise LocalProtocolError(f"{type(exc).__name__}: {exc}") from exc


#: The GOAWAY h2 queues on a connection error: 8 bytes of payload, no debug data.
_BARE_GOAWAY_HEADER = b"\x00\x00\x08\x07\x00\x00\x00\x00\x00"


def _with_debug_data(queued: bytes, reason: str) -> bytes:
    """``queued`` with h2's bare closing GOAWAY (its last frame) given ``reason``
    as debug data, so the peer learns why (h2 sends none)."""
    head = len(queued) - 17
    if head < 0 or queued[head : head + 9] != _BARE_GOAWAY_HEADER:
        return queued
    frame = GoAwayFrame(0)
    frame.last_stream_id = int.from_bytes(queued[head + 9 : head + 13], "big") & 0x7FFF_FFFF
    frame.error_code = int.from_bytes(queued[head + 13 :], "big")
    frame.additional_data = reason.encode()[:256]
    return queued[:head] + frame.serialize()
