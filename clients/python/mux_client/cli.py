"""``mux call``: one request from the command line, a curl to debug mux servers with.

Theory of operation
-------------------
``mux call [URL | PATH] [--target HOST:PORT] [--protocol mux|h2|h1|http1] [--tls]
[--insecure] [--cacert FILE] [-X METHOD] [-H 'name: value'] [-d DATA] [-i] [-v]``
sends one request and streams the response body to stdout as it arrives
(binary-safe; a newline is added only when stdout is a terminal and the body
did not end with one). ``-i`` puts the status line and headers before the body
and the trailers after it; ``-v`` writes the request and response heads and the
trailers to stderr. Exit status: 0 for a 2xx response, 1 for any other status or
failure (one line on stderr, never mixed into the body), 2 for a usage error.

mux/msgpack and HTTP/2 go through the SDK (:func:`mux_client.connect`).
``--protocol h1`` (or ``http1``, the SDK's name for it) is a small h11 exchange
over a Trio stream here, so ``-v`` shows the request exactly as sent. When a
connection fails, :func:`_diagnose` looks again with a fresh socket so the
message says what happened: "connection refused", a port
that answers a TLS handshake while ``--tls`` was not given (a hint to add it),
or a certificate that does not verify (a hint for ``--cacert``/``--insecure``).
"""

from __future__ import annotations

import argparse
import ssl
import sys
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import BinaryIO, Final, TextIO

import attrs
import h11
import trio

from mux.core.sniff import ALPN_HTTP11
from mux.errors import MuxError
from mux_client.calls import Call
from mux_client.channel import parse_target
from mux_client.client import connect
from mux_client.errors import ConnectError, ConnectionLost, Processed

#: Failures reported as one line and exit status 1 (MuxError covers CallError
#: and a request the protocol rejects, e.g. a bad method or header name).
_REPORTED = (MuxError, ValueError, OSError, h11.ProtocolError, trio.BrokenResourceError)

#: Default deadline of ``mux call`` (seconds): a CLI should never hang.
DEFAULT_TIMEOUT = 30.0
#: Default target: where ``mux serve`` listens by default.
DEFAULT_TARGET: Final = "127.0.0.1:8080"
#: How the status line names each protocol (``-i``, ``-v``).
_PROTOCOL_NAMES: Final = {"mux": "mux/1", "h2": "HTTP/2", "h1": "HTTP/1.1"}


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default in (None, False, []) or "default" in text:
            return text
        return super()._get_help_string(action)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mux call",
        description="Send one request and print the response body: a curl for mux/msgpack,\n"
        "HTTP/2 and HTTP/1.1. Exit status 0 on 2xx, 1 on another status or a failure\n"
        "(the message goes to stderr, apart from the body).",
        epilog="examples:\n"
        "  mux call /echo -d hello                      # mux/msgpack to 127.0.0.1:8080\n"
        "  mux call http://127.0.0.1:8080/bytes/16 --protocol h2 -i\n"
        "  mux call https://localhost:8443/echo --cacert ca.pem -v -d hi",
        formatter_class=_Formatter,
    )
    parser.add_argument(
        "path", metavar="URL|PATH", help="request path (/echo) or URL (http[s]://HOST:PORT/path)"
    )
    parser.add_argument(
        "--target",
        metavar="HOST:PORT",
        default=None,
        help=f"server address, when PATH is not a URL (default: {DEFAULT_TARGET})",
    )
    parser.add_argument(
        "--protocol",
        choices=("mux", "h2", "h1", "http1"),
        default=None,
        metavar="mux|h2|h1|http1",
        help="mux (mux/msgpack), h2 (HTTP/2; h2c without TLS) or h1, also spelled http1 "
        "as in the SDK (HTTP/1.1 keep-alive) (default: mux; with TLS, what the server "
        "picks by ALPN among mux/1 and h2)",
    )
    parser.add_argument("--tls", action="store_true", help="connect with TLS")
    parser.add_argument(
        "--insecure",
        "-k",
        action="store_true",
        help="TLS without verifying the certificate (implies --tls)",
    )
    parser.add_argument(
        "--cacert", metavar="FILE", help="PEM CA bundle to verify the server with (implies --tls)"
    )
    parser.add_argument(
        "--data", "-d", metavar="DATA", help="request body (@FILE reads a file, @- stdin)"
    )
    parser.add_argument(
        "--method", "-X", metavar="METHOD", help="method (default: POST with --data, else GET)"
    )
    parser.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="extra request header (repeatable)",
    )
    parser.add_argument(
        "-i", "--include", action="store_true", help="print status and headers before the body"
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="print the request, the response head and trailers to stderr",
    )
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS", help="deadline"
    )
    return parser


