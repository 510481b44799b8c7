"""Endpoints given by DNS name: resolved to addresses, re-resolved periodically.

Theory of operation
-------------------
A cluster endpoint is either an IP literal (used as is) or a name. A name is
resolved with ``trio.socket.getaddrinfo`` (the system resolver, in a thread)
into every TCP address it has; each address becomes one endpoint of the
cluster, with the configured weight (Envoy's STRICT_DNS). The cluster
re-resolves every ``dns_refresh`` seconds (:func:`refresh_loop`) and replaces
its endpoint set: addresses that stay keep their pool, health and outlier
state; new ones get a fresh pool; removed ones have their pool closed (their
in-flight calls finish).

A failed resolution keeps the addresses of the last good one (a resolver
hiccup must not empty a cluster); a name that never resolved is kept as the
name itself, so the pool's own connect resolves it (and reports the error).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Callable, Sequence

import trio

from mux.gateway.model import Endpoint

logger = logging.getLogger("mux.gateway.dns")

#: One resolved endpoint: the configured endpoint and the ``host:port`` to connect to.
Resolved = tuple[Endpoint, str]


def is_ip_literal(host: str) -> bool:
    """True when ``host`` is an IPv4 or IPv6 address (no resolution needed)."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def address_key(host: str, port: int) -> str:
    """``host:port``, with IPv6 hosts in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def static_endpoints(endpoints: Sequence[Endpoint]) -> list[Resolved]:
    """Every endpoint as configured (names unresolved)."""
    return [(ep, str(ep)) for ep in endpoints]


def needs_dns(endpoints: Sequence[Endpoint]) -> bool:
    """True when some endpoint is a name."""
    return any(not is_ip_literal(ep.host) for ep in endpoints)


async def resolve(endpoint: Endpoint) -> list[str]:
    """The ``ip:port`` addresses of ``endpoint``, in the resolver's order, unique.

    Raises:
        OSError: the name does not resolve.
    """
    if is_ip_literal(endpoint.host):
        return [str(endpoint)]
    infos = await trio.socket.getaddrinfo(
        endpoint.host, endpoint.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    keys: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        key = address_key(str(sockaddr[0]), endpoint.port)
        if key not in keys:
            keys.append(key)
    return keys


async def resolve_all(
    endpoints: Sequence[Endpoint], previous: Sequence[Resolved] = ()
) -> list[Resolved]:
    """Resolve every endpoint; a failed name keeps its ``previous`` addresses."""
    out: list[Resolved] = []
    for endpoint in endpoints:
        try:
            keys = await resolve(endpoint)
        except OSError as exc:
            kept = [r for r in previous if r[0] == endpoint]
            logger.warning(
                "cannot resolve %s: %s (keeping %d address(es))", endpoint, exc, len(kept)
            )
            out.extend(kept or [(endpoint, str(endpoint))])
            continue
        out.extend((endpoint, key) for key in keys)
    return out


async def refresh_loop(
    endpoints: Sequence[Endpoint],
    interval: float,
    current: Callable[[], list[Resolved]],
    apply: Callable[[list[Resolved]], None],
) -> None:
    """Re-resolve every ``interval`` seconds; call ``apply`` when the set changed."""
    while True:
        await trio.sleep(interval)
        resolved = await resolve_all(endpoints, current())
        if resolved != current():
            logger.info("DNS: endpoints now %s", [key for _, key in resolved])
            apply(resolved)


__all__ = [
    "Resolved",
    "address_key",
    "is_ip_literal",
    "needs_dns",
    "refresh_loop",
    "resolve",
    "resolve_all",
    "static_endpoints",
]
