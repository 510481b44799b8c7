"""The route table: plain data and one pure matching function.

Theory of operation
-------------------
:func:`build_table` turns the configured :class:`~mux.gateway.model.RouteConfig`
list into a tuple of :class:`Route` (each with its index and a name for logs),
normalising what matching compares (lowercase header names and authority).
:func:`match` walks the table in configuration order and returns the first
route whose every condition holds, or None (the forwarder answers 404 /
UNIMPLEMENTED). Conditions:

* ``path_prefix``: the path (without query) starts with it;
* ``grpc_service`` / ``grpc_method``: the path is ``/pkg.Service/Method`` and
  the service (and method, when given) are equal, exactly;
* ``headers``: each named header is present (and equal to the value, when given);
* ``authority``: the request's ``:authority`` (Host on HTTP/1.1) equals it,
  case-insensitively; a configured authority without a port also matches the
  same host with any port.

No I/O, no state: the forwarder calls it for every request.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs

from mux.gateway.model import RouteConfig


@attrs.frozen
class Route:
    """One entry of the table."""

    config: RouteConfig
    index: int
    name: str
    #: (lowercase name, value or None) pairs.
    headers: tuple[tuple[bytes, bytes | None], ...] = ()
    authority: str | None = None


RouteTable = tuple[Route, ...]


def build_table(routes: Iterable[RouteConfig]) -> RouteTable:
    """The table for ``routes`` (in order)."""
    table = []
    for index, config in enumerate(routes):
        headers = tuple(
            (
                h.name.lower().encode("latin-1"),
                None if h.value is None else h.value.encode("latin-1"),
            )
            for h in config.headers
        )
        table.append(
            Route(
                config,
                index,
                config.name or f"route{index}",
                headers,
                None if config.authority is None else config.authority.lower(),
            )
        )
    return tuple(table)


def grpc_parts(path: str) -> tuple[str, str] | None:
    """``(service, method)`` of a gRPC path ``/pkg.Service/Method``, else None."""
    if not path.startswith("/"):
        return None
    service, sep, method = path[1:].partition("/")
    if not sep or not service or not method or "/" in method:
        return None
    return service, method


def _authority_matches(wanted: str, authority: str) -> bool:
    got = authority.lower()
    if got == wanted:
        return True
    if wanted.endswith("]") or ":" not in wanted:  # no port configured: ignore the request's
        host = got.rsplit(":", 1)[0] if not got.endswith("]") and ":" in got else got
        return host == wanted
    return False


def _header_matches(
    wanted: tuple[tuple[bytes, bytes | None], ...], headers: Sequence[tuple[bytes, bytes]]
) -> bool:
    for name, value in wanted:
        values = [v for n, v in headers if n == name]
        if not values or (value is not None and value not in values):
            return False
    return True


def matches(
    route: Route, path: str, authority: str, headers: Sequence[tuple[bytes, bytes]]
) -> bool:
    """True when every condition of ``route`` holds for the request."""
    config = route.config
    if config.path_prefix is not None and not path.startswith(config.path_prefix):
        return False
    if config.grpc_service is not None:
        parts = grpc_parts(path)
        if parts is None or parts[0] != config.grpc_service:
            return False
        if config.grpc_method is not None and parts[1] != config.grpc_method:
            return False
    if route.authority is not None and not _authority_matches(route.authority, authority):
        return False
    return not route.headers or _header_matches(route.headers, headers)


def match(
    table: RouteTable,
    method: str,
    path: str,
    authority: str,
    headers: Sequence[tuple[bytes, bytes]],
) -> Route | None:
    """The first route of ``table`` the request matches, or None.

    ``method`` is accepted for the interface (no condition uses it yet);
    ``path`` excludes the query string; ``headers`` are regular headers
    with lowercase names.
    """
    del method
    for route in table:
        if matches(route, path, authority, headers):
            return route
    return None
