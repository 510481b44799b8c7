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
Files named in the config (TLS certificates, keys, CA bundles) must exist.
"""

from __future__ import annotations

import os
import re
import tomllib
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import attrs

from mux.gateway.model import (
    SCHEMES,
    CircuitBreakers,
    ClusterConfig,
    Endpoint,
    GatewayConfig,
    HeaderMatch,
    HealthCheck,
    HealthCheckKind,
    LbPolicy,
    ListenerConfig,
    OutlierDetection,
    PoolConfig,
    RetryPolicy,
    RouteConfig,
    Timeouts,
    TlsListener,
    TlsUpstream,
    UpstreamProtocol,
)

#: The listener protocols a config may name.
LISTENER_PROTOCOLS = ("mux", "h2", "http1")
#: The cluster one-line mode builds.
DEFAULT_CLUSTER = "default"
_NAME = re.compile(r"[A-Za-z0-9_.\-]+\Z")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_T = TypeVar("_T")


class ConfigError(ValueError):
    """The configuration is invalid; ``errors`` lists every problem, one line each."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class _Reader:
    """Collects errors while reading one source."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.errors: list[str] = []

    def error(self, path: str, problem: str) -> None:
        self.errors.append(
            f"{self.source}: {path}: {problem}" if path else f"{self.source}: {problem}"
        )

    def table(self, value: object, path: str, allowed: Iterable[str]) -> dict[str, Any] | None:
        """``value`` as a table whose keys are all in ``allowed`` (unknown keys reported)."""
        if not isinstance(value, dict):
            self.error(path, f"expected a table, got {_kind(value)}")
            return None
        known = set(allowed)
        for key in value:
            if key not in known:
                self.error(
                    _join(path, key), f"unknown key (expected one of {', '.join(sorted(known))})"
                )
        return value

    def get(
        self,
        table: dict[str, Any],
        path: str,
        key: str,
        kind: type[_T] | tuple[type, ...],
        default: _T,
        check: Callable[[Any], str | None] | None = None,
        *,
        optional: bool = False,
    ) -> _T:
        """``table[key]`` checked for type (and ``check``), or ``default``.

        ``optional``: ``false`` means None (a disabled limit or timer).
        """
        if key not in table:
            return default
        value = table[key]
        where = _join(path, key)
        if optional and value is False:
            return None  # type: ignore[return-value]
        if not _is(value, kind):
            expected = (
                kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            )
            extra = " or false" if optional else ""
            self.error(where, f"expected {expected}{extra}, got {_kind(value)} {value!r}")
            return default
        if isinstance(value, int) and not isinstance(value, bool) and kind is float:
            value = float(value)
        problem = check(value) if check is not None else None
        if problem is not None:
            self.error(where, f"{problem}, got {value!r}")
            return default
        return value  # type: ignore[no-any-return]

    def enum(self, table: dict[str, Any], path: str, key: str, enum_type: Any, default: _T) -> _T:
        raw = self.get(table, path, key, str, None)
        if raw is None:
            return default
        try:
            return enum_type(raw)  # type: ignore[no-any-return]
        except ValueError:
            names = ", ".join(m.value for m in enum_type)
            self.error(_join(path, key), f"unknown value {raw!r} (expected one of {names})")
            return default

    def file(self, table: dict[str, Any], path: str, key: str, base: str | None) -> str | None:
        name = self.get(table, path, key, str, None)
        if name is None:
            return None
        full = name if base is None or os.path.isabs(name) else os.path.join(base, name)
        if not os.path.isfile(full):
            self.error(_join(path, key), f"file not found: {full}")
        return full


def _is(value: object, kind: type | tuple[type, ...]) -> bool:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool):
        return bool in kinds
    if float in kinds and isinstance(value, int):
        return True
    return isinstance(value, kinds)


def _kind(value: object) -> str:
    return {dict: "a table", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _positive(value: float) -> str | None:
    return None if value > 0 else "must be > 0"


def _at_least(low: int) -> Callable[[int], str | None]:
    return lambda value: None if value >= low else f"must be >= {low}"


def _within(low: float, high: float) -> Callable[[float], str | None]:
    return lambda value: None if low <= value <= high else f"must be in {low:g}..{high:g}"


def parse_address(value: str) -> tuple[str, int] | str:
    """``HOST:PORT`` (``[::1]:80`` for IPv6) as (host, port), or a problem string."""
    host, sep, port = value.rpartition(":")
    if not sep or not host:
        return "expected HOST:PORT"
    if not (port.isascii() and port.isdigit()) or not 0 <= int(port) <= 65535:
        return f"port must be a number in 0..65535, got {port!r}"
    if host.startswith("["):
        if not host.endswith("]"):
            return "unterminated [IPv6] host"
        host = host[1:-1]
    elif ":" in host:
        return "an IPv6 host must be written [addr]:port"
    if not host or any(c.isspace() or c in "/?#@" for c in host):
        return f"invalid host {host!r}"
    return host, int(port)


# ------------------------------------------------------------------ listeners


def _listener(r: _Reader, value: object, path: str, base: str | None) -> ListenerConfig | None:
    t = r.table(value, path, ("address", "protocols", "tls", "proxy_protocol"))
    if t is None:
        return None
    if "address" not in t:
        r.error(_join(path, "address"), "missing (HOST:PORT to listen on)")
        return None
    address = _address(r, t, path, "address", allow_zero=True)
    protocols = tuple(r.get(t, path, "protocols", list, list(LISTENER_PROTOCOLS)))
    for i, proto in enumerate(protocols):
        if proto not in LISTENER_PROTOCOLS:
            r.error(
                f"{path}.protocols[{i}]",
                f"unknown protocol {proto!r} (expected one of {', '.join(LISTENER_PROTOCOLS)})",
            )
    if "protocols" in t and not {"mux", "h2"} <= set(protocols):
        r.error(
            _join(path, "protocols"), "mux and h2 are always served; only http1 can be left out"
        )
    tls = None
    if "tls" in t:
        tt = r.table(t["tls"], _join(path, "tls"), ("cert", "key"))
        if tt is not None:
            for needed in ("cert", "key"):
                if needed not in tt:
                    r.error(f"{path}.tls.{needed}", "missing (PEM file)")
            cert = r.file(tt, _join(path, "tls"), "cert", base)
            private = r.file(tt, _join(path, "tls"), "key", base)
            if cert and private:
                tls = TlsListener(cert, private)
    proxy = r.get(t, path, "proxy_protocol", bool, False)
    if address is None:
        return None
    return ListenerConfig(address[0], address[1], tuple(protocols), tls, proxy)


def _address(
    r: _Reader, t: dict[str, Any], path: str, key: str, *, allow_zero: bool = False
) -> tuple[str, int] | None:
    raw = r.get(t, path, key, str, None)
    if raw is None:
        return None
    parsed = parse_address(raw)
    if isinstance(parsed, str):
        r.error(_join(path, key), f"{parsed}, got {raw!r}")
        return None
    if parsed[1] == 0 and not allow_zero:
        r.error(_join(path, key), f"port must be in 1..65535, got {raw!r}")
        return None
    return parsed


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


def _route(r: _Reader, value: object, path: str, clusters: set[str] | None) -> RouteConfig | None:
    t = r.table(value, path, _ROUTE_KEYS)
    if t is None:
        return None
    cluster = r.get(t, path, "cluster", str, "")
    if "cluster" not in t:
        r.error(_join(path, "cluster"), "missing (the cluster this route sends to)")
    elif clusters is not None and cluster not in clusters:
        known = ", ".join(sorted(clusters)) or "none defined"
        r.error(_join(path, "cluster"), f"no cluster named {cluster!r} (clusters: {known})")
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
        r.error(_join(path, "grpc_method"), "needs grpc_service")
    headers: list[HeaderMatch] = []
    for i, item in enumerate(r.get(t, path, "headers", list, [])):
        where = f"{path}.headers[{i}]"
        ht = r.table(item, where, ("name", "value"))
        if ht is None:
            continue
        name = r.get(ht, where, "name", str, "", _token)
        if "name" not in ht:
            r.error(_join(where, "name"), "missing")
        value = r.get(ht, where, "value", str, None)
        if name:
            headers.append(HeaderMatch(name.lower(), value))
    authority = r.get(t, path, "authority", str, None, _nonempty)
    rewrite = r.get(t, path, "host_rewrite", str, None, _nonempty)
    idempotent = r.get(t, path, "idempotent", bool, False)
    route_name = r.get(t, path, "name", str, None, _nonempty)
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


def _token(value: str) -> str | None:
    return None if _TOKEN.match(value) else "must be a header name (token characters)"


def _nonempty(value: str) -> str | None:
    return None if value.strip() else "must not be empty"


# ------------------------------------------------------------------- clusters

_CLUSTER_KEYS = (
    "endpoints",
    "protocol",
    "tls",
    "lb",
    "hash_header",
    "pool",
    "timeouts",
    "retry",
    "health_check",
    "outlier",
    "breakers",
    "dns_refresh",
)


def _endpoint(r: _Reader, value: object, path: str) -> Endpoint | None:
    weight = 1
    if isinstance(value, dict):
        t = r.table(value, path, ("address", "weight"))
        assert t is not None
        if "address" not in t:
            r.error(_join(path, "address"), "missing (HOST:PORT)")
            return None
        weight = r.get(t, path, "weight", int, 1, _within(1, 1000))
        parsed = _address(r, t, path, "address")
    elif isinstance(value, str):
        result = parse_address(value)
        if isinstance(result, str):
            r.error(path, f"{result}, got {value!r}")
            return None
        if result[1] == 0:
            r.error(path, f"port must be in 1..65535, got {value!r}")
            return None
        parsed = result
    else:
        r.error(path, f'expected "HOST:PORT" or {{address=, weight=}}, got {_kind(value)}')
        return None
    return None if parsed is None else Endpoint(parsed[0], parsed[1], int(weight))


def _cluster(r: _Reader, name: str, value: object, base: str | None) -> ClusterConfig | None:
    path = f"clusters.{name}"
    if not _NAME.match(name):
        r.error(path, "cluster names use letters, digits, '_', '-' and '.'")
    t = r.table(value, path, _CLUSTER_KEYS)
    if t is None:
        return None
    endpoints: list[Endpoint] = []
    raw_endpoints = r.get(t, path, "endpoints", list, [])
    if not raw_endpoints and "endpoints" not in t:
        r.error(_join(path, "endpoints"), "missing (a list of HOST:PORT)")
    elif not raw_endpoints:
        r.error(_join(path, "endpoints"), "needs at least one endpoint")
    seen: set[str] = set()
    for i, item in enumerate(raw_endpoints):
        endpoint = _endpoint(r, item, f"{path}.endpoints[{i}]")
        if endpoint is not None:
            if str(endpoint) in seen:
                r.error(f"{path}.endpoints[{i}]", f"duplicate endpoint {endpoint}")
            seen.add(str(endpoint))
            endpoints.append(endpoint)
    protocol = r.enum(t, path, "protocol", UpstreamProtocol, UpstreamProtocol.H2)
    tls = _upstream_tls(r, t, path, base)
    lb = r.enum(t, path, "lb", LbPolicy, LbPolicy.ROUND_ROBIN)
    hash_header = r.get(t, path, "hash_header", str, None, _token)
    if lb is LbPolicy.RING_HASH and hash_header is None:
        r.error(_join(path, "hash_header"), 'missing (lb = "ring_hash" hashes this header)')
    if hash_header is not None and lb is not LbPolicy.RING_HASH:
        r.error(_join(path, "hash_header"), 'only used with lb = "ring_hash"')
    health = _health(r, t, path, protocol)
    cluster = ClusterConfig(
        name=name,
        endpoints=tuple(endpoints),
        protocol=protocol,
        tls=tls,
        lb=lb,
        hash_header=None if hash_header is None else hash_header.lower(),
        pool=_pool(r, t, path),
        timeouts=_timeouts(r, t, path),
        retry=_retry(r, t, path),
        health_check=health,
        outlier=_outlier(r, t, path),
        breakers=_breakers(r, t, path),
        dns_refresh=r.get(t, path, "dns_refresh", float, 30.0, _positive),
    )
    return cluster


def _upstream_tls(r: _Reader, t: dict[str, Any], path: str, base: str | None) -> TlsUpstream | None:
    if "tls" not in t:
        return None
    value = t["tls"]
    where = _join(path, "tls")
    if value is True:
        return TlsUpstream()
    if value is False:
        return None
    tt = r.table(value, where, ("ca", "server_name", "verify"))
    if tt is None:
        return None
    return TlsUpstream(
        ca_file=r.file(tt, where, "ca", base),
        server_name=r.get(tt, where, "server_name", str, None, _nonempty),
        verify=r.get(tt, where, "verify", bool, True),
    )


def _section(
    r: _Reader, t: dict[str, Any], path: str, key: str, cls: Any
) -> tuple[dict[str, Any], str]:
    where = _join(path, key)
    if key not in t:
        return {}, where
    fields = [f.name for f in attrs.fields(cls)]
    found = r.table(t[key], where, fields)
    return (found or {}), where


def _pool(r: _Reader, t: dict[str, Any], path: str) -> PoolConfig:
    s, w = _section(r, t, path, "pool", PoolConfig)
    d = PoolConfig()
    return PoolConfig(
        max_connections=r.get(s, w, "max_connections", int, d.max_connections, _at_least(1)),
        idle_timeout=r.get(s, w, "idle_timeout", float, d.idle_timeout, _positive, optional=True),
        max_requests=r.get(s, w, "max_requests", int, d.max_requests, _at_least(1), optional=True),
        max_age=r.get(s, w, "max_age", float, d.max_age, _positive, optional=True),
    )


def _timeouts(r: _Reader, t: dict[str, Any], path: str) -> Timeouts:
    s, w = _section(r, t, path, "timeouts", Timeouts)
    d = Timeouts()
    return Timeouts(
        connect=r.get(s, w, "connect", float, d.connect, _positive),
        per_try=r.get(s, w, "per_try", float, d.per_try, _positive, optional=True),
        overall=r.get(s, w, "overall", float, d.overall, _positive, optional=True),
    )


def _retry(r: _Reader, t: dict[str, Any], path: str) -> RetryPolicy:
    s, w = _section(r, t, path, "retry", RetryPolicy)
    d = RetryPolicy()
    return RetryPolicy(
        max_attempts=r.get(s, w, "max_attempts", int, d.max_attempts, _within(1, 10)),
        budget_ratio=r.get(s, w, "budget_ratio", float, d.budget_ratio, _within(0, 1)),
        budget_min_concurrency=r.get(
            s, w, "budget_min_concurrency", int, d.budget_min_concurrency, _at_least(0)
        ),
    )


def _health(
    r: _Reader, t: dict[str, Any], path: str, protocol: UpstreamProtocol
) -> HealthCheck | None:
    if "health_check" not in t or t["health_check"] is False:
        return None
    s, w = _section(r, t, path, "health_check", HealthCheck)
    d = HealthCheck()
    kind = r.enum(s, w, "kind", HealthCheckKind, d.kind)
    if kind is HealthCheckKind.GRPC and protocol is UpstreamProtocol.HTTP1:
        r.error(_join(w, "kind"), 'grpc health checks need protocol = "h2" or "mux"')
    check = HealthCheck(
        kind=kind,
        interval=r.get(s, w, "interval", float, d.interval, _positive),
        jitter=r.get(s, w, "jitter", float, d.jitter, _within(0, 0.99)),
        timeout=r.get(s, w, "timeout", float, d.timeout, _positive),
        unhealthy_threshold=r.get(
            s, w, "unhealthy_threshold", int, d.unhealthy_threshold, _at_least(1)
        ),
        healthy_threshold=r.get(s, w, "healthy_threshold", int, d.healthy_threshold, _at_least(1)),
        path=r.get(
            s, w, "path", str, d.path, lambda v: None if v.startswith("/") else "must start with /"
        ),
        service=r.get(s, w, "service", str, d.service),
    )
    return check


def _outlier(r: _Reader, t: dict[str, Any], path: str) -> OutlierDetection:
    s, w = _section(r, t, path, "outlier", OutlierDetection)
    d = OutlierDetection()
    base = r.get(s, w, "base_ejection_time", float, d.base_ejection_time, _positive)
    most = r.get(s, w, "max_ejection_time", float, d.max_ejection_time, _positive)
    if most < base:
        r.error(_join(w, "max_ejection_time"), f"must be >= base_ejection_time ({base:g})")
    return OutlierDetection(
        consecutive_failures=r.get(
            s, w, "consecutive_failures", int, d.consecutive_failures, _at_least(1)
        ),
        base_ejection_time=base,
        max_ejection_time=most,
        max_ejection_percent=r.get(
            s, w, "max_ejection_percent", int, d.max_ejection_percent, _within(0, 100)
        ),
    )


def _breakers(r: _Reader, t: dict[str, Any], path: str) -> CircuitBreakers:
    s, w = _section(r, t, path, "breakers", CircuitBreakers)
    d = CircuitBreakers()
    return CircuitBreakers(
        max_connections=r.get(s, w, "max_connections", int, d.max_connections, _at_least(1)),
        max_pending_requests=r.get(
            s, w, "max_pending_requests", int, d.max_pending_requests, _at_least(0)
        ),
        max_requests=r.get(s, w, "max_requests", int, d.max_requests, _at_least(1)),
    )


# ----------------------------------------------------------------- the whole


def parse_config(data: dict[str, Any], source: str, base: str | None = None) -> GatewayConfig:
    """Validate a parsed TOML document and build the config.

    Raises:
        ConfigError: with every problem found.
    """
    r = _Reader(source)
    top = r.table(data, "", ("admin", "listeners", "routes", "clusters")) or {}
    clusters: dict[str, ClusterConfig] = {}
    raw_clusters = r.get(top, "", "clusters", dict, {})
    if not raw_clusters:
        r.error("clusters", "missing (at least one [clusters.NAME] table)")
    for name, value in raw_clusters.items():
        cluster = _cluster(r, name, value, base)
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
        address = _address(r, top, "", "admin", allow_zero=True)
        admin = None if address is None else _format_address(*address)
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


def _format_address(host: str, port: int) -> str:
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
    r = _Reader("command line")
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
