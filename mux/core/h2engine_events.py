"""h2 events translated into mux events for :class:`~mux.core.h2engine.H2Engine`.

Theory of operation
-------------------
:meth:`H2EventsMixin._translate` maps each event h2 returns for a frame to
zero or more :mod:`mux.core.events` (the commonest first). A stream opened
counts for the reset and WINDOW_UPDATE budgets and, like any data received,
credits the guard's control-frame budget. Events of a stream doomed by the
triage (a self-dependency) are replaced by one ``StreamReset`` and the
stream is reset; its DATA is acknowledged so the connection window does not
stall. PriorityUpdated, unknown frames, ALTSVC and pushes are ignored.
"""

from __future__ import annotations

from typing import Any

import h2.events as h2e

from mux.core import events as ev
from mux.core.events import Event, Headers
from mux.core.h2engine_triage import H2TriageMixin
from mux.errors import ErrorCode, code_from_int

_HEADER_EVENTS = (
    h2e.RequestReceived,
    h2e.ResponseReceived,
    h2e.TrailersReceived,
    h2e.InformationalResponseReceived,
)


class H2EventsMixin(H2TriageMixin):
    """Translation of h2's events."""

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


def _headers(raw: Any) -> Headers:
    return [(bytes(name), bytes(value)) for name, value in raw]
