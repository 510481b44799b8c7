"""DNS endpoints: resolved at start, re-resolved every ``dns_refresh``; kept
addresses keep their pool and state, removed ones are closed (trio's custom
resolver hook stands in for the system resolver)."""

from __future__ import annotations

import socket
from typing import Any

import trio
from upstream_procs import eventually

from mux.gateway import dns
from mux.gateway.cluster import open_clusters
from mux.gateway.model import ClusterConfig, Endpoint, UpstreamProtocol


class FakeResolver(trio.abc.HostnameResolver):
    """``svc.test`` resolves to whatever ``addresses`` holds now."""

    def __init__(self) -> None:
        self.addresses = ["10.1.0.1"]
        self.fail = False
        self.calls = 0

    async def getaddrinfo(
        self, host: bytes | None, port: bytes | str | int | None, *args: Any, **kw: Any
    ) -> list[Any]:
        await trio.lowlevel.checkpoint()
        self.calls += 1
        if host not in (b"svc.test", "svc.test") or self.fail:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        family, kind, proto = socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP
        return [(family, kind, proto, "", (a, int(port or 0))) for a in self.addresses]

    async def getnameinfo(self, sockaddr: tuple[Any, ...], flags: int) -> tuple[str, str]:
        raise NotImplementedError


def test_ip_literals() -> None:
    assert dns.is_ip_literal("127.0.0.1") and dns.is_ip_literal("::1")
    assert dns.is_ip_literal("[::1]") and not dns.is_ip_literal("localhost")
    assert dns.address_key("::1", 80) == "[::1]:80"


async def test_resolution_and_refresh() -> None:
    resolver = FakeResolver()
    trio.socket.set_custom_hostname_resolver(resolver)
    try:
        config = ClusterConfig(
            name="c",
            endpoints=(Endpoint("svc.test", 9000, weight=2), Endpoint("127.0.0.1", 9001)),
            protocol=UpstreamProtocol.H2,
            dns_refresh=0.05,
        )
        async with open_clusters({"c": config}) as clusters:
            c = clusters["c"]
            assert [ep.key for ep in c.endpoints] == ["10.1.0.1:9000", "127.0.0.1:9001"]
            assert c.endpoints[0].weight == 2
            first = c.endpoints[0]
            first.requests = 7  # state that must survive a refresh
            resolver.addresses = ["10.1.0.1", "10.1.0.2"]
            await eventually(lambda: len(c.endpoints) == 3)
            assert [ep.key for ep in c.endpoints][:2] == ["10.1.0.1:9000", "10.1.0.2:9000"]
            assert c.endpoints[0] is first and first.requests == 7
            # A resolver failure keeps the last good addresses.
            resolver.fail = True
            calls = resolver.calls
            await eventually(lambda: resolver.calls > calls + 2)
            assert len(c.endpoints) == 3
            resolver.fail = False
            resolver.addresses = ["10.1.0.2"]
            await eventually(lambda: len(c.endpoints) == 2)
            assert [ep.key for ep in c.endpoints] == ["10.1.0.2:9000", "127.0.0.1:9001"]
            assert first not in c.endpoints
            assert c.snapshot()["endpoints"][0]["configured"] == "svc.test:9000"  # type: ignore[index]
    finally:
        trio.socket.set_custom_hostname_resolver(None)


async def test_a_name_that_never_resolves_is_kept_as_a_name() -> None:
    resolver = FakeResolver()
    trio.socket.set_custom_hostname_resolver(resolver)
    try:
        config = ClusterConfig(name="c", endpoints=(Endpoint("nowhere.test", 1),))
        async with open_clusters({"c": config}) as clusters:
            assert [ep.key for ep in clusters["c"].endpoints] == ["nowhere.test:1"]
    finally:
        trio.socket.set_custom_hostname_resolver(None)
