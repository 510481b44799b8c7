"""The live stream table: every open stream and why it is not moving.

Theory of operation
-------------------
:func:`stream_wait` says what one stream waits for, from what the driver
recorded where the wait happens (:mod:`mux.driver.waits`) and the engine's
windows, in this order:

1. a sender parked for credit: the window that holds it (peer stream window,
   connection window) or the peer not reading its socket (send buffer);
2. what the application said (:meth:`Stream.set_wait`): the gateway's
   forwarder waits for the upstream (pool, connect, a stream slot under the
   upstream's MAX_CONCURRENT_STREAMS, its response or body);
3. received body the application does not take while the window we advertise
   is used up (HTTP/1.1: the driver stopped reading): the downstream reader;
4. a reader parked in ``receive_*``: the peer (its next frame);
5. otherwise the local application has the stream: on a server the handler
   (a request it has not answered or read), on a client the caller;
   a server stream whose response is complete waits for the peer.

Each comes with the time the wait started. :func:`snapshot` lists the rows of
every connection of the :class:`~mux.admin.registry.ConnRef` records with the
totals by reason; :func:`install` adds ``/streams``, ``/connections`` and the
page at ``/`` (:mod:`mux.admin.page`) to an admin router. Optional query
parameters ``reason=`` and ``connection=`` (a ``cid``) filter ``/streams``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol
from urllib.parse import parse_qs

import trio

from mux.admin.page import PAGE
from mux.admin.registry import (
    ConnRef,
    Upstreams,
    connection_row,
    connection_state,
    live_connections,
    peer_of,
)
from mux.driver.connection import ConnectionDriver
from mux.driver.stream import Stream
from mux.driver.tuning import RECEIVE_SIZE
from mux.driver.waits import Wait, receive_windows, send_windows
from mux.server.app import Request, Response, Router
from mux.server.server import Server

JSON = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]


class Sources(Protocol):
    """What :func:`install` reads (``mux.admin.app.AdminSources`` has it).

    An ``upstreams`` attribute (:data:`~mux.admin.registry.Upstreams`), when
    present and not None, adds a gateway's upstream connections.
    """

    @property
    def servers(self) -> Any: ...


def _buffer_full(stream: Stream, driver: ConnectionDriver) -> bool:
    if not stream._buffered or stream._recv_since:
        return False
    if driver.engine.protocol == "http/1.1":
        return stream._buffered >= RECEIVE_SIZE  # the driver stopped reading
    window, conn = receive_windows(driver.engine, stream.stream_id)
    return (window is not None and window <= 0) or (conn is not None and conn <= 0)


def stream_wait(stream: Stream, driver: ConnectionDriver) -> tuple[Wait, float]:
    """What ``stream`` waits for and since when (see the module docstring)."""
    if stream._send_wait:
        return stream._send_wait, stream._send_since
    if stream.wait:
        return stream.wait, stream.wait_since
    if _buffer_full(stream, driver):
        return Wait.READER, stream._filled_since
    if stream._recv_since:
        return Wait.PEER, stream._recv_since
    if not driver.is_client and stream.local_ended:
        return Wait.PEER, stream.opened_at
    return Wait.HANDLER, stream.opened_at


def _pseudo(headers: Any, name: bytes) -> str:
    for key, value in headers or ():
        if key == name:
            return str(value.decode("latin-1"))
        if not key.startswith(b":"):
            break
    return ""


def stream_row(ref: ConnRef, stream: Stream, now: float, peer: str) -> dict[str, Any]:
    """The JSON of one stream."""
    driver = ref.driver
    engine = driver.engine
    reason, since = stream_wait(stream, driver)
    send_stream, send_conn = send_windows(engine, stream.stream_id)
    recv_stream, recv_conn = receive_windows(engine, stream.stream_id)
    server_side = not driver.is_client
    request = stream.headers if server_side else stream.request_headers
    return {
        "cid": ref.cid,
        "side": ref.side,
        "where": ref.where,
        "peer": peer,
        "protocol": engine.protocol,
        "stream_id": stream.stream_id,
        "method": _pseudo(request, b":method"),
        "path": _pseudo(request, b":path"),
        "status": "" if server_side else _pseudo(stream.headers, b":status"),
        "age": round(now - stream.opened_at, 3),
        "bytes_in": stream.received_bytes,
        "bytes_out": stream.sent_bytes,
        "buffered": stream.buffered_bytes,
        "send_window": send_stream,
        "send_connection_window": send_conn,
        "receive_window": recv_stream,
        "receive_connection_window": recv_conn,
        "local_ended": stream.local_ended,
        "remote_ended": stream.remote_ended,
        "reason": reason.label,
        "waiting": round(max(now - since, 0.0), 3) if since else 0.0,
    }


def snapshot(refs: Sequence[ConnRef]) -> dict[str, Any]:
    """``/streams``: every open stream, the totals by reason (streams, and
    connections for ``parked idle``)."""
    now = trio.current_time()
    rows = []
    totals: dict[str, int] = {}
    parked = 0
    for ref in refs:
        driver = ref.driver
        if connection_state(driver) is Wait.PARKED:
            parked += 1
        streams = list(driver._streams.values())
        if not streams:
            continue
        peer = peer_of(driver)
        for stream in streams:
            row = stream_row(ref, stream, now, peer)
            rows.append(row)
            totals[row["reason"]] = totals.get(row["reason"], 0) + 1
    if parked:
        totals[Wait.PARKED.label] = parked
    return {
        "connections": len(refs),
        "parked": parked,
        "streams": rows,
        "totals": totals,
    }


def connections_snapshot(refs: Sequence[ConnRef]) -> dict[str, Any]:
    """``/connections``: each connection with its totals, and the states' totals."""
    now = trio.current_time()
    rows = [connection_row(ref, now) for ref in refs]
    totals: dict[str, int] = {}
    for row in rows:
        totals[row["state"]] = totals.get(row["state"], 0) + 1
    return {
        "connections": rows,
        "totals": totals,
        "streams": sum(r["streams"] for r in rows),
        "bytes_in": sum(r["bytes_in"] for r in rows),
        "bytes_out": sum(r["bytes_out"] for r in rows),
    }


