"""The config loader: valid files build the model; every mistake is named by file and key path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mux.gateway.config import (
    ConfigError,
    load_config,
    one_line_config,
    parse_address,
    parse_config,
)
from mux.gateway.model import (
    Endpoint,
    HealthCheckKind,
    LbPolicy,
    TlsUpstream,
    UpstreamProtocol,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

GOOD = """
admin = "127.0.0.1:9901"

[[listeners]]
address = "127.0.0.1:8080"

[[listeners]]
address = "[::1]:8081"
protocols = ["mux", "h2"]

[[routes]]
cluster = "users"
grpc_service = "acme.Users"
grpc_method = "Get"

[[routes]]
cluster = "users"
path_prefix = "/users/"
headers = [{ name = "X-Env", value = "canary" }, { name = "x-debug" }]
authority = "api.example.com"
host_rewrite = "users.internal"
idempotent = true
name = "users-http"

[[routes]]
cluster = "web"
path_prefix = "/"

[clusters.users]
endpoints = ["10.0.0.1:9000", { address = "users-2.internal:9000", weight = 3 }]
protocol = "mux"
lb = "ring_hash"
hash_header = "X-User"
tls = { server_name = "users.internal", verify = false }

[clusters.users.pool]
max_connections = 8
idle_timeout = false
max_requests = 1000

[clusters.users.timeouts]
connect = 1
per_try = 0.5

[clusters.users.health_check]
kind = "grpc"
interval = 2.5

