"""The connection registry: every live connection of a process, read on demand.

Theory of operation
-------------------
Nothing here runs per request. Each :class:`~mux.server.server.Server` keeps
its live drivers in a dict (``Server.registry``: driver → accept time; added
when the connection's engine is chosen, removed when it closes; a parked
connection stays in it), which costs one dict insert and one delete per
connection. A gateway also holds its upstream connections in its clusters'
pools. :func:`live_connections` walks both when an admin request asks and
returns :class:`ConnRef` records; :func:`connection_row` turns one into the
JSON the admin API answers (peer, protocol, age, streams, windows, bytes each
way, parked or not).

Connection ids (``cid``) are stable for the life of the connection
(``"d-"``/``"u-"`` for downstream/upstream and the driver's ``id``), so the page
can filter by one across refreshes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from mux.driver.connection import ConnectionDriver
from mux.driver.parker import socket_of
from mux.driver.waits import Wait, receive_windows, send_windows
from mux.server.server import Server

#: ``(cluster name, driver)`` of a gateway's upstream connections.
Upstreams = Callable[[], Iterable[tuple[str, ConnectionDriver]]]


@attrs.frozen
class ConnRef:
    """One live connection as the registry sees it."""

    #: ``"downstream"`` (accepted by a listener) or ``"upstream"`` (a gateway's pool).
    side: str
    #: The listener (``host:port``) or the cluster it belongs to.
    where: str
    driver: ConnectionDriver
    #: ``trio.current_time()`` of the accept (upstream: ``None``, unknown).
    since: float | None

    @property
    def cid(self) -> str:
        return f"{self.side[0]}-{id(self.driver):x}"


def _listener_name(server: Server) -> str:
    try:
        return f"{server.config.host}:{server.port}"
    except RuntimeError:
        return f"{server.config.host}:{server.config.port}"


def cluster_upstreams(clusters: Callable[[], Mapping[str, Any]]) -> Upstreams:
    """The upstream connections of a gateway's ``clusters()`` (name → Cluster;
    called at each request, so a reloaded configuration's clusters are seen)."""

    def upstreams() -> Iterable[tuple[str, ConnectionDriver]]:
        for name, cluster in list(clusters().items()):
            for ep in list(getattr(cluster, "endpoints", ())):
                channel = getattr(ep, "channel", None)
                for conn in channel.connections if channel is not None else ():
                    if conn.driver is not None:
                        yield name, conn.driver

    return upstreams


def live_connections(
    servers: Sequence[Server], upstreams: Upstreams | None = None
) -> list[ConnRef]:
    """Every live connection of ``servers`` (parked ones too), then the upstream ones."""
    refs = []
    for server in servers:
        where = _listener_name(server)
        for driver, since in list(server.registry.items()):
            refs.append(ConnRef("downstream", where, driver, since))
    if upstreams is not None:
        for name, driver in upstreams():
            if not driver.is_closed:
                refs.append(ConnRef("upstream", name, driver, None))
    return refs


def peer_of(driver: ConnectionDriver) -> str:
    """``host:port`` of the other end (``?`` when unknown)."""
    sock = socket_of(driver.transport)
    try:
        peer = sock.getpeername() if sock is not None else None
    except OSError:
        peer = None
    if not isinstance(peer, tuple) or len(peer) < 2:
        return "?"
    host, port = peer[0], peer[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def connection_state(driver: ConnectionDriver) -> Wait:
    """:attr:`Wait.PARKED` for a parked connection, :attr:`Wait.PEER` when it
    has no stream, else :attr:`Wait.NONE` (its streams say why they wait)."""
    if driver.is_parked:
        return Wait.PARKED
    return Wait.PEER if not driver.open_streams else Wait.NONE


def connection_row(ref: ConnRef, now: float) -> dict[str, Any]:
    """The JSON of one connection (see the module docstring)."""
    driver = ref.driver
    engine = driver.engine
    _, send_conn = send_windows(engine, 0)
    _, recv_conn = receive_windows(engine, 0)
    state = connection_state(driver)
    return {
        "cid": ref.cid,
        "side": ref.side,
        "where": ref.where,
        "peer": peer_of(driver),
        "protocol": engine.protocol,
        "age": None if ref.since is None else round(now - ref.since, 3),
        "streams": driver.open_streams,
        "handlers": driver.active_handlers,
        "parked": driver.is_parked,
        "closing": driver.is_closed,
        "state": state.label,
        "bytes_in": driver.bytes_received,
        "bytes_out": driver.bytes_sent,
        "unsent": driver.pending_send_bytes,
        "send_window": send_conn,
        "receive_window": recv_conn,
    }
