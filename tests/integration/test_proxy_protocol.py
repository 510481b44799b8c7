"""PROXY protocol on real loopback listeners: v1, v2, TLS after it, and refusals."""

from __future__ import annotations

import logging
import ssl
import struct

import attrs
import pytest
import trio
import trustme
from conftest import Harness

from mux.config import ServerConfig
from mux.logs import CONNECTION
from mux.server.app import Request, Response
from mux.server.server import Server

SIG = b"\r\n\r\n\x00\r\nQUIT\n"
REQUEST = b"GET /whoami HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n"


async def whoami(request: Request) -> Response:
    """Answers with the client address the server attributes the request to."""
    client = request.client
    return Response.text(200, "none" if client is None else f"{client[0]} {client[1]}")


def v2(source: tuple[str, int], dest: tuple[str, int], *, command: int = 1) -> bytes:
    block = trio.socket.inet_aton(source[0]) + trio.socket.inet_aton(dest[0])
    block += struct.pack("!HH", source[1], dest[1]) + b"\x04\x00\x02ab"  # + a NOOP TLV
    return SIG + bytes([0x20 | command, 0x11]) + struct.pack("!H", len(block)) + block


async def proxied_server(
    harness: Harness, *, proxy_protocol: bool = True, **settings: object
) -> Server:
    config = ServerConfig(host="127.0.0.1", port=0, proxy_protocol=proxy_protocol, **settings)  # type: ignore[arg-type]
    return await harness.server(whoami, config)


