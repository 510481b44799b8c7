"""Loading the gateway's configuration: TOML files, ``--to`` URLs, validation.

Theory of operation
-------------------
:func:`load_config` parses a TOML file (:mod:`tomllib`) and builds a
:class:`~mux.gateway.model.GatewayConfig` from it; :func:`one_line_config`
builds one from ``--listen`` and ``--to`` URLs. Both validate everything before
anything listens: every problem is collected (not only the first) as one line
``FILE: KEY.PATH: problem`` (key paths like ``clusters.users.endpoints[1]``),
and :class:`ConfigError` carries them all. Unknown keys are errors (a typo must
not silently fall back to a default).

The file's shape (see ``examples/gateway.toml``)::

    admin = "127.0.0.1:9901"                 # optional
    [[listeners]]
    address = "127.0.0.1:8080"
    protocols = ["mux", "h2", "http1"]       # mux and h2 always; http1 optional
    proxy_protocol = false
    tls = { cert = "cert.pem", key = "key.pem" }
    [[routes]]                               # first match wins
    cluster = "users"
    path_prefix = "/users/"                  # and/or grpc_service, grpc_method,
    headers = [{ name = "x-env", value = "canary" }]   # authority
    host_rewrite = "users.internal"
    idempotent = false
    [clusters.users]
    endpoints = ["10.0.0.1:9000", { address = "users-2.internal:9000", weight = 2 }]
    protocol = "h2"                          # h2, mux or http1
    tls = { ca = "ca.pem", server_name = "users.internal" }
    lb = "round_robin"                       # least_request, ring_hash (+ hash_header)
    [clusters.users.pool]  / .timeouts / .retry / .health_check / .outlier / .breakers

Optional limits and timers are disabled with ``false`` (TOML has no null).
The typed reading and error collection are :mod:`mux.gateway.configread`; the
cluster tables are read by :mod:`mux.gateway.configclusters`.
Files named in the config (TLS certificates, keys, CA bundles) must exist.
"""

from __future__ import annotations

import os
import tomllib
import urllib.parse
from typing import Any

from mux.gateway.configclusters import CLUSTER_KEYS, read_cluster
from mux.gateway.configread import (
    ConfigError,
    Reader,
    join,
    nonempty,
    parse_address,
    read_address,
    token,
)
from mux.gateway.model import (
    SCHEMES,
    ClusterConfig,
    Endpoint,
    GatewayConfig,
    HeaderMatch,
    ListenerConfig,
    RouteConfig,
    TlsListener,
    TlsUpstream,
    UpstreamProtocol,
)

#: The listener protocols a config may name.
LISTENER_PROTOCOLS = ("mux", "h2", "http1")
#: The cluster one-line mode builds.
DEFAULT_CLUSTER = "default"

__all__ = [
    "CLUSTER_KEYS",
    "DEFAULT_CLUSTER",
    "LISTENER_PROTOCOLS",
    "ConfigError",
    "load_config",
    "one_line_config",
    "parse_address",
    "parse_config",
    "parse_upstream_url",
]

# ------------------------------------------------------------------ listeners


def _listener(r: Reader, value: object, path: str, base: str | None) -> ListenerConfig | None:
    t = r.table(value, path, ("address", "protocols", "tls", "proxy_protocol"))
    if t is None:
        return None
    if "address" not in t:
        r.error(join(path, "address"), "missing (HOST:PORT to listen on)")
        return None
    address = read_address(r, t, path, "address", allow_zero=True)
    protocols = tuple(r.get(t, path, "protocols", list, list(LISTENER_PROTOCOLS)))
    for i, proto in enumerate(protocols):
        if proto not in LISTENER_PROTOCOLS:
            r.error(
                f"{path}.protocols[{i}]",
                f"unknown protocol {proto!r} (expected one of {', '.join(LISTENER_PROTOCOLS)})",
            )
    if "protocols" in t and not {"mux", "h2"} <= set(protocols):
        r.error(join(path, "protocols"), "mux and h2 are always served; only http1 can be left out")
    tls = None
    if "tls" in t:
        tt = r.table(t["tls"], join(path, "tls"), ("cert", "key"))
        if tt is not None:
            for needed in ("cert", "key"):
                if needed not in tt:
                    r.error(f"{path}.tls.{needed}", "missing (PEM file)")
            cert = r.file(tt, join(path, "tls"), "cert", base)
            private = r.file(tt, join(path, "tls"), "key", base)
            if cert and private:
                tls = TlsListener(cert, private)
    proxy = r.get(t, path, "proxy_protocol", bool, False)
    if address is None:
        return None
    return ListenerConfig(address[0], address[1], tuple(protocols), tls, proxy)