@attrs.frozen
class _Request:
    """What to send, and where, once the flags are checked."""

    host: str
    port: int
    target: str
    protocol: str | None
    tls: ssl.SSLContext | None
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes
    timeout: float


def _parse_header(text: str) -> tuple[str, str]:
    pseudo = text.startswith(":")  # ":path: /x" names a pseudo-header
    name, sep, value = text[pseudo:].partition(":")
    name = ":" * pseudo + name
    if not sep or not name.strip(": "):
        raise ValueError(f"-H must look like 'name: value', got {text!r}")
    name = name.strip().lower()
    if name.startswith(":"):
        raise ValueError(f"-H cannot set {name}: give the method with -X and the path or URL")
    if name == "mux-timeout":
        raise ValueError("-H cannot set mux-timeout: give --timeout SECONDS")
    return name, value.strip()


def _body(data: str | None, stdin: BinaryIO) -> bytes:
    if data is None:
        return b""
    if data == "@-":
        return stdin.read()
    if data.startswith("@"):
        try:
            with open(data[1:], "rb") as file:
                return file.read()
        except OSError as exc:
            raise ValueError(f"--data {data}: {exc.strerror or exc}") from None
    return data.encode("utf-8")


def _tls_context(args: argparse.Namespace, use_tls: bool) -> ssl.SSLContext | None:
    if not (use_tls or args.tls or args.insecure or args.cacert):
        return None
    try:
        context = ssl.create_default_context(cafile=args.cacert)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
        raise ValueError(f"--cacert {args.cacert}: {reason}") from None
    if args.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def build_request(args: argparse.Namespace, stdin: BinaryIO) -> _Request:
    """Check the flags; the request they describe.

    Raises:
        ValueError: a flag value that cannot work (the message names the flag).
    """
    path, target, use_tls = args.path, args.target, False
    if "://" in path:
        url = urllib.parse.urlsplit(path)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"URL must be http://HOST:PORT/path or https://..., got {path!r}")
        use_tls = url.scheme == "https"
        host = f"[{url.hostname}]" if ":" in url.hostname else url.hostname
        target = target or f"{host}:{url.port or (443 if use_tls else 80)}"
        path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    target = target or DEFAULT_TARGET
    try:
        host, port = parse_target(target)
    except ValueError:
        raise ValueError(f"--target must be HOST:PORT (port 1..65535), got {target!r}") from None
    if not args.timeout > 0:  # also rejects nan
        raise ValueError(f"--timeout must be > 0, got {args.timeout}")
    return _Request(
        host=host,
        port=port,
        target=target,
        protocol="h1" if args.protocol == "http1" else args.protocol,
        tls=_tls_context(args, use_tls),
        method=(args.method or ("POST" if args.data is not None else "GET")).upper(),
        path=path,
        headers=[_parse_header(h) for h in args.header],
        body=_body(args.data, stdin),
        timeout=args.timeout,
    )


