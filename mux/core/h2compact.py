"""Compact replacements for h2's per-connection helper objects (private to the h2 engine).

Theory of operation
-------------------
An idle HTTP/2 connection should cost little memory, and most of what an idle
``h2.connection.H2Connection`` holds is bookkeeping sized for the busy case:

* ``h2.settings.Settings`` keeps one ``collections.deque`` (about 760 bytes
  each, empty or not) per setting, for the current value and any values sent
  but not yet acknowledged, for both the local and the remote settings.
  :class:`CompactSettings` keeps the current values in one small dict and the
  pending values in lists created only while a change is in flight; its public
  behaviour (mapping API, properties, ``acknowledge``, validation, errors,
  iteration order) is that of h2's ``Settings``, which it subclasses.
* hpack's ``HeaderTable`` creates an empty ``deque`` for the dynamic table.
  :class:`LazyHeaderTable` starts with a shared empty tuple and creates the
  deque on the first insertion.
* ``H2Connection`` builds a dict of twelve bound methods (its frame dispatch
  table) per connection. :class:`FrameDispatch` looks the handler up by name
  on demand, so patched or overridden handlers are found as before.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.exceptions import InvalidSettingsValueError
from h2.settings import ChangedSetting, SettingCodes, Settings, _validate_setting
from hpack.table import HeaderTable, table_entry_size

_Key = SettingCodes | int

#: The frame handlers' names, read from h2's own dispatch table.
_HANDLER_NAMES: dict[type, str] = {
    frame_type: handler.__name__
    for frame_type, handler in H2Connection(H2Configuration())._frame_dispatch_table.items()
}


class CompactSettings(Settings):
    """``h2.settings.Settings`` with plain values and on-demand pending queues.

    Args:
        client: whether the defaults are a client's (ENABLE_PUSH).
        initial_values: values replacing the RFC defaults.

    Raises:
        InvalidSettingsValueError: an initial value is out of range.
    """

    __slots__ = ("_client", "_current", "_pending")

    def __init__(self, client: bool = True, initial_values: Mapping[Any, int] | None = None):
        self._client = client
        #: setting -> current value (None: known only from a pending change).
        self._current: dict[_Key, int | None] = {
            SettingCodes.HEADER_TABLE_SIZE: 4096,
            SettingCodes.ENABLE_PUSH: int(client),
            SettingCodes.INITIAL_WINDOW_SIZE: 65535,
            SettingCodes.MAX_FRAME_SIZE: 16384,
            SettingCodes.ENABLE_CONNECT_PROTOCOL: 0,
        }
        #: setting -> values set but not yet acknowledged, oldest first.
        self._pending: dict[_Key, list[int]] | None = None
        if initial_values is not None:
            for key, value in initial_values.items():
                _check(key, value)
                self._current[key] = value

    def acknowledge(self) -> dict[_Key, ChangedSetting]:
        """Apply the oldest pending value of every setting (as h2 does).

        Returns:
            ``{setting: ChangedSetting}`` for the settings that changed.
        """
        changed: dict[_Key, ChangedSetting] = {}
        pending = self._pending
        if pending is None:
            return changed
        for key in [k for k in self._current if k in pending]:
            queue = pending[key]
            old, new = self._current[key], queue.pop(0)
            self._current[key] = new
            changed[key] = ChangedSetting(key, old, new)
            if not queue:
                del pending[key]
        if not pending:
            self._pending = None
        return changed

    def __getitem__(self, key: _Key) -> int:
        value = self._current[key]
        if value is None:
            raise KeyError
        return value

    def __setitem__(self, key: _Key, value: int) -> None:
        _check(key, value)
        if key not in self._current:
            self._current[key] = None
        if self._pending is None:
            self._pending = {}
        self._pending.setdefault(key, []).append(value)

    def __delitem__(self, key: _Key) -> None:
        del self._current[key]
        if self._pending is not None:
            self._pending.pop(key, None)
            if not self._pending:
                self._pending = None

    def __iter__(self) -> Iterator[_Key]:
        return iter(self._current)

    def __len__(self) -> int:
        return len(self._current)

    @property
    def _settings(self) -> dict[_Key, deque[Any]]:  # type: ignore[override]
        """h2's representation (a fresh copy), for comparisons with a ``Settings``."""
        pending = self._pending or {}
        return {k: deque([v, *pending.get(k, ())]) for k, v in self._current.items()}

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Settings):
            return self._settings == other._settings
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        if isinstance(other, Settings):
            return not self == other
        return NotImplemented

    __hash__ = Settings.__hash__


def _check(key: _Key, value: int) -> None:
    invalid = _validate_setting(key, value)
    if invalid:
        raise InvalidSettingsValueError(
            f"Setting {key} has invalid value {value}", error_code=invalid
        )


class LazyHeaderTable(HeaderTable):
    """hpack's ``HeaderTable``; the dynamic-table deque is made on first use."""

    def __init__(self) -> None:
        super().__init__()
        self.dynamic_entries = _EMPTY

    def add(self, name: bytes, value: bytes) -> None:
        """hpack's ``add``, creating the deque first."""
        if self.dynamic_entries is _EMPTY:
            if table_entry_size(name, value) > self._maxsize:
                self._current_size = 0
                return
            self.dynamic_entries = deque()
        super().add(name, value)


class _NoEntries(tuple[tuple[bytes, bytes], ...]):
    """An empty dynamic table: what hpack reads from one, plus ``clear``."""

    __slots__ = ()

    def clear(self) -> None:
        """Nothing to clear (hpack clears the table when it shrinks to 0)."""


#: The empty dynamic table every fresh :class:`LazyHeaderTable` shares.
_EMPTY: Any = _NoEntries()


class FrameDispatch:
    """``H2Connection._frame_dispatch_table`` without the per-connection dict
    of bound methods: ``table[frame_type]`` is the connection's handler."""

    __slots__ = ("_conn",)

    def __init__(self, conn: H2Connection) -> None:
        self._conn = conn

    def __getitem__(self, frame_type: type) -> Callable[..., Any]:
        handler: Callable[..., Any] = getattr(self._conn, _HANDLER_NAMES[frame_type])
        return handler
