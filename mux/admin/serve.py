"""The admin sources of ``mux serve`` (one public :class:`~mux.server.server.Server`).

Theory of operation
-------------------
:func:`serve_sources` answers the admin API (:mod:`mux.admin.app`) from the
server's own state: ``/readyz`` is ready while the server listens and does
not drain; ``/stats`` counts connections, parked connections and open streams
(read at request time from the server's drivers), plus the request counters
of :mod:`mux.ops.metrics` when metrics are on; ``/metrics`` renders them.
"""

from __future__ import annotations

from typing import Any

from mux.admin.app import AdminSources
from mux.server.server import Server


def server_stats(server: Server) -> dict[str, Any]:
    """Connections, parked connections and open streams of ``server``."""
    return {
        "connections": server.connection_count,
        "parked": server.parked_count,
        "streams": server.open_stream_count,
        "draining": server.is_shutting_down,
    }


def serve_sources(server: Server) -> AdminSources:
    """The admin sources of ``mux serve`` running ``server``."""

    def ready() -> list[str]:
        if server.is_shutting_down:
            return ["draining"]
        if not server.listeners:
            return ["not listening"]
        return []

    def stats() -> dict[str, Any]:
        result = server_stats(server)
        ops = server.ops
        if ops is not None:
            result.update(ops.stats())
        return result

    ops = server.ops
    return AdminSources(
        kind="serve",
        servers=lambda: [server],
        stats=stats,
        ready=ready,
        metrics=None if ops is None else ops.render_metrics,
    )


__all__ = ["serve_sources", "server_stats"]
