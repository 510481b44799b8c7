"""SETTINGS identifiers, defaults, valid ranges and the settings snapshot.

Theory of operation
-------------------
Settings describe what their *sender* accepts (spec/mux-protocol.md
"SETTINGS"). Each side holds two snapshots: the peer's settings (applied as
soon as the frame is processed) and ours (in force once the peer ACKs; until
then :class:`mux.core.connection.MuxConnection` enforces the looser of the old
and new values). A :class:`Settings` snapshot is frozen; a change produces a
new one with :meth:`Settings.with_changes`, because changes are rare and a
frozen object can be handed out read-only.

:func:`check_settings` validates ranges; an out-of-range value is a connection
error whose code depends on the setting (windows: FLOW_CONTROL_ERROR, the
rest: PROTOCOL_ERROR); with several, the lowest id decides. Unknown ids are ignored (dropped by
:func:`known_settings`).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Final

import attrs

from mux.errors import ErrorCode, FlowControlError, RemoteProtocolError


class SettingId(enum.IntEnum):
    """Known SETTINGS identifiers of v1."""

    MAX_CONCURRENT_STREAMS = 0x1
    INITIAL_STREAM_WINDOW = 0x2
    CONNECTION_WINDOW = 0x3
    MAX_FRAME_SIZE = 0x4
    MAX_HEADER_LIST_SIZE = 0x5
    KEEPALIVE_INTERVAL = 0x6


#: Default of each setting: the value in force before any SETTINGS arrives.
DEFAULTS: Final[Mapping[int, int]] = {
    SettingId.MAX_CONCURRENT_STREAMS: 100,  # streams; nginx/h2o/hypercorn use ~100
    SettingId.INITIAL_STREAM_WINDOW: 262144,  # bytes (256 KiB); yamux's default
    SettingId.CONNECTION_WINDOW: 1048576,  # bytes (1 MiB); Envoy's edge advice
    SettingId.MAX_FRAME_SIZE: 65536,  # bytes of payload per frame
    SettingId.MAX_HEADER_LIST_SIZE: 65536,  # bytes of HEADERS payload (hypercorn's 64 KiB)
    SettingId.KEEPALIVE_INTERVAL: 0,  # ms; 0 = the sender sends no keepalive pings
}

#: Valid range of each setting and the connection error code for a violation.
RANGES: Final[Mapping[int, tuple[int, int, ErrorCode]]] = {
    SettingId.MAX_CONCURRENT_STREAMS: (0, 2**31 - 1, ErrorCode.PROTOCOL_ERROR),
    SettingId.INITIAL_STREAM_WINDOW: (0, 2**31 - 1, ErrorCode.FLOW_CONTROL_ERROR),
    SettingId.CONNECTION_WINDOW: (0, 2**31 - 1, ErrorCode.FLOW_CONTROL_ERROR),
    SettingId.MAX_FRAME_SIZE: (1024, 16777215, ErrorCode.PROTOCOL_ERROR),
    SettingId.MAX_HEADER_LIST_SIZE: (0, 2**32 - 1, ErrorCode.PROTOCOL_ERROR),
    SettingId.KEEPALIVE_INTERVAL: (0, 2**32 - 1, ErrorCode.PROTOCOL_ERROR),
}


def known_settings(changes: Mapping[int, int]) -> dict[int, int]:
    """Keep only the known ids of ``changes`` (unknown ids are ignored)."""
    return {k: v for k, v in changes.items() if k in RANGES}


def check_settings(changes: Mapping[int, int]) -> None:
    """Check every known setting of ``changes`` against its range, in ascending id order.

    When several are out of range, the lowest id decides the error (spec Section 6,
    revision 1.1), whatever the order of the entries in the payload.

    Raises:
        FlowControlError: a window setting is above 2^31-1.
        RemoteProtocolError: PROTOCOL_ERROR for any other value out of range.
    """
    for key, value in sorted(changes.items()):
        bounds = RANGES.get(key)
        if bounds is None:
            continue
        low, high, code = bounds
        if not low <= value <= high:
            message = (
                f"setting {SettingId(key).name} (0x{key:x}) = {value} is outside {low}..{high}"
            )
            if code is ErrorCode.FLOW_CONTROL_ERROR:
                raise FlowControlError(message)
            raise RemoteProtocolError(message, code)


@attrs.frozen
class Settings:
    """One side's settings in force (read-only snapshot)."""

    max_concurrent_streams: int = DEFAULTS[SettingId.MAX_CONCURRENT_STREAMS]
    initial_stream_window: int = DEFAULTS[SettingId.INITIAL_STREAM_WINDOW]
    connection_window: int = DEFAULTS[SettingId.CONNECTION_WINDOW]
    max_frame_size: int = DEFAULTS[SettingId.MAX_FRAME_SIZE]
    max_header_list_size: int = DEFAULTS[SettingId.MAX_HEADER_LIST_SIZE]
    keepalive_interval_ms: int = DEFAULTS[SettingId.KEEPALIVE_INTERVAL]

    def get(self, setting: int) -> int:
        """The value of a known setting id."""
        return int(getattr(self, _FIELDS[setting]))

    def with_changes(self, changes: Mapping[int, int]) -> Settings:
        """A snapshot with the known ids of ``changes`` applied.

        Snapshots are interned: connections whose settings are equal share one
        object (an idle connection holds three), see :func:`_interned`.
        """
        updates = {_FIELDS[k]: v for k, v in changes.items() if k in _FIELDS}
        return _interned(attrs.evolve(self, **updates)) if updates else self

    def as_dict(self) -> dict[int, int]:
        """The snapshot as ``{setting id: value}``."""
        return {k: int(getattr(self, name)) for k, name in _FIELDS.items()}


_FIELDS: Final[Mapping[int, str]] = {
    SettingId.MAX_CONCURRENT_STREAMS: "max_concurrent_streams",
    SettingId.INITIAL_STREAM_WINDOW: "initial_stream_window",
    SettingId.CONNECTION_WINDOW: "connection_window",
    SettingId.MAX_FRAME_SIZE: "max_frame_size",
    SettingId.MAX_HEADER_LIST_SIZE: "max_header_list_size",
    SettingId.KEEPALIVE_INTERVAL: "keepalive_interval_ms",
}

#: The shared default snapshot (frozen, so every connection can reuse it).
DEFAULT_SETTINGS: Final = Settings()

#: Interned snapshots (bounded: cleared when full, so varied peer values cost
#: at most this many objects).
_INTERNED: dict[Settings, Settings] = {DEFAULT_SETTINGS: DEFAULT_SETTINGS}
_MAX_INTERNED: Final = 256


def _interned(settings: Settings) -> Settings:
    """The shared snapshot equal to ``settings`` (frozen snapshots are safe to share)."""
    found = _INTERNED.get(settings)
    if found is None:
        if len(_INTERNED) >= _MAX_INTERNED:
            _INTERNED.clear()
        _INTERNED[settings] = found = settings
    return found
