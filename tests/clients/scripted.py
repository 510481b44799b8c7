"""A tiny scripted, misbehaving server built on a sans-IO core (test helper).

It speaks mux/msgpack or HTTP/2 (h2c, prior knowledge) with the same script.

Each accepted connection takes the next behaviour from a list (then "ok"):

* ``ok``: answer every request 200 with body ``ok <connection index>``;
* ``refuse``: RST_STREAM(REFUSED_STREAM) every request;
* ``goaway``: on the first request, GOAWAY(last_stream_id=0) and close;
* ``drop``: close the TCP connection once a request arrived;
* ``drop_after_headers``: send response headers, then close.
"""

from __future__ import annotations

import functools

import attrs
import trio

from mux.core import events as ev
from mux.core.connection import MuxConnection
from mux.core.engine import Engine
from mux.core.h2engine import H2Engine
from mux.errors import ErrorCode, MuxError


@attrs.define
class ScriptedServer:
    """Behaviours per connection plus a log of what each connection received."""

    behaviours: list[str]
    #: (connection index, behaviour, stream id) per request received.
    log: list[tuple[int, str, int]] = attrs.field(factory=list)
    connections: int = 0
    protocol: str = "mux"

    async def handle(self, transport: trio.SocketStream) -> None:
        index = self.connections
        self.connections += 1
        behaviour = self.behaviours[index] if index < len(self.behaviours) else "ok"
        engine: Engine = (
            H2Engine(client_side=False)
            if self.protocol == "h2"
            else MuxConnection(client_side=False)
        )
        engine.initiate_connection()
        async with transport:
            await transport.send_all(engine.data_to_send())
            while True:
                try:
                    data = await transport.receive_some(65536)
                    events = engine.receive_data(data)
                except (trio.BrokenResourceError, MuxError):
                    return
                done = self._react(engine, events, index, behaviour)
                out = engine.data_to_send()
                if out:
                    await transport.send_all(out)
                if done or not data:
                    return

    def _react(self, engine: Engine, events: list[ev.Event], index: int, behaviour: str) -> bool:
        """Apply the behaviour; True means close the connection now."""
        for event in events:
            if not isinstance(event, ev.RequestReceived):
                continue
            self.log.append((index, behaviour, event.stream_id))
            sid = event.stream_id
            if behaviour == "refuse":
                engine.reset_stream(sid, ErrorCode.REFUSED_STREAM)
            elif behaviour == "goaway":
                engine.close_connection(ErrorCode.NO_ERROR, last_stream_id=0)
                return True
            elif behaviour == "drop":
                return True
            elif behaviour == "drop_after_headers":
                engine.send_headers(sid, [(b":status", b"200")])
                return True
            else:
                engine.send_headers(sid, [(b":status", b"200")])
                engine.send_data(sid, b"ok %d" % index, end_stream=True)
        return False


async def start_scripted(
    nursery: trio.Nursery, behaviours: list[str], protocol: str = "mux"
) -> tuple[ScriptedServer, int]:
    """Serve ``behaviours`` on a loopback port; return the script and the port."""
    script = ScriptedServer(behaviours, protocol=protocol)
    listeners = await nursery.start(
        functools.partial(trio.serve_tcp, script.handle, 0, host="127.0.0.1")
    )
    port: int = listeners[0].socket.getsockname()[1]
    return script, port