@attrs.define
class _Printer:
    """Writes the response as it arrives: body to stdout, heads per ``-i``/``-v``."""

    out: BinaryIO
    err: TextIO
    include: bool
    verbose: bool
    is_tty: bool
    status: int = 0
    last: bytes = b"\n"

    def request(self, request: _Request) -> None:
        if self.verbose:
            secure = ", TLS" if request.tls is not None else ""
            proto = request.protocol or ("ALPN" if request.tls is not None else "mux")
            self.err.write(f"* {request.target} ({proto}{secure})\n")
            self.err.write(f"> {request.method} {request.path}\n")
            for name, value in request.headers:
                self.err.write(f"> {name}: {value}\n")
            self.err.flush()

    def head(self, protocol: str, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        self.status = status
        lines = [f"{_PROTOCOL_NAMES.get(protocol, protocol)} {status}"]
        lines += [f"{_text(name)}: {_text(value)}" for name, value in headers]
        if self.verbose:
            self.err.write("".join(f"< {line}\n" for line in lines))
            self.err.flush()
        if self.include:
            self.write(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "replace"))

    def write(self, chunk: bytes) -> None:
        if chunk:
            self.out.write(chunk)
            self.out.flush()
            self.last = chunk

    def end(self, trailers: list[tuple[bytes, bytes]]) -> None:
        lines = [f"{_text(name)}: {_text(value)}" for name, value in trailers]
        if self.verbose and lines:
            self.err.write("".join(f"< {line}\n" for line in lines))
            self.err.flush()
        if self.include and lines:
            if not self.last.endswith(b"\n"):
                self.write(b"\r\n")
            self.write(("\r\n".join(lines) + "\r\n").encode("utf-8", "replace"))
        if self.is_tty and not self.last.endswith(b"\n"):
            self.write(b"\n")  # keep the shell prompt on its own line


def _text(value: bytes) -> str:
    return value.decode("utf-8", "replace")


async def _call_sdk(request: _Request, printer: _Printer) -> None:
    """mux/msgpack or HTTP/2 through the SDK."""
    protocol = request.protocol or (None if request.tls is not None else "mux")
    async with (
        connect(
            request.target,
            protocol=protocol,  # type: ignore[arg-type]  # "h1" never gets here
            tls=request.tls,
            connect_timeout=request.timeout,
            max_attempts=3,
        ) as client,
        client.stream(
            request.method,
            request.path,
            body=request.body,
            headers=request.headers,
            timeout=request.timeout,
        ) as call,
    ):
        printer.head(_protocol_of(call, protocol), call.status, call.headers.raw)
        async for chunk in call:
            printer.write(chunk)
        printer.end(call.trailers.raw)


def _protocol_of(call: Call, protocol: str | None) -> str:
    """The protocol the call went over (after ALPN when it was not fixed)."""
    if protocol is not None:
        return protocol
    return call._stream._driver.engine.protocol


async def _call_h1(request: _Request, printer: _Printer) -> None:
    """HTTP/1.1 with h11: one request on a fresh connection."""
    with trio.fail_after(request.timeout):
        stream = await _open(request, [ALPN_HTTP11])
        async with stream:
            conn = h11.Connection(h11.CLIENT)
            headers = [("host", request.target), *request.headers]
            if request.body or request.method in ("POST", "PUT", "PATCH"):
                headers.append(("content-length", str(len(request.body))))
            out = conn.send(
                h11.Request(method=request.method, target=request.path, headers=headers)
            )
            out += (conn.send(h11.Data(data=request.body)) or b"") if request.body else b""
            out += conn.send(h11.EndOfMessage()) or b""
            await stream.send_all(out)
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(bytes(await stream.receive_some(65536)))
                elif isinstance(event, h11.InformationalResponse):
                    continue
                elif isinstance(event, h11.Response):
                    printer.head("h1", event.status_code, list(event.headers))
                elif isinstance(event, h11.Data):
                    printer.write(bytes(event.data))
                elif isinstance(event, h11.EndOfMessage):
                    printer.end(list(event.headers))
                    return
                elif isinstance(event, h11.ConnectionClosed):
                    raise ConnectionLost(
                        f"{request.method} {request.path}: connection closed before the response",
                        processed=Processed.MAYBE_PROCESSED,
                    )


async def _open(request: _Request, alpn: list[str] | None) -> trio.abc.Stream:
    """A TCP (and TLS, offering ``alpn``) stream to the request's target."""
    tcp = await trio.open_tcp_stream(request.host, request.port)
    if request.tls is None:
        return tcp
    if alpn is not None:
        request.tls.set_alpn_protocols(alpn)
    tls = trio.SSLStream(tcp, request.tls, server_hostname=request.host)
    try:
        await tls.do_handshake()
    except BaseException:
        await trio.aclose_forcefully(tls)
        raise
    return tls


