"""The immediate WINDOW_UPDATE write (``WriterMixin._send_now``) when the socket is full.

Consuming a bulk body queues a WINDOW_UPDATE that the consuming task writes at
once, without a flusher task. When the socket takes only part of it (or none),
the rest becomes the ``_carry`` of a flusher, which must send exactly those
bytes, before anything newer: the peer then parses whole frames and gets its
credit. A full send buffer cannot be produced on demand over loopback without
cutting a frame, so the first immediate write is made to take 3 bytes only.
"""

from __future__ import annotations

import pytest
import trio
from conftest import Harness, tcp_pair

from mux.core import events as ev
from mux.core.connection import MuxConnection
from mux.driver import writer

KIB = 1024


async def _events_until(
    peer: MuxConnection, transport: trio.SocketStream, wanted: type
) -> list[ev.Event]:
    """The peer's events up to and including the first of type ``wanted``."""
    got: list[ev.Event] = []
    with trio.fail_after(5):
        while not any(isinstance(e, wanted) for e in got):
            data = await transport.receive_some(65536)
            assert data, "the driver closed the connection"
            got += peer.receive_data(data)
    return got


@pytest.mark.parametrize("taken", [0, 3])
async def test_window_update_the_socket_refuses_is_carried_whole(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, taken: int
) -> None:
    c, s = await tcp_pair()
    client = await harness.drive(c, client_side=True)
    peer = MuxConnection(client_side=False)
    peer.initiate_connection()
    await s.send_all(peer.data_to_send())
    stream = await client.open_stream([(b":method", b"GET"), (b":path", b"/")], end_stream=True)
    request = await _events_until(peer, s, ev.RequestReceived)
    sid = next(e.stream_id for e in request if isinstance(e, ev.RequestReceived))
    body = bytes(range(256)) * 800  # 200 KiB: taking it is worth a WINDOW_UPDATE
    peer.send_headers(sid, [(b":status", b"200")])
    peer.send_data(sid, body)
    await s.send_all(peer.data_to_send())
    assert (await stream.receive_headers())[0] == (b":status", b"200")
    with trio.fail_after(5):
        # All of it in, nothing taken yet (no event to wait on: poll the buffer).
        while stream._buffered < len(body):  # noqa: ASYNC110
            await trio.sleep(0.01)

    real = writer.write_now
    calls: list[int] = []

    def socket_full_once(fd: int, views: list[memoryview]) -> int:
        """The first write takes ``taken`` bytes, as a nearly full socket would."""
        if calls:
            calls.append(real(fd, views))
            return calls[-1]
        head = [views[0][:taken]] if taken else []
        sent = real(fd, head) if head else 0
        writer._trim(views, sent)
        calls.append(sent)
        return sent

    monkeypatch.setattr(writer, "write_now", socket_full_once)
    got = b""
    while len(got) < len(body):
        got += await stream.receive_data()
    assert got == body
    assert calls[:1] == [taken]  # the consuming task's immediate write met a "full" socket

    credit = await _events_until(peer, s, ev.WindowUpdated)
    assert [e.stream_id for e in credit if isinstance(e, ev.WindowUpdated)] == [sid]
    assert peer.local_flow_control_window(sid) >= len(body)
    # The carried bytes went out before anything newer: later frames parse too.
    peer.ping(b"peer-png")
    await s.send_all(peer.data_to_send())
    acks = await _events_until(peer, s, ev.PingAcknowledged)
    assert [e.data for e in acks if isinstance(e, ev.PingAcknowledged)] == [b"peer-png"]
