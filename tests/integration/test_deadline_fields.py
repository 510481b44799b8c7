"""``mux-timeout`` rules of spec 5.7 (revision 1.1), over real loopback sockets.

Value 0 is valid (the deadline passed on arrival: 504), leading zeros mean nothing,
and with several deadline fields every one must be valid and the smallest applies,
whatever their order, so that every hop picks the same deadline.
"""

from __future__ import annotations

import pytest
from conftest import Harness

from mux.server.demo import app as demo_app

Fields = list[tuple[bytes, bytes]]


async def _status(harness: Harness, path: str, fields: Fields) -> int:
    server = await harness.server(demo_app)
    client = await harness.client(server.port)
    status, _, _ = await harness.request(client, path, method="GET", headers=fields)
    return status


async def test_zero_means_already_expired(harness: Harness) -> None:
    assert await _status(harness, "/delay/2000", [(b"mux-timeout", b"0")]) == 504


async def test_leading_zeros_are_allowed(harness: Harness) -> None:
    assert await _status(harness, "/delay/1", [(b"mux-timeout", b"0000005000")]) == 200
    assert await _status(harness, "/delay/2000", [(b"mux-timeout", b"0000000050")]) == 504


@pytest.mark.parametrize(
    "fields",
    [
        [(b"mux-timeout", b"50"), (b"mux-timeout", b"60000")],
        [(b"mux-timeout", b"60000"), (b"mux-timeout", b"50")],
        [(b"mux-timeout", b"60000"), (b"grpc-timeout", b"50m")],
        [(b"grpc-timeout", b"60S"), (b"mux-timeout", b"50")],
    ],
)
async def test_several_fields_the_smallest_applies(harness: Harness, fields: Fields) -> None:
    """Before 1.1 the server took the first field: the second two orders got 200."""
    assert await _status(harness, "/delay/2000", fields) == 504


@pytest.mark.parametrize(
    "fields",
    [
        [(b"mux-timeout", b"60000"), (b"mux-timeout", b"soon")],
        [(b"mux-timeout", b"soon"), (b"mux-timeout", b"60000")],
    ],
)
async def test_several_fields_all_must_be_valid(harness: Harness, fields: Fields) -> None:
    assert await _status(harness, "/delay/1", fields) == 400
