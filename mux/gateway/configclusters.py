"""The ``[clusters.NAME]`` tables of a gateway config: endpoints, TLS, pools, timers, policies.

Theory of operation
-------------------
:func:`read_cluster` turns one cluster table into a
:class:`~mux.gateway.model.ClusterConfig` with a :class:`~mux.gateway.configread.Reader`,
so every mistake is recorded with its key path (``clusters.users.endpoints[1]``)
and reading continues; sub-tables (``pool``, ``timeouts``, ``retry``,
``health_check``, ``outlier``, ``breakers``) accept exactly the fields of their
model class. Cross-field rules live here too: ``ring_hash`` needs
``hash_header`` (and only it uses one), gRPC health checks need an HTTP/2 or mux
upstream, ``max_ejection_time >= base_ejection_time``.
"""

from __future__ import annotations

from typing import Any

import attrs

from mux.gateway.configread import (
    NAME,
    Reader,
    at_least,
    join,
    kind_name,
    nonempty,
    parse_address,
    positive,
    read_address,
    token,
    within,
)
from mux.gateway.model import (
    CircuitBreakers,
    ClusterConfig,
    Endpoint,
    HealthCheck,
    HealthCheckKind,
    LbPolicy,
    OutlierDetection,
    PoolConfig,
    RetryPolicy,
    Timeouts,
    TlsUpstream,
    UpstreamProtocol,
)

CLUSTER_KEYS = (
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


def _endpoint(r: Reader, value: object, path: str) -> Endpoint | None:
    weight = 1
    if isinstance(value, dict):
        t = r.table(value, path, ("address", "weight"))
        assert t is not None
        if "address" not in t:
            r.error(join(path, "address"), "missing (HOST:PORT)")
            return None
        weight = r.get(t, path, "weight", int, 1, within(1, 1000))
        parsed = read_address(r, t, path, "address")
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
        r.error(path, f'expected "HOST:PORT" or {{address=, weight=}}, got {kind_name(value)}')
        return None
    return None if parsed is None else Endpoint(parsed[0], parsed[1], int(weight))


def read_cluster(r: Reader, name: str, value: object, base: str | None) -> ClusterConfig | None:
    path = f"clusters.{name}"
    if not NAME.match(name):
        r.error(path, "cluster names use letters, digits, '_', '-' and '.'")
    t = r.table(value, path, CLUSTER_KEYS)
    if t is None:
        return None
    endpoints: list[Endpoint] = []
    raw_endpoints = r.get(t, path, "endpoints", list, [])
    if not raw_endpoints and "endpoints" not in t:
        r.error(join(path, "endpoints"), "missing (a list of HOST:PORT)")
    elif not raw_endpoints:
        r.error(join(path, "endpoints"), "needs at least one endpoint")
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
    hash_header = r.get(t, path, "hash_header", str, None, token)
    if lb is LbPolicy.RING_HASH and hash_header is None:
        r.error(join(path, "hash_header"), 'missing (lb = "ring_hash" hashes this header)')
    if hash_header is not None and lb is not LbPolicy.RING_HASH:
        r.error(join(path, "hash_header"), 'only used with lb = "ring_hash"')
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
        dns_refresh=r.get(t, path, "dns_refresh", float, 30.0, positive),
    )
    return cluster


def _upstream_tls(r: Reader, t: dict[str, Any], path: str, base: str | None) -> TlsUpstream | None:
    if "tls" not in t:
        return None
    value = t["tls"]
    where = join(path, "tls")
    if value is True:
        return TlsUpstream()
    if value is False:
        return None
    tt = r.table(value, where, ("ca", "server_name", "verify"))
    if tt is None:
        return None
    return TlsUpstream(
        ca_file=r.file(tt, where, "ca", base),
        server_name=r.get(tt, where, "server_name", str, None, nonempty),
        verify=r.get(tt, where, "verify", bool, True),
    )


def _section(
    r: Reader, t: dict[str, Any], path: str, key: str, cls: Any
) -> tuple[dict[str, Any], str]:
    where = join(path, key)
    if key not in t:
        return {}, where
    fields = [f.name for f in attrs.fields(cls)]
    found = r.table(t[key], where, fields)
    return (found or {}), where


