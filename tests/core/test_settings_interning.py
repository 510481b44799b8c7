"""Settings snapshots are shared between connections with equal settings (idle memory)."""

from __future__ import annotations

from mux.core import settings as settings_mod
from mux.core.connection import MuxConnection
from mux.core.limits import endpoint_limits
from mux.core.settings import DEFAULT_SETTINGS, SettingId


def test_connections_with_equal_settings_share_one_snapshot() -> None:
    a = MuxConnection(client_side=False, limits=endpoint_limits())
    b = MuxConnection(client_side=False, limits=endpoint_limits())
    a.initiate_connection()
    b.initiate_connection()
    assert a._effective is b._effective
    assert a._effective.max_frame_size == 2**20


def test_interned_snapshots_are_equal_values_and_the_table_stays_bounded() -> None:
    first = DEFAULT_SETTINGS.with_changes({SettingId.MAX_FRAME_SIZE: 4096})
    assert first == DEFAULT_SETTINGS.with_changes({SettingId.MAX_FRAME_SIZE: 4096})
    assert first is DEFAULT_SETTINGS.with_changes({SettingId.MAX_FRAME_SIZE: 4096})
    for size in range(10_000, 10_000 + 3 * settings_mod._MAX_INTERNED):
        snapshot = DEFAULT_SETTINGS.with_changes({SettingId.MAX_FRAME_SIZE: size})
        assert snapshot.max_frame_size == size
    assert len(settings_mod._INTERNED) <= settings_mod._MAX_INTERNED
    assert DEFAULT_SETTINGS.with_changes({}) is DEFAULT_SETTINGS
