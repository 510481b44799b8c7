"""gRPC: the real grpcio client against mux, and grpc-timeout deadlines on the wire."""

from __future__ import annotations

import grpc
import pytest
import trio

from mux.server.grpcwire import encode_message
from mux.server.server import Server

from .peerkit import h2_client

GRPC_TIMEOUT = 10.0


def _unary_calls(port: int) -> list[object]:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary("/test.Echo/Unary")
        results: list[object] = [call(b"hi", timeout=GRPC_TIMEOUT), call(b"", timeout=GRPC_TIMEOUT)]
        for payload, method in ((b"fail", "/test.Echo/Unary"), (b"x", "/test.Echo/Nope")):
            try:
                channel.unary_unary(method)(payload, timeout=GRPC_TIMEOUT)
            except grpc.RpcError as exc:
                results.append((exc.code(), exc.details()))
    return results


async def test_grpcio_unary(server: Server) -> None:
    results = await trio.to_thread.run_sync(_unary_calls, server.port)
    assert results[0] == b"echo:hi"
    assert results[1] == b"echo:"
    assert results[2] == (grpc.StatusCode.INVALID_ARGUMENT, "asked to fail")
    assert results[3][0] == grpc.StatusCode.UNIMPLEMENTED  # type: ignore[index]


def _bidi_call(port: int, count: int) -> list[bytes]:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.stream_stream("/test.Echo/Bidi")
        requests = (f"message {i} ".encode() * (i % 50 + 1) for i in range(count))
        return list(call(requests, timeout=GRPC_TIMEOUT))


async def test_grpcio_bidi_streaming(server: Server) -> None:
    replies = await trio.to_thread.run_sync(_bidi_call, server.port, 300)
    assert replies == [f"MESSAGE {i} ".encode() * (i % 50 + 1) for i in range(300)]


def _deadline_call(port: int) -> grpc.StatusCode:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            channel.unary_unary("/test.Echo/Sleep")(b"x", timeout=0.3)
        except grpc.RpcError as exc:
            return exc.code()
    return grpc.StatusCode.OK


async def test_grpcio_deadline(server: Server) -> None:
    assert await trio.to_thread.run_sync(_deadline_call, server.port) == (
        grpc.StatusCode.DEADLINE_EXCEEDED
    )


def _grpc_headers(
    timeout: bytes | None, content_type: bytes = b"application/grpc"
) -> list[tuple[bytes, bytes]]:
    headers = [
        (b":method", b"POST"),
        (b":scheme", b"http"),
        (b":authority", b"127.0.0.1"),
        (b":path", b"/test.Echo/Sleep"),
        (b"content-type", content_type),
        (b"te", b"trailers"),
    ]
    return headers + ([(b"grpc-timeout", timeout)] if timeout is not None else [])


async def test_grpc_timeout_expiry_is_trailers_only_status_4(
    server: Server, nursery: trio.Nursery
) -> None:
    client = await h2_client(nursery, server.port)
    stream = await client.open_stream(_grpc_headers(b"200m"))
    await stream.send_data(encode_message(b"zzz"), end_stream=True)
    start = trio.current_time()
    with trio.fail_after(5):
        headers = dict(await stream.receive_headers())
    assert 0.15 < trio.current_time() - start < 2
    assert headers[b":status"] == b"200"
    assert headers[b"grpc-status"] == b"4"
    assert b"deadline" in headers[b"grpc-message"]
    assert stream.remote_ended  # trailers-only: one HEADERS with END_STREAM


@pytest.mark.parametrize("unit", [b"1H", b"90M", b"3S", b"200m", b"200000u", b"20000000n"])
async def test_grpc_timeout_units_parse(server: Server, nursery: trio.Nursery, unit: bytes) -> None:
    client = await h2_client(nursery, server.port)
    stream = await client.open_stream(_grpc_headers(unit, b"text/plain"), end_stream=True)
    # Not gRPC: /test.Echo/* answers 415 at once; the deadline only had to parse.
    with trio.fail_after(5):
        headers = dict(await stream.receive_headers())
    assert headers[b":status"] == b"415"


async def test_grpc_timeout_on_plain_request_gives_504(
    server: Server, nursery: trio.Nursery
) -> None:
    client = await h2_client(nursery, server.port)
    headers = [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"x"),
               (b":path", b"/delay/3000"), (b"grpc-timeout", b"100m")]  # fmt: skip
    stream = await client.open_stream(headers, end_stream=True)
    with trio.fail_after(5):
        assert dict(await stream.receive_headers())[b":status"] == b"504"


@pytest.mark.parametrize("bad", [b"123456789S", b"10", b"5s", b"-1S", b"1.5S"])
async def test_bad_grpc_timeout_is_rejected(
    server: Server, nursery: trio.Nursery, bad: bytes
) -> None:
    client = await h2_client(nursery, server.port)
    stream = await client.open_stream(_grpc_headers(bad))
    await stream.send_data(encode_message(b"x"), end_stream=True)
    with trio.fail_after(5):
        headers = dict(await stream.receive_headers())
    assert headers[b"grpc-status"] == b"3"  # INVALID_ARGUMENT
    assert b"grpc-timeout" in headers[b"grpc-message"]
