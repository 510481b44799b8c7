"""The state every part of :class:`~mux.core.h2engine.H2Engine` shares, its
SETTINGS and its connection failure (GOAWAY).

Theory of operation
-------------------
The HTTP/2 engine is split by concern into a chain of classes, each in its
own module: :class:`H2EngineBase` (this module: the per-connection state, the
SETTINGS we announce, the stream-state view, the reset budget and the
connection failure that queues GOAWAY) →
:class:`~mux.core.h2engine_send.H2SendMixin` (commands: the send side) →
:class:`~mux.core.h2engine_triage.H2TriageMixin` (state-aware rules applied
to each inbound frame before h2 sees it) →
:class:`~mux.core.h2engine_events.H2EventsMixin` (h2 events translated into
mux events) → :class:`~mux.core.h2engine.H2Engine` (setup and the receive
dispatch). A class calls only what it or a class before it in the chain
defines, so no module imports a later one.

A connection failure (:meth:`H2EngineBase._fail`) queues GOAWAY with the
reason as debug data (a hand-built frame if h2 itself is broken) and raises
:class:`mux.errors.RemoteProtocolError`, kept to be raised again on later
calls; :func:`with_debug_data` gives h2's own bare GOAWAY the same reason.
"""

from __future__ import annotations

from typing import Any

from h2.config import H2Configuration
from h2.settings import SettingCodes
from h2.stream import StreamState
from hyperframe.frame import GoAwayFrame

from mux.core.events import Event
from mux.core.h2compact import CompactSettings
from mux.core.h2conn import HardenedH2Connection
from mux.core.h2guard import PREFACE, FrameGuard, H2Limits
from mux.errors import ErrorCode, RemoteProtocolError
from mux.wording import plain_text

#: h2's initial window (RFC 9113 §6.9.2): larger windows are announced, smaller ones
#: wait for the peer's SETTINGS ACK.
DEFAULT_WINDOW = 65_535
STREAM_CLOSED = StreamState.CLOSED
#: The shared empty set of doomed stream ids (idle memory), never mutated.
NO_IDS: frozenset[int] = frozenset()


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


class H2EngineBase:
    """Per-connection state of an HTTP/2 engine (see :class:`~mux.core.h2engine.H2Engine`).

    Args:
        client_side: True for the side that opens streams.
        limits: windows, stream limits and flood budgets.
    """

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
        self._doomed: frozenset[int] | set[int] = NO_IDS
        self._doomed_done: frozenset[int] | set[int] = NO_IDS
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
        if lim.initial_stream_window >= DEFAULT_WINDOW:
            values[SettingCodes.INITIAL_WINDOW_SIZE] = lim.initial_stream_window
        return values

    def _drain(self) -> None:
        self._out += self._h2.data_to_send()

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

    def _stream_state(self, stream_id: int) -> str:
        """ "idle", "open" or "closed" (our view, RFC 9113 §5.1)."""
        stream = self._h2.streams.get(stream_id)
        if stream is not None:  # h2's ``stream.closed``, without the property
            return "closed" if stream.state_machine.state is STREAM_CLOSED else "open"
        outbound = stream_id % 2 == int(self.client_side)
        highest = (
            self._h2.highest_outbound_stream_id if outbound else self._h2.highest_inbound_stream_id
        )
        return "closed" if stream_id <= highest else "idle"

    def _count_reset(self) -> None:
        self._resets += 1
        lim = self.limits.reset_min_count
        if self._resets >= lim and self._resets * 2 > self._streams_seen:
            self._fail(
                ErrorCode.ENHANCE_YOUR_CALM,
                f"too many stream resets ({self._resets} of {self._streams_seen} streams)",
            )


def known_code(code: Any) -> ErrorCode:
    try:
        return ErrorCode(int(code))
    except (TypeError, ValueError):
        return ErrorCode.PROTOCOL_ERROR


#: The GOAWAY h2 queues on a connection error: 8 bytes of payload, no debug data.
_BARE_GOAWAY_HEADER = b"\x00\x00\x08\x07\x00\x00\x00\x00\x00"


def with_debug_data(queued: bytes, reason: str) -> bytes:
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
