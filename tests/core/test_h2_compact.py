"""The compact h2 helpers behave as h2's own, and an idle H2Engine stays small."""

from __future__ import annotations

import gc
import tracemalloc
from typing import Any

import h2.config
import h2.connection
import pytest
from h2.exceptions import InvalidSettingsValueError
from h2.settings import SettingCodes, Settings
from hpack.table import HeaderTable
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from mux.core.h2compact import CompactSettings, LazyHeaderTable
from mux.core.h2engine import H2Engine

#: Known codes, an unknown one, and values valid and invalid for some codes.
_KEYS = st.sampled_from([*SettingCodes, 0x20])
_VALUES = st.sampled_from([0, 1, 2, 100, 4096, 16383, 16384, 65535, 2**24, 2**31, 2**32 - 1])
_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("set"), _KEYS, _VALUES),
        st.tuples(st.just("ack"), st.none(), st.none()),
        st.tuples(st.just("del"), _KEYS, st.none()),
        st.tuples(st.just("check"), _KEYS, _VALUES),
    ),
    max_size=25,
)
_PROPS = [
    "header_table_size",
    "enable_push",
    "initial_window_size",
    "max_frame_size",
    "max_concurrent_streams",
    "max_header_list_size",
    "enable_connect_protocol",
]


def _apply(settings: Settings, op: tuple[str, Any, Any]) -> Any:
    """One operation and its observable outcome (result or exception)."""
    kind, key, value = op
    try:
        if kind == "set":
            settings[key] = value
            return None
        if kind == "del":
            del settings[key]
            return None
        if kind == "check":
            settings.validate_received_setting(key, value)
            return None
        return {k: (c.original_value, c.new_value) for k, c in settings.acknowledge().items()}
    except (KeyError, InvalidSettingsValueError) as exc:
        return (type(exc), getattr(exc, "error_code", None))


def _view(settings: Settings) -> Any:
    props = []
    for name in _PROPS:
        try:
            props.append(getattr(settings, name))
        except KeyError:
            props.append(KeyError)
    try:
        items: Any = list(settings.items())
    except KeyError:  # h2: a setting known only from a pending change
        items = (KeyError, list(settings))
    return (items, len(settings), props, settings.get(0x20))


@hsettings(max_examples=300, deadline=None)
@given(st.booleans(), st.dictionaries(_KEYS, _VALUES, max_size=4), _OPS)
def test_compact_settings_behave_as_h2_settings(
    client: bool, initial: dict[Any, int], ops: list[tuple[str, Any, Any]]
) -> None:
    def make(cls: type[Settings]) -> Any:
        try:
            return cls(client=client, initial_values=initial)
        except InvalidSettingsValueError as exc:
            return exc.error_code

    plain, compact = make(Settings), make(CompactSettings)
    assert type(plain) is not Settings or isinstance(compact, CompactSettings)
    if not isinstance(plain, Settings):
        assert plain == compact
        return
    assert compact == plain and plain == compact
    for op in ops:
        assert _apply(compact, op) == _apply(plain, op), op
        assert _view(compact) == _view(plain)
        assert compact == plain and plain == compact
        assert not (compact != plain) and not (plain != compact)  # noqa: SIM202


def test_compact_settings_have_no_pending_state_once_acknowledged() -> None:
    settings = CompactSettings(client=False)
    settings.update({SettingCodes.INITIAL_WINDOW_SIZE: 10, SettingCodes.MAX_FRAME_SIZE: 2**15})
    settings[SettingCodes.INITIAL_WINDOW_SIZE] = 20
    assert settings.initial_window_size == 65535
    changed = settings.acknowledge()
    assert [(c.setting, c.original_value, c.new_value) for c in changed.values()] == [
        (SettingCodes.INITIAL_WINDOW_SIZE, 65535, 10),
        (SettingCodes.MAX_FRAME_SIZE, 16384, 2**15),
    ]
    assert settings._pending is not None
    assert settings.acknowledge()[SettingCodes.INITIAL_WINDOW_SIZE].new_value == 20
    assert settings._pending is None
    assert vars(settings) == {}  # all state lives in the slots


_FIELDS = st.tuples(
    st.sampled_from([b":path", b"x-a", b"x-b", b"cookie", b"x-" + b"n" * 60]),
    st.sampled_from([b"", b"/", b"v", b"w" * 100, b"z" * 5000]),
)
_TABLE_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), _FIELDS),
        st.tuples(st.just("size"), st.sampled_from([0, 40, 200, 4096, 8192])),
        st.tuples(st.just("search"), _FIELDS),
        st.tuples(st.just("index"), st.integers(min_value=0, max_value=70)),
    ),
    max_size=40,
)


def _table_op(table: HeaderTable, op: tuple[str, Any]) -> Any:
    kind, arg = op
    if kind == "add":
        table.add(*arg)
    elif kind == "size":
        table.maxsize = arg
    elif kind == "search":
        return table.search(*arg)
    else:
        try:
            return table.get_by_index(arg)
        except Exception as exc:
            return type(exc)
    return None


@hsettings(max_examples=300, deadline=None)
@given(_TABLE_OPS)
def test_lazy_header_table_behaves_as_hpack_table(ops: list[tuple[str, Any]]) -> None:
    plain, lazy = HeaderTable(), LazyHeaderTable()
    for op in ops:
        assert _table_op(lazy, op) == _table_op(plain, op), op
        assert list(lazy.dynamic_entries) == list(plain.dynamic_entries)
        assert (lazy.maxsize, lazy._current_size) == (plain.maxsize, plain._current_size)


def _idle_server() -> H2Engine:
    """A server engine after a complete handshake (SETTINGS both ways, ACKed)."""
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    client.initiate_connection()
    server = H2Engine(client_side=False)
    server.initiate_connection()
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    server.receive_data(client.data_to_send())
    assert server.data_to_send() == b""
    for settings in (server._h2.local_settings, server._h2.remote_settings):
        assert isinstance(settings, CompactSettings) and settings._pending is None
    return server


#: Measured ~3.9 KiB per idle engine (with h2's own helpers: ~17.7 KiB); 50%
#: headroom for interpreter and library differences, far below the old figure.
IDLE_ENGINE_BOUND = 6 * 1024


def test_idle_engine_memory_is_bounded() -> None:
    """Memory held by idle handshaken server engines (tracemalloc, per engine)."""
    count = 50
    _idle_server()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        engines = [_idle_server() for _ in range(count)]
        gc.collect()
        per_engine = (tracemalloc.get_traced_memory()[0] - before) / count
    finally:
        tracemalloc.stop()
    assert len(engines) == count
    assert 1024 < per_engine < IDLE_ENGINE_BOUND, per_engine


@pytest.mark.parametrize("client_side", [False, True])
def test_engine_uses_compact_helpers(client_side: bool) -> None:
    engine = H2Engine(client_side=client_side)
    h2c = engine._h2
    assert type(h2c.local_settings) is CompactSettings
    assert type(h2c.remote_settings) is CompactSettings
    assert type(h2c.encoder.header_table) is LazyHeaderTable
    assert type(h2c.decoder.header_table) is LazyHeaderTable
