"""Fixtures of the interop tests: servers on loopback, a test CA."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trustme

from mux.config import ServerConfig
from mux.server.server import Server

from .peerkit import start, write_tls_files

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.interop)


@pytest.fixture
async def server(nursery: trio.Nursery) -> AsyncIterator[Server]:
    srv = await start(nursery)
    yield srv
    srv.shutdown()


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def tls_server(
    nursery: trio.Nursery, ca: trustme.CA, tmp_path: Path
) -> AsyncIterator[Server]:
    cert, key = write_tls_files(ca, tmp_path)
    config = ServerConfig(host="127.0.0.1", port=0, tls_cert=cert, tls_key=key)
    srv = await start(nursery, config)
    yield srv
    srv.shutdown()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)