def _filtered(body: dict[str, Any], query: str) -> dict[str, Any]:
    params = parse_qs(query)
    reasons = params.get("reason")
    cids = params.get("connection")
    if reasons:
        body["streams"] = [r for r in body["streams"] if r["reason"] in reasons]
    if cids:
        body["streams"] = [r for r in body["streams"] if r["cid"] in cids]
    return body


def _json(body: object) -> Response:
    import json

    return Response(200, JSON, json.dumps(body, indent=1, sort_keys=True).encode() + b"\n")


def add_routes(router: Router, servers: Any, upstreams: Upstreams | None = None) -> None:
    """``/streams``, ``/connections`` and ``/`` for ``servers()`` (and ``upstreams()``)."""

    def refs() -> list[ConnRef]:
        found: Sequence[Server] = servers()
        return live_connections(found, upstreams)

    @router.route("/streams")
    async def streams_route(request: Request) -> Response:
        return _json(_filtered(snapshot(refs()), request.query))

    @router.route("/connections")
    async def connections_route(request: Request) -> Response:
        return _json(connections_snapshot(refs()))

    @router.route("/")
    async def page_route(request: Request) -> Response:
        headers = [(b"content-type", b"text/html; charset=utf-8"), (b"cache-control", b"no-store")]
        return Response(200, headers, PAGE)


def install(router: Router, sources: Sources) -> None:
    """The admin extension (``mux.admin.app.EXTENSIONS``): the routes above."""
    add_routes(router, sources.servers, getattr(sources, "upstreams", None))
