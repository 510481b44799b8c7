"""Builders of the mux/msgpack v1 test vectors, one module per concern.

Theory of operation
-------------------
Every byte is built with :mod:`struct` and :mod:`msgpack` only; nothing here imports
mux, so a bug in mux's own codec cannot leak into the vectors.

* :mod:`.wire`: wire constants, frame builders, the preface, a readable summary of bytes;
* :mod:`.registry`: the two vector registries and the helpers that fill them;
* one module per category of vector: :mod:`.frames` (frame vectors), :mod:`.framing`
  (preface/version, frame size, unknown types, stream 0, fixed sizes), :mod:`.headers`
  (HEADERS, msgpack shape, semantics, field rules), :mod:`.control` (RST_STREAM, SETTINGS,
  PING, GOAWAY), :mod:`.flow` (WINDOW_UPDATE, flow control), :mod:`.streams` (DATA, stream
  life cycle), :mod:`.order` (order of HEADERS checks, field count), :mod:`.rev11` (the
  points spec revision 1.1 resolved).

:data:`BUILDERS` lists the builders in the order they run; vectors keep that order in
their files, so it is part of the (deterministic) output.
"""

from __future__ import annotations

from collections.abc import Callable

from .control import goaway_sessions, ping_sessions, rst_sessions, settings_sessions
from .flow import flow_sessions, window_update_sessions
from .frames import frame_vectors
from .framing import (
    fixed_size_sessions,
    frame_size_sessions,
    preface_sessions,
    stream_zero_sessions,
    unknown_sessions,
)
from .headers import header_rule_sessions, headers_sessions, msgpack_sessions, semantics_sessions
from .order import field_count_sessions, order_sessions
from .registry import FRAME_FILES, SESSION_FILES
from .rev11 import rev11_frame_vectors, rev11_sessions
from .streams import data_sessions, stream_sessions

BUILDERS: tuple[Callable[[], None], ...] = (
    frame_vectors,
    rev11_frame_vectors,
    preface_sessions,
    frame_size_sessions,
    unknown_sessions,
    stream_zero_sessions,
    fixed_size_sessions,
    data_sessions,
    headers_sessions,
    msgpack_sessions,
    semantics_sessions,
    rst_sessions,
    settings_sessions,
    ping_sessions,
    goaway_sessions,
    window_update_sessions,
    flow_sessions,
    stream_sessions,
    order_sessions,
    field_count_sessions,
    header_rule_sessions,
    rev11_sessions,
)

__all__ = ["BUILDERS", "FRAME_FILES", "SESSION_FILES"]