async def _diagnose(request: _Request) -> str | None:
    """Why connecting to the target fails, looked at again with a fresh socket; None: unknown."""
    where = request.target
    try:
        with trio.fail_after(min(request.timeout, 5.0)):
            tcp = await trio.open_tcp_stream(request.host, request.port)
    except trio.TooSlowError:
        return f"cannot connect to {where}: no answer within {min(request.timeout, 5.0):g}s"
    except OSError as exc:
        # trio raises "all attempts to connect ... failed" with the real cause chained.
        cause: BaseException = exc if exc.errno is not None else exc.__cause__ or exc
        while isinstance(cause, BaseExceptionGroup):
            cause = cause.exceptions[0]
        if isinstance(cause, ConnectionRefusedError):
            return f"cannot connect to {where}: connection refused (is a server listening there?)"
        reason = cause.strerror if isinstance(cause, OSError) and cause.strerror else cause
        return f"cannot connect to {where}: {reason}"
    probe = ssl.create_default_context()
    probe.check_hostname, probe.verify_mode = False, ssl.CERT_NONE
    tls = trio.SSLStream(tcp, probe, server_hostname=request.host)
    try:
        with trio.fail_after(min(request.timeout, 3.0)):
            await tls.do_handshake()
        speaks_tls = True
    except (trio.BrokenResourceError, trio.TooSlowError, OSError):
        speaks_tls = False
    finally:
        await trio.aclose_forcefully(tls)
    if speaks_tls and request.tls is None:
        return (
            f"{where} speaks TLS: add --tls (with --cacert FILE or --insecure for a "
            "self-signed certificate), or use an https:// URL"
        )
    if not speaks_tls and request.tls is not None:
        return f"{where} does not answer a TLS handshake: drop --tls (or use an http:// URL)"
    if request.tls is not None:
        try:
            with trio.fail_after(min(request.timeout, 3.0)):
                await trio.aclose_forcefully(await _open(request, None))
        except trio.BrokenResourceError as exc:
            verify = exc.__cause__
            if isinstance(verify, ssl.SSLCertVerificationError):
                return (
                    f"the certificate of {where} does not verify ({verify.verify_message}): "
                    "pass --cacert FILE with its CA, or --insecure"
                )
        except (OSError, trio.TooSlowError):
            pass
    return None


def _reported(exc: BaseException) -> BaseException | None:
    """The error to print for ``exc`` (unwrapping nursery groups), None if it is a bug."""
    if isinstance(exc, BaseExceptionGroup):
        if exc.split(_REPORTED)[1] is not None:
            return None  # something unexpected is in the group: keep the traceback
        while isinstance(exc, BaseExceptionGroup):
            exc = exc.exceptions[0]
    if isinstance(exc, trio.TooSlowError):
        return TimeoutError("deadline exceeded (--timeout)")
    return exc if isinstance(exc, _REPORTED) else None


class Diagnosed(MuxError):
    """A connection failure explained by :func:`_diagnose` (the message says what to do)."""


async def _call(request: _Request, printer: _Printer) -> None:
    """Run the exchange; a connection failure is diagnosed (see :func:`_diagnose`)."""
    runner: Callable[[_Request, _Printer], Awaitable[None]] = (
        _call_h1 if request.protocol == "h1" else _call_sdk
    )
    try:
        await runner(request, printer)
    except BaseException as exc:
        error = _reported(exc)
        failed_to_connect = not isinstance(error, TimeoutError) and (
            isinstance(error, ConnectError | OSError)
            or (isinstance(error, ConnectionLost | trio.BrokenResourceError) and not printer.status)
        )
        if failed_to_connect:
            reason = await _diagnose(request)
            if reason is not None:
                raise Diagnosed(reason) from exc
        raise


def main(argv: list[str]) -> int:
    """Run ``mux call`` with ``argv`` (without the ``call`` word); return the exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed usage / help
        return 0 if exc.code == 0 else 2
    printer = _Printer(
        sys.stdout.buffer,
        sys.stderr,
        include=args.include,
        verbose=args.verbose,
        is_tty=sys.stdout.isatty(),
    )
    try:
        request = build_request(args, sys.stdin.buffer)
        printer.request(request)
        trio.run(_call, request, printer)
    except BaseException as exc:
        error = _reported(exc)
        if error is None:
            raise
        sys.stdout.flush()
        print(f"mux call: error: {error}", file=sys.stderr)
        return 1
    if not 200 <= printer.status < 300:
        print(f"mux call: status {printer.status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