# --------------------------------------------------------------------- routes

_ROUTE_KEYS = (
    "cluster",
    "path_prefix",
    "grpc_service",
    "grpc_method",
    "headers",
    "authority",
    "host_rewrite",
    "idempotent",
    "name",
)


def _route(r: Reader, value: object, path: str, clusters: set[str] | None) -> RouteConfig | None:
    t = r.table(value, path, _ROUTE_KEYS)
    if t is None:
        return None
    cluster = r.get(t, path, "cluster", str, "")
    if "cluster" not in t:
        r.error(join(path, "cluster"), "missing (the cluster this route sends to)")
    elif clusters is not None and cluster not in clusters:
        known = ", ".join(sorted(clusters)) or "none defined"
        r.error(join(path, "cluster"), f"no cluster named {cluster!r} (clusters: {known})")
    prefix = r.get(
        t,
        path,
        "path_prefix",
        str,
        None,
        lambda v: None if v.startswith("/") else "must start with /",
    )
    service = r.get(
        t,
        path,
        "grpc_service",
        str,
        None,
        lambda v: None if v and "/" not in v else "must be a non-empty package.Service",
    )
    method = r.get(
        t,
        path,
        "grpc_method",
        str,
        None,
        lambda v: None if v and "/" not in v else "must be a method name",
    )
    if method is not None and service is None:
        r.error(join(path, "grpc_method"), "needs grpc_service")
    headers: list[HeaderMatch] = []
    for i, item in enumerate(r.get(t, path, "headers", list, [])):
        where = f"{path}.headers[{i}]"
        ht = r.table(item, where, ("name", "value"))
        if ht is None:
            continue
        name = r.get(ht, where, "name", str, "", token)
        if "name" not in ht:
            r.error(join(where, "name"), "missing")
        value = r.get(ht, where, "value", str, None)
        if name:
            headers.append(HeaderMatch(name.lower(), value))
    authority = r.get(t, path, "authority", str, None, nonempty)
    rewrite = r.get(t, path, "host_rewrite", str, None, nonempty)
    idempotent = r.get(t, path, "idempotent", bool, False)
    route_name = r.get(t, path, "name", str, None, nonempty)
    return RouteConfig(
        cluster,
        prefix,
        service,
        method,
        tuple(headers),
        authority,
        rewrite,
        idempotent,
        route_name,
    )


# ----------------------------------------------------------------- the whole


def parse_config(data: dict[str, Any], source: str, base: str | None = None) -> GatewayConfig:
    """Validate a parsed TOML document and build the config.

    Raises:
        ConfigError: with every problem found.
    """
    r = Reader(source)
    top = r.table(data, "", ("admin", "listeners", "routes", "clusters")) or {}
    clusters: dict[str, ClusterConfig] = {}
    raw_clusters = r.get(top, "", "clusters", dict, {})
    if not raw_clusters:
        r.error("clusters", "missing (at least one [clusters.NAME] table)")
    for name, value in raw_clusters.items():
        cluster = read_cluster(r, name, value, base)
        if cluster is not None:
            clusters[name] = cluster
    listeners: list[ListenerConfig] = []
    raw_listeners = r.get(top, "", "listeners", list, [])
    if not raw_listeners:
        r.error("listeners", "missing (at least one [[listeners]] with an address)")
    seen: set[tuple[str, int]] = set()
    for i, value in enumerate(raw_listeners):
        listener = _listener(r, value, f"listeners[{i}]", base)
        if listener is not None:
            key = (listener.host, listener.port)
            if key in seen and listener.port != 0:
                r.error(f"listeners[{i}].address", "duplicate listener address")
            seen.add(key)
            listeners.append(listener)
    routes: list[RouteConfig] = []
    raw_routes = r.get(top, "", "routes", list, [])
    if not raw_routes:
        r.error("routes", "missing (at least one [[routes]] sending requests to a cluster)")
    names = set(raw_clusters) if isinstance(raw_clusters, dict) else set()
    for i, value in enumerate(raw_routes):
        route = _route(r, value, f"routes[{i}]", names)
        if route is not None:
            routes.append(route)
    admin = None
    if "admin" in top:
        address = read_address(r, top, "", "admin", allow_zero=True)
        admin = None if address is None else _formatread_address(*address)
    if r.errors:
        raise ConfigError(r.errors)
    return GatewayConfig(tuple(listeners), tuple(routes), clusters, admin, source)


