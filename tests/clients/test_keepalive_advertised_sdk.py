"""The SDK advertises the KEEPALIVE_INTERVAL it pings at (spec 9.3), over a real socket.

A server on the sans-IO engine reads the SDK's SETTINGS: with a keepalive timer
configured, KEEPALIVE_INTERVAL is that interval in ms (and the SDK's PINGs then
arrive no sooner); without one it is 0 (no keepalive PINGs).
"""

from __future__ import annotations

import pytest
import trio

import mux_client
from mux.config import ConnectionTimeouts
from mux.core import events as ev
from mux.core.connection import MuxConnection
from mux_client.channel import ChannelOptions


async def _client_settings(timeouts: ConnectionTimeouts) -> tuple[int, float | None]:
    """The client's advertised KEEPALIVE_INTERVAL (ms), and when its first PING came."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    result: dict[str, float] = {}

    async def serve(nursery: trio.Nursery) -> None:
        stream = await listeners[0].accept()
        engine = MuxConnection(client_side=False)
        engine.initiate_connection()
        await stream.send_all(engine.data_to_send())
        start = trio.current_time()
        with trio.move_on_after(3.0):
            while "ping" not in result:
                for event in engine.receive_data(await stream.receive_some(65536)):
                    if isinstance(event, ev.SettingsChanged):
                        result["keepalive"] = engine.remote_settings.keepalive_interval_ms
                    elif isinstance(event, ev.PingReceived):
                        result["ping"] = trio.current_time() - start
                if out := engine.data_to_send():
                    await stream.send_all(out)
        nursery.cancel_scope.cancel()

    options = ChannelOptions(timeouts=timeouts)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve, nursery)
        async with mux_client.connect(f"127.0.0.1:{port}", options=options) as client:
            # Connections open lazily: a call opens one (the server never answers).
            await client.request("GET", "/")
    await listeners[0].aclose()
    return int(result["keepalive"]), result.get("ping")


async def test_configured_keepalive_is_advertised() -> None:
    keepalive, ping = await _client_settings(ConnectionTimeouts(keepalive_interval=0.3))
    assert keepalive == 300
    assert ping is not None  # and it does ping


async def test_no_keepalive_advertises_zero() -> None:
    keepalive, ping = await _client_settings(ConnectionTimeouts(keepalive_interval=None))
    assert keepalive == 0
    assert ping is None


@pytest.mark.parametrize(("seconds", "ms"), [(0.0001, 1), (2.5, 2500)])
def test_interval_in_ms(seconds: float, ms: int) -> None:
    engine = mux_client.transport.make_engine("mux", seconds)
    assert isinstance(engine, MuxConnection)
    assert engine.limits.keepalive_interval_ms == ms
