"""Fixtures of the gateway tests: a real upstream server on a loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio

from mux.server.server import Server
from tests.interop import peerkit


@pytest.fixture
async def upstream(nursery: trio.Nursery) -> AsyncIterator[Server]:
    """The demo services plus gRPC test methods (tests/interop/peerkit.py)."""
    server = await peerkit.start(nursery)
    yield server
    server.shutdown()
