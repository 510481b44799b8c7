"""``mux call``: one request from the command line.

``mux call --target HOST:PORT PATH [--data BODY] [--method M] [-H 'name: value']
[--timeout S]`` prints the response body to stdout (binary-safe) and exits 0 on
a 2xx status. Failures (connection refused, deadline, reset, non-2xx status)
print one line to stderr and exit 1; a non-2xx body is still written to stdout.
``--data @FILE`` reads the body from a file (``@-``: stdin).
"""

from __future__ import annotations

import argparse
import sys
from typing import BinaryIO

import trio

from mux.errors import MuxError
from mux_client.calls import Response
from mux_client.client import connect

#: Failures reported as one line and exit status 1 (MuxError covers CallError
#: and a request the protocol rejects, e.g. a bad method or header name).
_REPORTED = (MuxError, ValueError, OSError)

#: Default deadline of ``mux call`` (seconds): a CLI should never hang.
DEFAULT_TIMEOUT = 30.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mux call", description="Send one request to a mux server."
    )
    parser.add_argument("path", help="request path, e.g. /echo")
    parser.add_argument("--target", required=True, help="HOST:PORT of the server")
    parser.add_argument(
        "--data", "-d", default=None, help="request body (@FILE reads a file, @- stdin)"
    )
    parser.add_argument(
        "--method", "-X", default=None, help="method (default POST with --data, else GET)"
    )
    parser.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        help="extra header 'name: value' (repeatable)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"deadline in seconds (default {DEFAULT_TIMEOUT:g})",
    )
    return parser


def _parse_header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise ValueError(f"header must look like 'name: value', got {text!r}")
    return name.strip().lower(), value.strip()


def _body(data: str | None, stdin: BinaryIO) -> bytes:
    if data is None:
        return b""
    if data == "@-":
        return stdin.read()
    if data.startswith("@"):
        with open(data[1:], "rb") as file:
            return file.read()
    return data.encode("utf-8")


async def _call(args: argparse.Namespace, body: bytes, headers: list[tuple[str, str]]) -> Response:
    method = args.method or ("POST" if args.data is not None else "GET")
    async with connect(args.target, connect_timeout=args.timeout, max_attempts=3) as client:
        return await client.request(
            method, args.path, body=body, headers=headers, timeout=args.timeout
        )


def _reported(exc: BaseException) -> BaseException | None:
    """The error to print for ``exc`` (unwrapping nursery groups), None if it is a bug."""
    if isinstance(exc, BaseExceptionGroup):
        if exc.split(_REPORTED)[1] is not None:
            return None  # something unexpected is in the group: keep the traceback
        while isinstance(exc, BaseExceptionGroup):
            exc = exc.exceptions[0]
    return exc if isinstance(exc, _REPORTED) else None


def main(argv: list[str]) -> int:
    """Run ``mux call`` with ``argv`` (without the ``call`` word); return the exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed usage / help
        return 0 if exc.code == 0 else 2
    try:
        headers = [_parse_header(h) for h in args.header]
        body = _body(args.data, sys.stdin.buffer)
        if not args.timeout > 0:  # also rejects nan
            raise ValueError(f"--timeout must be > 0, got {args.timeout}")
        response = trio.run(_call, args, body, headers)
    except BaseException as exc:
        error = _reported(exc)
        if error is None:
            raise
        print(f"mux call: error: {error}", file=sys.stderr)
        return 1
    sys.stdout.buffer.write(response.body)
    sys.stdout.buffer.flush()
    if not response.is_success:
        print(f"mux call: status {response.status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
