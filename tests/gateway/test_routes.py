"""The route table: first match wins, every condition must hold."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mux.gateway.model import HeaderMatch, RouteConfig
from mux.gateway.routes import build_table, grpc_parts, match

TABLE = build_table(
    [
        RouteConfig("grpc-get", grpc_service="acme.Users", grpc_method="Get"),
        RouteConfig("grpc-any", grpc_service="acme.Users"),
        RouteConfig("canary", path_prefix="/api/", headers=(HeaderMatch("X-Env", "canary"),)),
        RouteConfig("debug", path_prefix="/api/", headers=(HeaderMatch("x-debug"),)),
        RouteConfig("host", authority="Example.COM", name="by-host"),
        RouteConfig("hostport", authority="other.test:8443"),
        RouteConfig("api", path_prefix="/api/"),
    ]
)


def _cluster(
    path: str, authority: str = "", headers: list[tuple[bytes, bytes]] | None = None
) -> str | None:
    route = match(TABLE, "GET", path, authority, headers or [])
    return None if route is None else route.config.cluster


def test_grpc_service_and_method_are_exact() -> None:
    assert _cluster("/acme.Users/Get") == "grpc-get"
    assert _cluster("/acme.Users/List") == "grpc-any"
    assert _cluster("/acme.UsersX/Get") is None
    assert _cluster("/acme.Users/Get/extra") is None
    assert _cluster("/acme.Users") is None


def test_headers_must_all_match_and_first_match_wins() -> None:
    assert _cluster("/api/x", headers=[(b"x-env", b"canary")]) == "canary"
    assert _cluster("/api/x", headers=[(b"x-env", b"prod")]) == "api"
    assert _cluster("/api/x", headers=[(b"x-env", b"prod"), (b"x-debug", b"")]) == "debug"
    assert _cluster("/api/x", headers=[(b"x-env", b"prod"), (b"x-env", b"canary")]) == "canary"
    assert _cluster("/apix") is None


def test_authority_is_case_insensitive_and_ignores_the_port_when_none_is_configured() -> None:
    assert _cluster("/x", "example.com") == "host"
    assert _cluster("/x", "EXAMPLE.com:8080") == "host"
    assert _cluster("/x", "other.test:8443") == "hostport"
    assert _cluster("/x", "other.test") is None
    assert _cluster("/x", "[::1]:80") is None
    assert TABLE[4].name == "by-host" and TABLE[0].name == "route0"


def test_no_route_is_none() -> None:
    assert match(build_table([]), "GET", "/", "", []) is None


@given(st.text(max_size=40))
def test_grpc_parts_never_raises_and_round_trips(path: str) -> None:
    parts = grpc_parts(path)
    if parts is not None:
        assert f"/{parts[0]}/{parts[1]}" == path


@given(
    prefix=st.from_regex(r"/[a-z/]{0,8}", fullmatch=True),
    path=st.from_regex(r"/[a-z/]{0,12}", fullmatch=True),
)
def test_prefix_match_is_startswith(prefix: str, path: str) -> None:
    table = build_table([RouteConfig("c", path_prefix=prefix)])
    assert (match(table, "GET", path, "", []) is not None) == path.startswith(prefix)
