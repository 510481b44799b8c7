"""A client's GOAWAY does not close the connection under its in-flight streams.

RFC 9113 §6.8: the stream in flight completes and PINGs are answered; then the
server sends its own GOAWAY (NO_ERROR, last stream processed) and closes, for
a GOAWAY with or without an error code. mux follows its spec 9.1: NO_ERROR
drains the same way; an error code closes at once (without a handler
traceback). Real server, real sockets.
"""

from __future__ import annotations

import logging

import pytest
import trio
from hyperframe.frame import DataFrame, GoAwayFrame, HeadersFrame, PingFrame

from mux.config import ServerConfig
from mux.core import events as ev
from mux.core.connection import MuxConnection
from mux.errors import ErrorCode
from mux.server.demo import app as demo_app
from mux.server.server import Server
from tests.conftest import Harness
from tests.integration.h2sem_peer import RawH2, goaway, ping


@pytest.fixture
async def server(harness: Harness) -> Server:
    return await harness.server(demo_app, ServerConfig(host="127.0.0.1", port=0))


@pytest.mark.parametrize("code", [ErrorCode.NO_ERROR, ErrorCode.INTERNAL_ERROR])
async def test_h2_client_goaway_lets_the_stream_finish_then_answers(
    server: Server, code: ErrorCode
) -> None:
    peer = await RawH2.open(server.port)
    await peer.send(peer.headers(1, b"/delay/300"))
    await trio.sleep(0.05)  # the handler is running
    await peer.send(goaway(code) + ping())
    with trio.fail_after(5):
        frames = await peer.collect(quiet=3)
    assert peer.closed
    kinds = [(type(f), f.stream_id) for f in frames]
    assert any(isinstance(f, PingFrame) and "ACK" in f.flags for f in frames)
    assert (HeadersFrame, 1) in kinds
    end = next(
        i for i, f in enumerate(frames) if isinstance(f, DataFrame) and "END_STREAM" in f.flags
    )
    ours = [(i, f) for i, f in enumerate(frames) if isinstance(f, GoAwayFrame)]
    assert len(ours) == 1  # before: closed with no GOAWAY of ours
    index, frame = ours[0]
    assert index > end and index == len(frames) - 1
    assert frame.error_code == ErrorCode.NO_ERROR and frame.last_stream_id == 1


async def _mux_peer(port: int) -> tuple[trio.SocketStream, MuxConnection]:
    sock = await trio.open_tcp_stream("127.0.0.1", port)
    engine = MuxConnection(client_side=True)
    engine.initiate_connection()
    engine.send_headers(1, [(b":method", b"GET"), (b":path", b"/delay/300")], end_stream=True)
    await sock.send_all(engine.data_to_send())
    await trio.sleep(0.05)
    return sock, engine


async def _events_until_eof(sock: trio.SocketStream, engine: MuxConnection) -> list[ev.Event]:
    events: list[ev.Event] = []
    with trio.fail_after(5):
        while data := await sock.receive_some(65536):
            events += engine.receive_data(data)
    return events


async def test_mux_client_goaway_lets_the_stream_finish_then_answers(server: Server) -> None:
    sock, engine = await _mux_peer(server.port)
    engine.close_connection(ErrorCode.NO_ERROR, last_stream_id=0)
    engine.ping(b"abcdefgh")
    await sock.send_all(engine.data_to_send())
    events = await _events_until_eof(sock, engine)
    assert ev.PingAcknowledged(b"abcdefgh") in events
    ended = events.index(ev.StreamEnded(1))
    goaways = [e for e in events if isinstance(e, ev.GoAwayReceived)]
    assert len(goaways) == 1  # before: closed with no GOAWAY of ours
    assert events.index(goaways[0]) > ended
    assert goaways[0].error_code == ErrorCode.NO_ERROR and goaways[0].last_stream_id == 1
    await sock.aclose()


async def test_mux_client_goaway_with_an_error_closes_without_a_traceback(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    """mux spec 9.1: an error code closes at once; the handler still running
    must end quietly (before: "handler failed" with a traceback)."""
    caplog.set_level(logging.DEBUG)
    sock, engine = await _mux_peer(server.port)
    engine.close_connection(ErrorCode.INTERNAL_ERROR, last_stream_id=0)
    await sock.send_all(engine.data_to_send())
    with trio.fail_after(5):
        while await sock.receive_some(65536):
            pass
    await trio.sleep(0.5)  # the handler's delay is over: it tried to answer
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    await sock.aclose()