def _pool(r: Reader, t: dict[str, Any], path: str) -> PoolConfig:
    s, w = _section(r, t, path, "pool", PoolConfig)
    d = PoolConfig()
    return PoolConfig(
        max_connections=r.get(s, w, "max_connections", int, d.max_connections, at_least(1)),
        idle_timeout=r.get(s, w, "idle_timeout", float, d.idle_timeout, positive, optional=True),
        max_requests=r.get(s, w, "max_requests", int, d.max_requests, at_least(1), optional=True),
        max_age=r.get(s, w, "max_age", float, d.max_age, positive, optional=True),
    )


def _timeouts(r: Reader, t: dict[str, Any], path: str) -> Timeouts:
    s, w = _section(r, t, path, "timeouts", Timeouts)
    d = Timeouts()
    return Timeouts(
        connect=r.get(s, w, "connect", float, d.connect, positive),
        per_try=r.get(s, w, "per_try", float, d.per_try, positive, optional=True),
        overall=r.get(s, w, "overall", float, d.overall, positive, optional=True),
    )


def _retry(r: Reader, t: dict[str, Any], path: str) -> RetryPolicy:
    s, w = _section(r, t, path, "retry", RetryPolicy)
    d = RetryPolicy()
    return RetryPolicy(
        max_attempts=r.get(s, w, "max_attempts", int, d.max_attempts, within(1, 10)),
        budget_ratio=r.get(s, w, "budget_ratio", float, d.budget_ratio, within(0, 1)),
        budget_min_concurrency=r.get(
            s, w, "budget_min_concurrency", int, d.budget_min_concurrency, at_least(0)
        ),
    )


def _health(
    r: Reader, t: dict[str, Any], path: str, protocol: UpstreamProtocol
) -> HealthCheck | None:
    if "health_check" not in t or t["health_check"] is False:
        return None
    s, w = _section(r, t, path, "health_check", HealthCheck)
    d = HealthCheck()
    kind = r.enum(s, w, "kind", HealthCheckKind, d.kind)
    if kind is HealthCheckKind.GRPC and protocol is UpstreamProtocol.HTTP1:
        r.error(join(w, "kind"), 'grpc health checks need protocol = "h2" or "mux"')
    check = HealthCheck(
        kind=kind,
        interval=r.get(s, w, "interval", float, d.interval, positive),
        jitter=r.get(s, w, "jitter", float, d.jitter, within(0, 0.99)),
        timeout=r.get(s, w, "timeout", float, d.timeout, positive),
        unhealthy_threshold=r.get(
            s, w, "unhealthy_threshold", int, d.unhealthy_threshold, at_least(1)
        ),
        healthy_threshold=r.get(s, w, "healthy_threshold", int, d.healthy_threshold, at_least(1)),
        path=r.get(
            s, w, "path", str, d.path, lambda v: None if v.startswith("/") else "must start with /"
        ),
        service=r.get(s, w, "service", str, d.service),
    )
    return check


def _outlier(r: Reader, t: dict[str, Any], path: str) -> OutlierDetection:
    s, w = _section(r, t, path, "outlier", OutlierDetection)
    d = OutlierDetection()
    base = r.get(s, w, "base_ejection_time", float, d.base_ejection_time, positive)
    most = r.get(s, w, "max_ejection_time", float, d.max_ejection_time, positive)
    if most < base:
        r.error(join(w, "max_ejection_time"), f"must be >= base_ejection_time ({base:g})")
    return OutlierDetection(
        consecutive_failures=r.get(
            s, w, "consecutive_failures", int, d.consecutive_failures, at_least(1)
        ),
        base_ejection_time=base,
        max_ejection_time=most,
        max_ejection_percent=r.get(
            s, w, "max_ejection_percent", int, d.max_ejection_percent, within(0, 100)
        ),
    )


def _breakers(r: Reader, t: dict[str, Any], path: str) -> CircuitBreakers:
    s, w = _section(r, t, path, "breakers", CircuitBreakers)
    d = CircuitBreakers()
    return CircuitBreakers(
        max_connections=r.get(s, w, "max_connections", int, d.max_connections, at_least(1)),
        max_pending_requests=r.get(
            s, w, "max_pending_requests", int, d.max_pending_requests, at_least(0)
        ),
        max_requests=r.get(s, w, "max_requests", int, d.max_requests, at_least(1)),
    )
