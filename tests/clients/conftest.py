"""Fixtures: a real mux server on a loopback port (see serverkit)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio

from mux.server import Server

from .serverkit import Observed, start_server


@pytest.fixture
def seen() -> Observed:
    return Observed()


@pytest.fixture
async def server(nursery: trio.Nursery, seen: Observed) -> AsyncIterator[Server]:
    srv = await start_server(nursery, seen)
    yield srv
    srv.shutdown()


@pytest.fixture
def target(server: Server) -> str:
    return f"127.0.0.1:{server.port}"
