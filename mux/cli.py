"""The ``mux`` command line: ``serve``, ``call`` and ``conformance``.

``serve`` is implemented here; ``call`` (client SDK) and ``conformance`` are
dispatched lazily to ``mux_client.cli.main`` and ``mux.conformance.cli.main``
so that ``mux serve`` never imports them. A missing module is a clear error
with exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import math
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import trio

from mux.config import DEFAULT_HOST, DEFAULT_PORT, ServerConfig
from mux.server.app import Handler

if TYPE_CHECKING:
    from mux.server.server import Server

#: Subcommands implemented elsewhere: name → module whose ``main(argv) -> int`` runs them.
DELEGATED = {
    "call": "mux_client.cli",
    "conformance": "mux.conformance.cli",
}
DEFAULT_APP = "mux.server.demo:app"


def parse_listen(value: str) -> tuple[str, int]:
    """Parse ``HOST:PORT`` (``[::1]:80`` for IPv6; ``:PORT`` means the default host)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT with PORT in 0..65535, got {value!r}")
    host = host.strip("[]") or DEFAULT_HOST
    return host, int(port)


def load_app(spec: str) -> Handler:
    """Import ``module:attr`` and return the handler it names."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"--app must look like module:attr, got {spec!r}")
    module = importlib.import_module(module_name)
    try:
        handler: Handler = getattr(module, attr)
    except AttributeError:
        raise ValueError(f"module {module_name!r} has no attribute {attr!r}") from None
    if not callable(handler):
        raise ValueError(f"{spec} is not callable")
    return handler


def _serve_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="serve handlers over mux/msgpack, HTTP/2 and HTTP/1.1")
    p.add_argument(
        "--listen",
        type=parse_listen,
        default=(DEFAULT_HOST, DEFAULT_PORT),
        metavar="HOST:PORT",
        help=f"listen address (default {DEFAULT_HOST}:{DEFAULT_PORT}; port 0 picks one)",
    )
    p.add_argument("--app", default=DEFAULT_APP, help=f"handler as module:attr ({DEFAULT_APP})")
    p.add_argument("--drain-timeout", type=float, default=30.0, help="graceful shutdown (s)")
    p.add_argument("--log-level", type=_log_level, default="INFO", help="logging level (INFO)")
    p.add_argument("--tls-cert", help="PEM certificate chain: serve TLS (ALPN mux/1, h2, http/1.1)")
    p.add_argument("--tls-key", help="PEM private key for --tls-cert")
    p.add_argument("--max-concurrent-streams", type=int, help="streams per connection (100)")
    p.add_argument("--initial-window", type=int, help="per-stream receive window, bytes")
    p.add_argument("--connection-window", type=int, help="connection receive window, bytes")
    p.add_argument(
        "--max-frame-size", type=int, help="largest frame payload accepted, bytes (1048576)"
    )
    p.add_argument(
        "--proxy-protocol",
        action="store_true",
        help="expect a PROXY protocol v1/v2 header on every connection (from a trusted proxy)",
    )
    p.add_argument(
        "--no-tune-allocator",
        action="store_true",
        help="leave glibc malloc's thresholds alone (see mux.allocator)",
    )
    for name, default in _TIMEOUT_FLAGS.items():
        p.add_argument(
            f"--{name.replace('_', '-')}",
            type=_seconds,
            default=default,
            metavar="SECONDS",
            help=f"{name.replace('_', ' ')} (default {default}; 0 disables)",
        )


#: ``mux serve`` timeout flags → ServerConfig field and default (seconds).
_TIMEOUT_FLAGS: dict[str, float | None] = {
    "handshake_timeout": 10.0,
    "idle_timeout": 300.0,
    "keepalive_interval": 60.0,
    "send_stall_timeout": 30.0,
}
_LIMIT_FLAGS = ("max_concurrent_streams", "initial_window", "connection_window", "max_frame_size")


def _seconds(value: str) -> float | None:
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not seconds >= 0:
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, got {value!r}")
    return seconds or None


def _log_level(value: str) -> str:
    name = value.upper()
    if not isinstance(logging.getLevelName(name), int):
        raise argparse.ArgumentTypeError(
            f"unknown log level {value!r} (DEBUG, INFO, WARNING, ERROR or CRITICAL)"
        )
    return name


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """The ServerConfig asked for by ``mux serve`` flags.

    Raises:
        ValueError: a flag value the limits reject, or only one of the TLS files.
    """
    from mux.core.limits import endpoint_limits

    host, port = args.listen
    names = {"initial_window": "initial_stream_window"}
    limits = {
        names.get(flag, flag): getattr(args, flag)
        for flag in _LIMIT_FLAGS
        if getattr(args, flag) is not None
    }
    if (args.tls_cert is None) != (args.tls_key is None):
        raise ValueError("--tls-cert and --tls-key go together")
    timeouts = {name: getattr(args, name) for name in _TIMEOUT_FLAGS}
    return ServerConfig(
        host=host,
        port=port,
        drain_timeout=args.drain_timeout,
        limits=endpoint_limits(**limits),
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        proxy_protocol=args.proxy_protocol,
        **timeouts,
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (``call``/``conformance`` take their own arguments)."""
    parser = argparse.ArgumentParser(prog="mux", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    for name in DELEGATED:
        sub.add_parser(name, help=f"see `mux {name} --help`", add_help=False)
    return parser


async def _serve(handler: Handler, config: ServerConfig) -> None:
    from mux.server.server import Server

    server = Server(handler, config)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_watch_signals, server, nursery.cancel_scope)
        async with trio.open_nursery() as serving:
            await serving.start(server.serve)
            names = [
                lst.socket.getsockname()
                for lst in server.listeners
                if isinstance(lst, trio.SocketListener)
            ]
            print("mux: serving on " + ", ".join(f"{n[0]}:{n[1]}" for n in names), flush=True)
        nursery.cancel_scope.cancel()


async def _watch_signals(server: Server, scope: trio.CancelScope) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            if server.is_shutting_down:
                logging.getLogger("mux.server").warning("second signal: stopping now")
                scope.cancel()
                return
            logging.getLogger("mux.server").info(
                "%s: graceful shutdown", signal.Signals(signum).name
            )
            server.shutdown()


def _run_serve(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    try:
        handler = load_app(args.app)
    except (ImportError, ValueError) as exc:
        print(f"mux serve: cannot load --app {args.app}: {exc}", file=sys.stderr)
        return 2
    host, port = args.listen
    try:
        config = config_from_args(args)
        if config.tls:
            config.ssl_context()  # fail now, with a clear message, on bad files
    except (ValueError, TypeError, OSError) as exc:
        print(f"mux serve: invalid configuration: {exc}", file=sys.stderr)
        return 2
    if not args.no_tune_allocator:
        from mux.allocator import tune_allocator

        tune_allocator()
    try:
        trio.run(_serve, handler, config)
    except OSError as exc:
        print(f"mux serve: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    return 0


def _delegate(name: str, argv: list[str]) -> int:
    module_name = DELEGATED[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        print(f"mux {name}: {module_name} is not available ({exc})", file=sys.stderr)
        return 2
    result: int = module.main(argv)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mux`` command; returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] in DELEGATED:
        return _delegate(args_list[0], args_list[1:])
    args = build_parser().parse_args(args_list)
    if args.command == "serve":
        return _run_serve(args)
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
