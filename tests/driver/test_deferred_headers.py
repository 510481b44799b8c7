"""Deferred response headers: HEADERS+END_STREAM for empty answers, same wire otherwise.

A real h2 client (the ``h2`` library over a loopback socket) sees the frames the
server driver writes.
"""

from __future__ import annotations

import h2.config
import h2.connection
import h2.events
import trio

from mux.core.h2engine import H2Engine
from mux.driver import ConnectionDriver, Stream
from mux.errors import ErrorCode, LocalProtocolError

GET = [(b":method", b"GET"), (b":path", b"/"), (b":scheme", b"http"), (b":authority", b"x")]


async def _exchange(
    nursery: trio.Nursery,
    on_stream: object,
    count: int = 1,
    arrival: dict[str, float] | None = None,
) -> list[h2.events.Event]:
    """Send ``count`` GETs at once; return the client's events until each stream ended.

    ``arrival`` receives the time each event type was last seen.
    """
    if arrival is None:
        arrival = {}
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    sock = await trio.open_tcp_stream("127.0.0.1", port)
    server_sock = await listeners[0].accept()
    await listeners[0].aclose()
    driver = ConnectionDriver(
        server_sock,
        H2Engine(client_side=False),
        on_stream=on_stream,  # type: ignore[arg-type]
    )
    await nursery.start(driver.run)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    for i in range(count):
        conn.send_headers(1 + 2 * i, GET, end_stream=True)
    await sock.send_all(conn.data_to_send())
    seen: list[h2.events.Event] = []
    ended: set[int] = set()
    with trio.fail_after(5):
        while len(ended) < count:
            data = await sock.receive_some(65536)
            assert data, "server closed the connection"
            for event in conn.receive_data(data):
                seen.append(event)
                arrival[type(event).__name__] = trio.current_time()
                if isinstance(event, h2.events.StreamEnded | h2.events.StreamReset):
                    ended.add(event.stream_id)
            await sock.send_all(conn.data_to_send())
    await sock.aclose()
    return seen


def _frames(events: list[h2.events.Event]) -> list[str]:
    return [
        type(e).__name__
        for e in events
        if isinstance(
            e,
            h2.events.ResponseReceived
            | h2.events.DataReceived
            | h2.events.StreamEnded
            | h2.events.StreamReset,
        )
    ]


async def test_headers_then_end_in_one_tick_is_one_headers_frame(nursery: trio.Nursery) -> None:
    async def empty(stream: Stream) -> None:
        await stream.send_headers([(b":status", b"204")])
        async for _ in stream:
            pass
        await stream.end()

    events = await _exchange(nursery, empty, count=3)
    assert _frames(events) == ["ResponseReceived", "StreamEnded"] * 3
    responses = [e for e in events if isinstance(e, h2.events.ResponseReceived)]
    assert all(e.stream_ended is not None for e in responses)  # END_STREAM on HEADERS


async def test_headers_go_out_before_a_handler_blocks(nursery: trio.Nursery) -> None:
    async def slow(stream: Stream) -> None:
        await stream.send_headers([(b":status", b"200")])
        await trio.sleep(0.5)  # the flush happens here: headers must not wait
        await stream.send_data(b"late", end_stream=True)

    arrival: dict[str, float] = {}
    events = await _exchange(nursery, slow, arrival=arrival)
    assert _frames(events) == ["ResponseReceived", "DataReceived", "StreamEnded"]
    assert arrival["DataReceived"] - arrival["ResponseReceived"] > 0.3


async def test_refused_headers_before_end_still_raise_in_the_handler(
    nursery: trio.Nursery,
) -> None:
    raised: list[Exception] = []

    async def bad(stream: Stream) -> None:
        await stream.send_headers([(b"x-no-status", b"1")])
        try:
            await stream.end()  # the engine sees the headers here and refuses them
        except LocalProtocolError as exc:
            raised.append(exc)
            assert not stream.headers_sent
            raise

    events = await _exchange(nursery, bad)
    assert len(raised) == 1 and ":status" in str(raised[0])
    resets = [e for e in events if isinstance(e, h2.events.StreamReset)]
    assert [r.error_code for r in resets] == [ErrorCode.INTERNAL_ERROR]


async def test_refused_headers_at_the_flush_reset_the_stream(nursery: trio.Nursery) -> None:
    async def bad(stream: Stream) -> None:
        await stream.send_headers([(b"x-no-status", b"1")])
        await trio.sleep(1)  # the flush commits (and the engine refuses) meanwhile

    events = await _exchange(nursery, bad)
    resets = [e for e in events if isinstance(e, h2.events.StreamReset)]
    assert [r.error_code for r in resets] == [ErrorCode.INTERNAL_ERROR]


async def test_write_then_end_is_one_data_frame_with_end_stream(nursery: trio.Nursery) -> None:
    async def echo(stream: Stream) -> None:
        await stream.send_headers([(b":status", b"200")])
        await stream.send_data(b"one")
        await stream.send_data(b"two")  # commits "one" first: order is kept
        await stream.end()

    events = await _exchange(nursery, echo, count=2)
    for stream_id in (1, 3):
        data = [
            e for e in events if isinstance(e, h2.events.DataReceived) and e.stream_id == stream_id
        ]
        assert [e.data for e in data] == [b"one", b"two"]
        assert [e.stream_ended is not None for e in data] == [False, True]


async def test_deferred_data_goes_out_before_a_handler_blocks(nursery: trio.Nursery) -> None:
    async def slow(stream: Stream) -> None:
        await stream.send_headers([(b":status", b"200")])
        await stream.send_data(b"early")
        await trio.sleep(0.5)
        await stream.send_trailers([(b"x-done", b"1")])

    arrival: dict[str, float] = {}
    events = await _exchange(nursery, slow, arrival=arrival)
    assert [e.data for e in events if isinstance(e, h2.events.DataReceived)] == [b"early"]
    assert arrival["TrailersReceived"] - arrival["DataReceived"] > 0.3
