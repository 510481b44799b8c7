"""Data dribble (CVE-2019-9511): WINDOW_UPDATE frames per DATA frame sent are bounded."""

from __future__ import annotations

import pytest

from mux.core.h2guard import H2Limits
from mux.errors import ErrorCode, RemoteProtocolError
from tests.core.h2frames import goaway, server, window_update


def test_window_updates_beyond_the_allowance_without_data_are_a_connection_error() -> None:
    limits = H2Limits(window_update_allowance=50)
    engine, peer = server(limits)
    engine.receive_data(peer.headers(1))
    engine.data_to_send()
    # The request itself allows two more (one per stream the peer opened).
    engine.receive_data(window_update(0, 1) * 52)
    with pytest.raises(RemoteProtocolError) as info:
        engine.receive_data(window_update(0, 1))
    assert info.value.code == ErrorCode.ENHANCE_YOUR_CALM
    frame = goaway(engine.data_to_send())
    assert frame is not None and frame.error_code == ErrorCode.ENHANCE_YOUR_CALM
    assert b"WINDOW_UPDATE" in frame.additional_data


def test_a_peer_acknowledging_each_data_frame_is_fine() -> None:
    """Stream + connection WINDOW_UPDATE for every DATA frame we send: 2 per frame."""
    engine, peer = server(H2Limits(window_update_allowance=10))
    engine.receive_data(peer.headers(1))
    engine.send_headers(1, [(b":status", b"200")])
    for _ in range(500):
        engine.send_data(1, b"x" * 100)
        engine.receive_data(window_update(1, 100) + window_update(0, 100))
    engine.data_to_send()
