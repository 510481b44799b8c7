"""Protocol limits of one mux/msgpack connection: advertised settings and flood budgets.

Theory of operation
-------------------
:class:`ProtocolLimits` is the one frozen, validated bag of numbers that bounds
what a peer can make a :class:`~mux.core.connection.MuxConnection` do. The
first six fields are advertised to the peer as SETTINGS (only non-default
values are sent, :meth:`ProtocolLimits.to_settings`). The rest are local flood
budgets that the peer never sees (spec/mux-protocol.md "PING", "Streams";
/work/shared/guides/threats.md section 2 "Frame floods", "Stream-open floods").
A breached budget is the connection error ENHANCE_YOUR_CALM.

Budgets count *peer-caused* work that does not move the connection forward.
"Progress" means a stream opened by the peer, a non-empty DATA frame received,
or DATA we sent; it resets the control-frame and unknown-frame counters, so a
busy legitimate connection never trips them while a flood of cheap frames does.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Final

import attrs
from attrs import validators as v

from mux.core.settings import DEFAULTS, SettingId

_U31: Final = 2**31 - 1
_U32: Final = 2**32 - 1


#: Validator of every flood budget: a positive int.
_POSITIVE: Final = v.and_(v.instance_of(int), v.ge(1))


@attrs.frozen
class ProtocolLimits:
    """Limits for one connection (defaults follow threats.md section 3)."""

    #: Streams the peer may have open at once (SETTINGS 0x1). Excess streams are
    #: refused with REFUSED_STREAM. ~100 like nginx/h2o/HAProxy/hypercorn.
    max_concurrent_streams: int = attrs.field(
        default=DEFAULTS[SettingId.MAX_CONCURRENT_STREAMS],
        validator=[v.instance_of(int), v.ge(0), v.le(_U31)],
    )
    #: Receive window per stream in bytes (SETTINGS 0x2); bounds buffered body
    #: per stream. 256 KiB like yamux.
    initial_stream_window: int = attrs.field(
        default=DEFAULTS[SettingId.INITIAL_STREAM_WINDOW],
        validator=[v.instance_of(int), v.ge(0), v.le(_U31)],
    )
    #: Receive window of the whole connection in bytes (SETTINGS 0x3); bounds
    #: buffered body per connection. 1 MiB (Envoy's edge recommendation).
    connection_window: int = attrs.field(
        default=DEFAULTS[SettingId.CONNECTION_WINDOW],
        validator=[v.instance_of(int), v.ge(0), v.le(_U31)],
    )
    #: Largest frame payload we accept in bytes (SETTINGS 0x4); checked on the
    #: 10-byte header before buffering (threats.md "Huge length prefix").
    max_frame_size: int = attrs.field(
        default=DEFAULTS[SettingId.MAX_FRAME_SIZE],
        validator=[v.instance_of(int), v.ge(1024), v.le(16777215)],
    )
    #: Largest HEADERS payload we decode in bytes (SETTINGS 0x5); bigger blocks
    #: are not decoded, the stream gets HEADER_LIST_TOO_LARGE. 64 KiB like hypercorn.
    max_header_list_size: int = attrs.field(
        default=DEFAULTS[SettingId.MAX_HEADER_LIST_SIZE],
        validator=[v.instance_of(int), v.ge(0), v.le(_U32)],
    )
    #: Our keepalive ping interval in ms (SETTINGS 0x6); 0 = we send no pings.
    #: Informational for the peer; the driver owns the clock.
    keepalive_interval_ms: int = attrs.field(
        default=DEFAULTS[SettingId.KEEPALIVE_INTERVAL],
        validator=[v.instance_of(int), v.ge(0), v.le(_U32)],
    )
    #: Frames the peer made us queue (PONG, SETTINGS ACK, RST_STREAM) that the
    #: driver has not drained with data_to_send() yet: a peer that floods while
    #: not reading stalls our writer, so this bounds the queue
    #: (Go/nginx/gRPC 10000, Envoy 1000; threats.md "Ping flood", "Reset flood").
    max_queued_control_frames: int = attrs.field(default=10000, validator=_POSITIVE)
    #: PING, SETTINGS, WINDOW_UPDATE, RST_STREAM, GOAWAY frames received since
    #: the last progress (see module doc). Generous so idle keepalive never trips it.
    max_control_frames_without_progress: int = attrs.field(default=10000, validator=_POSITIVE)
    #: Consecutive DATA frames with an empty payload and no END_STREAM
    #: (CVE-2019-9518; Envoy allows 1, we allow a few).
    max_empty_frames: int = attrs.field(default=10, validator=_POSITIVE)
    #: Unknown-type frames received since the last progress (they are ignored but
    #: cost a dispatch each; threats.md "Invalid preface / garbage").
    max_unknown_frames: int = attrs.field(default=1000, validator=_POSITIVE)
    #: Premature resets (the peer's RST_STREAM on an open stream, plus our own
    #: stream-error resets: Rapid Reset CVE-2023-44487 and MadeYouReset
    #: CVE-2025-8671) tolerated before ENHANCE_YOUR_CALM; the budget trips only
    #: when resets are also more than half of the streams the peer opened
    #: (Envoy's premature-reset ratio: >50 % of >=500).
    max_premature_resets: int = attrs.field(default=1000, validator=_POSITIVE)
    #: Streams refused with REFUSED_STREAM (over MAX_CONCURRENT_STREAMS or after
    #: our GOAWAY) before ENHANCE_YOUR_CALM (nginx: > max(128, 100) refused).
    max_refused_streams: int = attrs.field(default=256, validator=_POSITIVE)
    #: How many stream ids we reset are remembered so that the peer's late
    #: frames on them are ignored silently; older ones get STREAM_CLOSED. Bounds
    #: closed-stream memory (ids only, ~100 bytes each).
    recently_reset_memory: int = attrs.field(default=256, validator=_POSITIVE)

    #: Fields (name/value pairs) in one received header list; more is the
    #: stream error HEADER_LIST_TOO_LARGE. Bytes alone do not bound per-field
    #: work: 64 KiB of 2-byte fields is 16384 of them (threats.md
    #: "Header-count amplification"; Envoy/nginx cap the count near 100-1000).
    max_header_fields: int = attrs.field(default=256, validator=_POSITIVE)

    #: Largest receive window per stream in bytes that auto-tuning may grow to
    #: (mux.core.flow.WindowTuner). One stream's throughput is at most window /
    #: round trip, so 256 KiB caps a 1 ms path near 250 MiB/s; 4 MiB covers
    #: 10 Gbit/s at ~3 ms. Growth happens only while the application keeps up,
    #: but a reader that slows down after growth may hold the grown window, so
    #: the default stays modest for a gateway holding many connections. A value
    #: not above initial_stream_window disables stream auto-tuning.
    max_stream_window: int = attrs.field(
        default=4 * 2**20, validator=[v.instance_of(int), v.ge(0), v.le(_U31)]
    )
    #: Largest connection receive window in bytes that auto-tuning may grow to:
    #: the per-connection memory budget for buffered bodies (every stream
    #: window is also bounded by it). A value not above connection_window
    #: disables connection auto-tuning. 16 MiB: at most that much buffered body
    #: per connection even after growth.
    max_connection_window: int = attrs.field(
        default=16 * 2**20, validator=[v.instance_of(int), v.ge(0), v.le(_U31)]
    )

    #: Streams the peer may open over the connection's life (spec 11.2, suggested
    #: 10000; nginx keepalive_requests, Envoy max_requests_per_connection). The
    #: stream that reaches it is served, then GOAWAY(NO_ERROR, its id) sends the
    #: client to a new connection; later ids are refused (safe to retry).
    max_streams_per_connection: int = attrs.field(default=10000, validator=_POSITIVE)

    @property
    def stream_window_cap(self) -> int:
        """What a stream receive window may grow to (never above the connection budget)."""
        return min(self.max_stream_window, self.max_connection_window)

    def to_settings(self) -> dict[int, int]:
        """The SETTINGS entries to advertise: only values that differ from the default."""
        values = {
            SettingId.MAX_CONCURRENT_STREAMS: self.max_concurrent_streams,
            SettingId.INITIAL_STREAM_WINDOW: self.initial_stream_window,
            SettingId.CONNECTION_WINDOW: self.connection_window,
            SettingId.MAX_FRAME_SIZE: self.max_frame_size,
            SettingId.MAX_HEADER_LIST_SIZE: self.max_header_list_size,
            SettingId.KEEPALIVE_INTERVAL: self.keepalive_interval_ms,
        }
        return {int(k): val for k, val in values.items() if DEFAULTS[k] != val}


#: Shared default limits (frozen, so connections can share one instance).
DEFAULT_LIMITS: Final = ProtocolLimits()


@functools.lru_cache(maxsize=64)
def advertised_settings(limits: ProtocolLimits) -> Mapping[int, int]:
    """``limits.to_settings()``, computed once per limits object (treat as read only)."""
    return limits.to_settings()


#: MAX_FRAME_SIZE that ``mux serve`` and the SDK advertise (the spec default,
#: and :class:`ProtocolLimits`' default, is 64 KiB). Large DATA frames cost no
#: fairness here (a sender's write is queued whole whatever its framing) and
#: let a bulk receiver read each payload in one aligned, uncopied read
#: (mux.driver.bulkread); non-DATA frames stay bounded by the decoder's
#: ``max_buffered`` whatever this value (mux.core.codec).
ENDPOINT_MAX_FRAME_SIZE: Final = 1 << 20


def endpoint_limits(**changes: int) -> ProtocolLimits:
    """The limits mux's own server and SDK use: defaults, 1 MiB frames, ``changes``."""
    return ProtocolLimits(**{"max_frame_size": ENDPOINT_MAX_FRAME_SIZE, **changes})
