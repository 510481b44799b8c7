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

Module layout: this module holds setup and the receive dispatch; the state,
SETTINGS and GOAWAY on failure are in :mod:`mux.core.h2engine_base`, the
commands in :mod:`mux.core.h2engine_send`, the frame rules in
:mod:`mux.core.h2engine_triage` and the event translation in
:mod:`mux.core.h2engine_events` (a chain of classes, each built on the one
before).
"""

from __future__ import annotations

from h2.exceptions import ProtocolError
from h2.settings import SettingCodes

from mux.core import events as ev
from mux.core.events import Event
from mux.core.h2engine_base import DEFAULT_WINDOW, NO_IDS, known_code, with_debug_data
from mux.core.h2engine_events import H2EventsMixin
from mux.core.h2guard import GuardViolation, RawFrame
from mux.errors import ErrorCode, RemoteProtocolError

__all__ = ["H2Engine"]


class H2Engine(H2EventsMixin):
    """One HTTP/2 connection (server or client side) as a mux Engine.

    Args:
        client_side: True for the side that opens streams.
        limits: windows, stream limits and flood budgets.
    """

    protocol = "h2"

    # ------------------------------------------------------------------ setup

    def initiate_connection(self) -> None:
        """Queue the preface (client), our SETTINGS and the connection WINDOW_UPDATE."""
        self._h2.initiate_connection()
        if self.limits.initial_stream_window < DEFAULT_WINDOW:
            # Smaller than the default: must only apply once the peer ACKs.
            self._h2.update_settings(
                {SettingCodes.INITIAL_WINDOW_SIZE: self.limits.initial_stream_window}
            )
        extra = self.limits.connection_window - DEFAULT_WINDOW
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
        extra = self.limits.connection_window - DEFAULT_WINDOW
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
            self._failure = RemoteProtocolError(str(exc), known_code(exc.error_code))
            self._out += with_debug_data(self._h2.data_to_send(), self._failure.args[0])
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
            self._doomed = (self._doomed - self._doomed_done) or NO_IDS
            self._doomed_done = NO_IDS
        return result
