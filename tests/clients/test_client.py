"""The Trio client against the real server over loopback sockets."""

from __future__ import annotations

import pytest

import mux_client


async def test_Client_unary_round_trip(target: str) -> None:
    """A unary call returns status, headers, body and trailers."""
    async with mux_client.connect(target) as client:
        resp = await client.request("POST", "/echo", body=b"hi", headers={"x-a": "b"}, timeout=5)
    assert resp.status == 200
    assert resp.body == b"hi"
    assert resp.header("x-echo") == b"1"
    assert resp.trailers == [(b"x-t", b"ok")]
    assert resp.is_success


async def test_Client_non_2xx_is_returned_and_raisable(target: str) -> None:
    """A 404 is a response; raise_for_status turns it into StatusError (PROCESSED)."""
    async with mux_client.connect(target) as client:
        resp = await client.request("GET", "/nowhere")
    assert resp.status == 404
    with pytest.raises(mux_client.StatusError) as info:
        resp.raise_for_status()
    assert info.value.processed is mux_client.Processed.PROCESSED