def load_config(path: str) -> GatewayConfig:
    """Read, parse and validate a TOML configuration file.

    Raises:
        ConfigError: the file cannot be read or parsed, or is invalid (every problem).
    """
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: invalid TOML: {exc}"]) from None
    return parse_config(data, path, os.path.dirname(os.path.abspath(path)))


def _formatread_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# -------------------------------------------------------------- one-line mode


def parse_upstream_url(url: str) -> tuple[UpstreamProtocol, bool, Endpoint] | str:
    """``scheme://host:port`` as (protocol, tls, endpoint), or a problem string."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"invalid URL {url!r}: {exc}"
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        return f"unknown scheme {parts.scheme!r} in {url!r} (expected one of {', '.join(SCHEMES)})"
    if not parts.hostname:
        return f"no host in {url!r} (expected {scheme}://HOST:PORT)"
    if port is None or port == 0:
        return f"no port in {url!r} (expected {scheme}://HOST:PORT)"
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        return f"{url!r}: only scheme://HOST:PORT is allowed (no path, query or user)"
    protocol, tls = SCHEMES[scheme]
    return UpstreamProtocol(protocol), tls, Endpoint(parts.hostname, port)


def one_line_config(listen: str, targets: list[str], admin: str | None = None) -> GatewayConfig:
    """The config of ``mux gateway --listen HOST:PORT --to URL [--to URL ...]``:
    every ``--to`` in one round-robin cluster ``default`` behind a catch-all route.

    Raises:
        ConfigError: a bad address or URL, or ``--to`` URLs of different protocols.
    """
    r = Reader("command line")
    address = parse_address(listen)
    if isinstance(address, str):
        r.error("--listen", f"{address}, got {listen!r}")
    if not targets:
        r.error("--to", "at least one upstream URL is needed")
    parsed: list[tuple[str, UpstreamProtocol, bool, Endpoint]] = []
    for i, url in enumerate(targets):
        result = parse_upstream_url(url)
        if isinstance(result, str):
            r.error(f"--to[{i}]", result)
        else:
            parsed.append((url, *result))
    kinds = {(proto, tls) for _, proto, tls, _ in parsed}
    if len(kinds) > 1:
        shown = ", ".join(url for url, *_ in parsed)
        r.error(
            "--to",
            f"all --to URLs must use the same protocol and TLS (one cluster), got {shown}; "
            "use --config for several clusters",
        )
    endpoints = [e for *_, e in parsed]
    if len({str(e) for e in endpoints}) != len(endpoints):
        r.error("--to", "the same upstream is given twice")
    if admin is not None:
        admin_address = parse_address(admin)
        if isinstance(admin_address, str):
            r.error("--admin", f"{admin_address}, got {admin!r}")
    if r.errors:
        raise ConfigError(r.errors)
    assert not isinstance(address, str)
    protocol, tls = next(iter(kinds))
    cluster = ClusterConfig(
        DEFAULT_CLUSTER, tuple(endpoints), protocol, TlsUpstream() if tls else None
    )
    return GatewayConfig(
        (ListenerConfig(address[0], address[1]),),
        (RouteConfig(DEFAULT_CLUSTER, path_prefix="/", name="catch-all"),),
        {DEFAULT_CLUSTER: cluster},
        admin,
        None,
    )
