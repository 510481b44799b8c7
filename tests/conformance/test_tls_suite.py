"""Both suites over TLS against an in-process ``mux serve`` (trustme certificates).

Over TLS the listener picks the protocol by ALPN, so when ALPN negotiates
``mux/1`` every byte is mux: the vectors whose input is another protocol's
preface (skipped on the sniffing plain-TCP port) run here and must pass.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trustme

from mux.config import ServerConfig
from mux.conformance.case import CaseResult, Protocol
from mux.conformance.groups import all_cases
from mux.conformance.runner import run_cases, select_cases
from mux.conformance.wire import Target
from mux.core.limits import ProtocolLimits
from mux.server import Server, serve
from mux.server.demo import app

REPLY_TIMEOUT = 2.0

#: The vectors that need a mux-only endpoint (input is an h2 / HTTP/1.1 preface).
FOREIGN_PREFACE_VECTORS = {
    "vector/preface/server-bad-magic-http1",
    "vector/preface/server-bad-magic-h2",
}


@pytest.fixture
def ca_and_port_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(CA PEM, certificate chain PEM, key PEM) for ``localhost``."""
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    ca_file, chain, key = tmp_path / "ca.pem", tmp_path / "chain.pem", tmp_path / "key.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    cert.private_key_pem.write_to_path(str(key))
    for blob in cert.cert_chain_pems:
        blob.write_to_path(str(chain), append=True)
    return ca_file, chain, key


@pytest.fixture
async def tls_target(ca_and_port_files: tuple[Path, Path, Path]) -> AsyncIterator[Target]:
    """A TLS ``mux serve`` (demo app) in this test's nursery, and a verifying target."""
    ca_file, chain, key = ca_and_port_files
    config = ServerConfig(
        host="127.0.0.1",
        port=0,
        drain_timeout=1.0,
        tls_cert=str(chain),
        tls_key=str(key),
        # Below MAX_FRAME_SIZE, so mux/4.2/1 (HEADER_LIST_TOO_LARGE) can run.
        limits=ProtocolLimits(max_header_list_size=16384),
    )
    async with trio.open_nursery() as nursery:
        server: Server = await nursery.start(serve, app, config)
        yield Target(
            "127.0.0.1",
            server.port,
            tls=True,
            server_name="localhost",
            ca_file=str(ca_file),
            path="/bytes/4096",
            hold_path="/delay/3000",
        )
        server.shutdown()
        nursery.cancel_scope.cancel()


async def _run(
    target: Target, protocol: Protocol, *, strict: bool, jobs: int = 1
) -> list[CaseResult]:
    cases = select_cases(all_cases(protocol), protocol, strict=strict)
    return await run_cases(
        cases, target, reply_timeout=REPLY_TIMEOUT, strict=strict, concurrency=jobs
    )


def _by_status(results: list[CaseResult], *statuses: str) -> dict[str, str]:
    return {r.case.id: f"{r.expected} / {r.actual}" for r in results if r.status in statuses}


async def test_mux_suite_over_tls_alpn(tls_target: Target) -> None:
    """ALPN mux/1: every mux case passes, the foreign-preface vectors included (not skipped)."""
    results = await _run(tls_target, "mux", strict=True)
    assert _by_status(results, "failed", "error", "skipped") == {}
    ran = {r.case.id for r in results if r.status == "passed"}
    assert ran >= FOREIGN_PREFACE_VECTORS


async def test_h2_suite_over_tls_alpn(tls_target: Target) -> None:
    """ALPN h2: every HTTP/2 case passes against ``mux serve``."""
    results = await _run(tls_target, "h2", strict=False, jobs=4)
    assert not _by_status(results, "failed", "error")