async def exchange(port: int, *writes: bytes, gap: float = 0.0) -> bytes:
    """Send ``writes`` (pausing ``gap`` s between them) and read until EOF."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        for data in writes:
            try:
                await stream.send_all(data)
            except trio.BrokenResourceError:  # the server closed already: read what it sent
                break
            if gap:
                await trio.sleep(gap)
        received = b""
        with trio.fail_after(5):
            while chunk := await stream.receive_some(65536):
                received += chunk
    return received


def body_of(response: bytes) -> bytes:
    """The body of a complete HTTP/1.1 200 response (chunked or not)."""
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), response
    if b"transfer-encoding: chunked" not in head.lower():
        return body
    decoded = b""
    while True:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return decoded
        decoded, body = decoded + body[:size], body[size + 2 :]


async def test_v1_source_becomes_the_client(harness: Harness) -> None:
    server = await proxied_server(harness)
    header = b"PROXY TCP4 192.0.2.7 127.0.0.1 40001 443\r\n"
    assert body_of(await exchange(server.port, header + REQUEST)) == b"192.0.2.7 40001"


async def test_v1_tcp6(harness: Harness) -> None:
    server = await proxied_server(harness)
    header = b"PROXY TCP6 2001:db8::5 ::1 40002 443\r\n"
    assert body_of(await exchange(server.port, header + REQUEST)) == b"2001:db8::5 40002"


async def test_v2_source_becomes_the_client(harness: Harness) -> None:
    server = await proxied_server(harness)
    header = v2(("198.51.100.9", 50123), ("127.0.0.1", 8080))
    assert body_of(await exchange(server.port, header + REQUEST)) == b"198.51.100.9 50123"


async def test_header_split_across_segments(harness: Harness) -> None:
    server = await proxied_server(harness)
    header = v2(("198.51.100.10", 7), ("127.0.0.1", 8080))
    pieces = [header[:5], header[5:14], header[14:20], header[20:] + REQUEST[:3], REQUEST[3:]]
    body = body_of(await exchange(server.port, *pieces, gap=0.02))
    assert body == b"198.51.100.10 7"


async def test_v2_local_and_v1_unknown_use_the_socket_peer(harness: Harness) -> None:
    server = await proxied_server(harness)
    local = v2(("203.0.113.1", 1), ("127.0.0.1", 2), command=0)
    for header in (local, b"PROXY UNKNOWN\r\n"):
        host, port = body_of(await exchange(server.port, header + REQUEST)).split()
        assert host == b"127.0.0.1" and 0 < int(port) < 65536


async def test_without_proxy_protocol_the_client_is_the_socket_peer(harness: Harness) -> None:
    server = await proxied_server(harness, proxy_protocol=False)
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    local_port = stream.socket.getsockname()[1]
    async with stream:
        await stream.send_all(REQUEST)
        received = b""
        while chunk := await stream.receive_some(65536):
            received += chunk
    assert body_of(received) == f"127.0.0.1 {local_port}".encode()


async def test_mux_protocol_after_a_v2_header(harness: Harness) -> None:
    server = await proxied_server(harness, park_delay=0.05)
    transport = await trio.open_tcp_stream("127.0.0.1", server.port)
    await transport.send_all(v2(("192.0.2.44", 4444), ("127.0.0.1", 1)))
    client = await harness.drive(transport, client_side=True)
    status, _, body = await harness.request(client, "/whoami", method="GET")
    assert (status, body) == (200, b"192.0.2.44 4444")
    # The address belongs to the connection: a later stream sees it too, after
    # the idle connection was parked and resumed in a new task.
    for _ in range(250):
        if server.parked_total:
            break
        await trio.sleep(0.02)
    assert server.parked_total
    assert (await harness.request(client, "/again", method="GET"))[2] == b"192.0.2.44 4444"


class _HeaderFirst(trio.abc.Stream):
    """A stream whose first send carries ``header`` in the same write (one segment)."""

    def __init__(self, inner: trio.SocketStream, header: bytes) -> None:
        self.inner = inner
        self.header = header

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        data, self.header = self.header + bytes(data), b""
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self.inner.receive_some(max_bytes)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_tls_after_the_header_in_the_same_segment(
    harness: Harness, tmp_path: pytest.TempPathFactory
) -> None:
    # The ClientHello arrives in the same write as the header: the listener must
    # read exactly the header and leave the ClientHello to TLS.
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"  # type: ignore[operator]
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    server = await proxied_server(harness, tls_cert=str(cert_file), tls_key=str(key_file))
    context = ssl.create_default_context()
    ca.configure_trust(context)
    context.set_alpn_protocols(["http/1.1"])
    for header, expected in (
        (v2(("192.0.2.80", 8080), ("127.0.0.1", 443)), b"192.0.2.80 8080"),
        (b"PROXY TCP4 192.0.2.81 127.0.0.1 8081 443\r\n", b"192.0.2.81 8081"),
    ):
        raw = await trio.open_tcp_stream("127.0.0.1", server.port)
        tls = trio.SSLStream(_HeaderFirst(raw, header), context, server_hostname="localhost")
        async with tls:
            await tls.send_all(REQUEST)
            received = b""
            with trio.fail_after(5):
                while True:
                    try:
                        chunk = await tls.receive_some(65536)
                    except trio.BrokenResourceError:
                        break
                    if not chunk:
                        break
                    received += chunk
        assert body_of(received) == expected


# -------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (REQUEST, "not a PROXY protocol header"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n" + REQUEST, "lone LF"),
        (SIG + b"\x31\x11\x00\x0c" + bytes(12) + REQUEST, "version 3"),
        (SIG + b"\x21\x11\xff\xff", "exceeds the limit"),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "not a PROXY protocol header"),
        (b"\x89MUX\r\n\x1a\x01", "not a PROXY protocol header"),
    ],
)
async def test_missing_or_invalid_header_closes_silently(
    harness: Harness, caplog: pytest.LogCaptureFixture, payload: bytes, reason: str
) -> None:
    caplog.set_level(logging.DEBUG, logger="mux.server")
    server = await proxied_server(harness)
    assert await exchange(server.port, payload) == b""
    assert any(reason in r.getMessage() and r.levelno == logging.DEBUG for r in caplog.records)
    # The listener keeps serving.
    header = b"PROXY TCP4 192.0.2.1 127.0.0.1 1 2\r\n"
    assert body_of(await exchange(server.port, header + REQUEST)) == b"192.0.2.1 1"


async def test_eof_inside_the_header_closes(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="mux.server")
    server = await proxied_server(harness)
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    await stream.send_all(b"PROXY TCP4 1.2.")
    await stream.send_eof()
    with trio.fail_after(5):
        assert await stream.receive_some(100) == b""
    await stream.aclose()
    assert any("inside the PROXY header" in r.getMessage() for r in caplog.records)


async def test_no_header_within_the_handshake_timeout(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="mux.server")
    server = await proxied_server(harness, handshake_timeout=0.2)
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    await stream.send_all(b"PROXY TCP4")
    with trio.fail_after(5):
        assert await stream.receive_some(100) == b""
    await stream.aclose()
    assert any("no PROXY header in 0.2 s" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "header",
    [b"PROXY TCP4 192.0.2.1 127.0.0.1 1 2\r\n", v2(("192.0.2.1", 1), ("127.0.0.1", 2))],
    ids=["v1", "v2"],
)
async def test_header_on_a_listener_without_proxy_protocol_is_refused(
    harness: Harness, caplog: pytest.LogCaptureFixture, header: bytes
) -> None:
    caplog.set_level(logging.DEBUG, logger="mux.server")
    server = await proxied_server(harness, proxy_protocol=False)
    # Not a 400 from HTTP/1.1: a PROXY header is not a protocol, so no answer at all.
    assert await exchange(server.port, header + REQUEST) == b""
    reason = "a PROXY protocol header where none is expected"
    assert any(reason in r.getMessage() for r in caplog.records)
    # Header and request in separate segments: refused the same way.
    assert await exchange(server.port, header, REQUEST, gap=0.05) == b""
    # Ordinary HTTP/1.1 still works there, attributed to the socket peer.
    assert body_of(await exchange(server.port, REQUEST)).startswith(b"127.0.0.1 ")


async def test_second_header_after_the_first_is_refused(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="mux.server")
    server = await proxied_server(harness)
    header = b"PROXY TCP4 192.0.2.1 127.0.0.1 1 2\r\n"
    assert await exchange(server.port, header + header + REQUEST) == b""
    reason = "a PROXY protocol header where none is expected"
    assert any(reason in r.getMessage() for r in caplog.records)


async def test_mux_serve_flag_turns_it_on(harness: Harness) -> None:
    from mux import cli

    for argv, expected in (([], False), (["--proxy-protocol"], True)):
        args = cli.build_parser().parse_args(["serve", "--listen", "127.0.0.1:0", *argv])
        assert cli.config_from_args(args).proxy_protocol is expected
    config = cli.config_from_args(cli.build_parser().parse_args(["serve", "--proxy-protocol"]))
    server = await harness.server(whoami, attrs.evolve(config, port=0))
    header = b"PROXY TCP4 192.0.2.99 127.0.0.1 9 2\r\n"
    assert body_of(await exchange(server.port, header + REQUEST)) == b"192.0.2.99 9"


async def test_log_context_names_the_proxied_client(harness: Harness) -> None:
    async def context(request: Request) -> Response:
        return Response.text(200, CONNECTION.get() or "")

    config = ServerConfig(host="127.0.0.1", port=0, proxy_protocol=True)
    server = await harness.server(context, config)
    header = b"PROXY TCP4 192.0.2.7 127.0.0.1 40001 443\r\n"
    assert body_of(await exchange(server.port, header + REQUEST)) == b"192.0.2.7:40001 http/1.1"