[clusters.web]
endpoints = ["127.0.0.1:9001"]
protocol = "http1"
"""


def _errors(text: str, source: str = "gw.toml") -> list[str]:
    import tomllib

    with pytest.raises(ConfigError) as info:
        parse_config(tomllib.loads(textwrap.dedent(text)), source)
    return info.value.errors


def test_a_full_config_builds_the_model() -> None:
    import tomllib

    config = parse_config(tomllib.loads(GOOD), "gw.toml")
    assert config.admin == "127.0.0.1:9901"
    assert [(li.host, li.port) for li in config.listeners] == [("127.0.0.1", 8080), ("::1", 8081)]
    assert config.listeners[1].protocols == ("mux", "h2")
    grpc_route, http_route, web = config.routes
    assert (grpc_route.grpc_service, grpc_route.grpc_method) == ("acme.Users", "Get")
    assert http_route.headers[0].name == "x-env" and http_route.headers[1].value is None
    assert http_route.idempotent and http_route.host_rewrite == "users.internal"
    users = config.clusters["users"]
    assert users.endpoints == (Endpoint("10.0.0.1", 9000), Endpoint("users-2.internal", 9000, 3))
    assert users.protocol is UpstreamProtocol.MUX and users.lb is LbPolicy.RING_HASH
    assert users.hash_header == "x-user"
    assert users.tls == TlsUpstream(None, "users.internal", False)
    assert users.pool.max_connections == 8 and users.pool.idle_timeout is None
    assert users.timeouts.connect == 1.0 and users.timeouts.per_try == 0.5
    assert users.health_check is not None and users.health_check.kind is HealthCheckKind.GRPC
    assert config.clusters["web"].protocol is UpstreamProtocol.HTTP1
    assert web.path_prefix == "/"


def test_every_error_is_collected_with_file_and_key_path() -> None:
    errors = _errors(
        """
        [[listeners]]
        address = "127.0.0.1:99999"
        protocls = ["mux"]

        [[routes]]
        cluster = "nope"
        path_prefix = "users"

        [clusters.users]
        endpoints = ["10.0.0.1:9000", "no-port", { address = "h:1", weight = 0 }, 7]
        protocol = "h3"
        lb = "ring_hash"

        [clusters.users.timeouts]
        connect = -1
        overall = "soon"
        per_try = inf
        """
    )
    expected = [
        "gw.toml: listeners[0].address: port must be a number in 0..65535",
        "gw.toml: listeners[0].protocls: unknown key",
        "gw.toml: routes[0].cluster: no cluster named 'nope' (clusters: users)",
        "gw.toml: routes[0].path_prefix: must start with /",
        "gw.toml: clusters.users.endpoints[1]: expected HOST:PORT, got 'no-port'",
        "gw.toml: clusters.users.endpoints[2].weight: must be in 1..1000, got 0",
        'gw.toml: clusters.users.endpoints[3]: expected "HOST:PORT" or {address=, weight=}',
        "gw.toml: clusters.users.protocol: unknown value 'h3' (expected one of http1, h2, mux)",
        "gw.toml: clusters.users.hash_header: missing",
        "gw.toml: clusters.users.timeouts.connect: must be a finite number > 0, got -1.0",
        "gw.toml: clusters.users.timeouts.per_try: must be a finite number > 0, got inf",
        "gw.toml: clusters.users.timeouts.overall: expected float or false, got a string 'soon'",
    ]
    for prefix in expected:
        assert any(e.startswith(prefix) for e in errors), (prefix, errors)
    assert len(errors) == len(expected), errors


def test_missing_sections_are_named() -> None:
    errors = _errors("")
    assert errors == [
        "gw.toml: clusters: missing (at least one [clusters.NAME] table)",
        "gw.toml: listeners: missing (at least one [[listeners]] with an address)",
        "gw.toml: routes: missing (at least one [[routes]] sending requests to a cluster)",
    ]


def test_unknown_top_level_and_nested_keys_are_errors() -> None:
    errors = _errors(
        """
        colour = "blue"
        [[listeners]]
        address = "127.0.0.1:1"
        tls = { cert = "missing.pem", key = "missing.key", chain = 1 }
        [[routes]]
        cluster = "a"
        grpc_method = "Get"
        headers = [{ nme = "x" }]
        [clusters.a]
        endpoints = ["h:1", "h:1"]
        retry = { max_attempts = 0, tries = 2 }
        health_check = { kind = "grpc" }
        protocol = "http1"
        """
    )
    text = "\n".join(errors)
    assert "gw.toml: colour: unknown key" in text
    assert "gw.toml: listeners[0].tls.chain: unknown key" in text
    assert "gw.toml: listeners[0].tls.cert: file not found" in text
    assert "gw.toml: routes[0].grpc_method: needs grpc_service" in text
    assert "gw.toml: routes[0].headers[0].nme: unknown key" in text
    assert "gw.toml: routes[0].headers[0].name: missing" in text
    assert "gw.toml: clusters.a.endpoints[1]: duplicate endpoint h:1" in text
    assert "gw.toml: clusters.a.retry.max_attempts: must be in 1..10, got 0" in text
    assert "gw.toml: clusters.a.retry.tries: unknown key" in text
    assert "gw.toml: clusters.a.health_check.kind: grpc health checks need" in text


def test_load_config_reports_unreadable_and_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(str(tmp_path / "absent.toml"))
    bad = tmp_path / "bad.toml"
    bad.write_text("[[listeners]\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: invalid TOML"):
        load_config(str(bad))


def test_relative_tls_files_resolve_next_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("x")
    path = tmp_path / "gw.toml"
    path.write_text(
        '[[listeners]]\naddress = "127.0.0.1:0"\n[[routes]]\ncluster = "a"\n'
        '[clusters.a]\nendpoints = ["h:1"]\ntls = { ca = "ca.pem" }\n'
    )
    config = load_config(str(path))
    tls = config.clusters["a"].tls
    assert tls is not None and tls.ca_file == str(tmp_path / "ca.pem")


def test_examples_are_valid() -> None:
    files = sorted(EXAMPLES.glob("gateway*.toml"))
    assert files
    for file in files:
        load_config(str(file))


# ------------------------------------------------------------ one-line mode


def test_one_line_mode_is_one_round_robin_cluster_behind_a_catch_all() -> None:
    config = one_line_config("127.0.0.1:8080", ["h2c://127.0.0.1:9000", "grpc://[::1]:9001"])
    cluster = config.clusters["default"]
    assert cluster.protocol is UpstreamProtocol.H2 and cluster.tls is None
    assert cluster.endpoints == (Endpoint("127.0.0.1", 9000), Endpoint("::1", 9001))
    assert cluster.lb is LbPolicy.ROUND_ROBIN
    assert config.routes[0].path_prefix == "/" and config.routes[0].cluster == "default"
    tls = one_line_config("127.0.0.1:1", ["muxs://example.com:443"]).clusters["default"]
    assert tls.protocol is UpstreamProtocol.MUX and tls.tls == TlsUpstream()


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        ([], "--to: at least one upstream URL is needed"),
        (["ftp://h:1"], "--to[0]: unknown scheme 'ftp'"),
        (["h2c://h"], "--to[0]: no port in 'h2c://h'"),
        (["http://h:1/api"], "only scheme://HOST:PORT is allowed"),
        (["http://h:1", "mux://h:2"], "--to: all --to URLs must use the same protocol"),
        (["http://h:1", "https://h:2"], "--to: all --to URLs must use the same protocol"),
        (["mux://h:1", "mux://h:1"], "the same upstream is given twice"),
        (["mux://h:99999"], "--to[0]: invalid URL"),
    ],
)
def test_one_line_mode_errors(targets: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        one_line_config("127.0.0.1:8080", targets)
    assert any(message in e for e in info.value.errors), info.value.errors
    assert all(e.startswith("command line: ") for e in info.value.errors)


@given(
    host=st.from_regex(r"[a-z][a-z0-9.\-]{0,20}", fullmatch=True),
    port=st.integers(0, 65535),
)
def test_parse_address_round_trips(host: str, port: int) -> None:
    assert parse_address(f"{host}:{port}") == (host, port)
    assert parse_address(f"[::{port % 0xFFFF:x}]:{port}") == (f"::{port % 0xFFFF:x}", port)


@given(st.text(max_size=30))
def test_parse_address_never_raises(text: str) -> None:
    result = parse_address(text)
    assert isinstance(result, str | tuple)


_KEYS = st.from_regex(r"[a-z_]{1,12}", fullmatch=True)


@given(key=_KEYS)
def test_any_unknown_cluster_key_is_reported_by_path(key: str) -> None:
    import tomllib

    from mux.gateway.config import CLUSTER_KEYS

    data = tomllib.loads(GOOD)
    data["clusters"]["web"][key] = 1
    if key in CLUSTER_KEYS:
        return
    with pytest.raises(ConfigError) as info:
        parse_config(data, "f.toml")
    assert info.value.errors[0].startswith(f"f.toml: clusters.web.{key}: unknown key")
    assert len(info.value.errors) == 1


_NAMES = st.sampled_from(
    [
        "admin", "listeners", "routes", "clusters", "address", "protocols", "tls", "cluster",
        "path_prefix", "grpc_service", "grpc_method", "headers", "name", "value", "endpoints",
        "protocol", "lb", "hash_header", "pool", "timeouts", "retry", "health_check", "outlier",
        "breakers", "weight", "connect", "kind", "max_connections", "ca", "cert", "key", "web",
        "idempotent", "authority", "host_rewrite", "interval", "max_attempts", "verify",
    ]
)  # fmt: skip
_SCALARS = st.one_of(
    st.booleans(),
    st.integers(-3, 70000),
    st.floats(allow_nan=True),
    st.sampled_from(["", "/", "h2", "mux", "127.0.0.1:1", "[::1]:2", "x:y", "ring_hash", "grpc"]),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_NAMES, inner, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(_NAMES, _VALUES, max_size=5))
def test_any_document_is_a_config_or_a_config_error(document: dict[str, object]) -> None:
    """Whatever the TOML holds, the loader answers with a config or named errors, never a crash."""
    try:
        parse_config(document, "f.toml")
    except ConfigError as exc:
        assert exc.errors
        assert all(line.startswith("f.toml: ") for line in exc.errors)
