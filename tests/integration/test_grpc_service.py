"""GrpcService over a real loopback connection (mux framing; the handler is framing-agnostic)."""

from __future__ import annotations

import trio
from conftest import Harness

from mux.server.grpc import GrpcService
from mux.server.grpcwire import encode_message


async def _echo(message: bytes) -> bytes:
    return message


async def test_unary_rejects_a_second_message_without_waiting_for_the_body(
    harness: Harness,
) -> None:
    service = GrpcService()
    service.unary("/t.S/M", _echo)
    server = await harness.server(service)
    client = await harness.client(server.port)
    headers = [
        (b":method", b"POST"),
        (b":path", b"/t.S/M"),
        (b"content-type", b"application/grpc"),
    ]
    stream = await client.open_stream(headers)
    # Two messages and the request body left open: the answer must not wait for its end.
    await stream.send_data(encode_message(b"a") + encode_message(b"b"))
    with trio.fail_after(5):
        response = dict(await stream.receive_headers())
    assert response[b"grpc-status"] == b"13"
    assert b"more than one message" in response[b"grpc-message"]
