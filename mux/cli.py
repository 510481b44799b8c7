"""The ``mux`` command line: ``serve``, ``call`` and ``conformance``.

``serve`` is implemented here; ``call`` (client SDK) and ``conformance`` are
dispatched lazily to ``mux_client.cli.main`` and ``mux.conformance.cli.main``
so that ``mux serve`` never imports them. A missing module is a clear error
with exit status 2.

Every flag value is checked once, here, with the rules the engines enforce
(:data:`mux.config.LIMIT_RANGES`): a value the server could not run with is a
usage error (exit 2) before anything starts, and a listen address that cannot
be bound is one line and exit 1, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import math
import os
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import attrs
import trio

from mux.config import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    H2_DEFAULT_FRAME_SIZE,
    LIMIT_RANGES,
    ServerConfig,
)
from mux.ops.cliopts import (
    add_access_log_arguments,
    add_admin_argument,
    open_access_log,
    supervise,
)
from mux.server.app import Handler
from mux.workers import (
    WORKER_HEADER,
    NofileLimit,
    WorkerRole,
    add_worker_arguments,
    effective_workers,
    raise_nofile_limit,
    run_supervisor,
)

if TYPE_CHECKING:
    from mux.ops.accesslog import AccessLog
    from mux.server.server import Server

#: Subcommands implemented elsewhere: name → module whose ``main(argv) -> int`` runs them.
DELEGATED = {
    "call": "mux_client.cli",
    "conformance": "mux.conformance.cli",
    "gateway": "mux.gateway.cli",
    "doctor": "mux.scale.cli",
    "bench": "mux.scale.benchcli",
    "top": "mux.admin.top",
}
#: One-line descriptions of the delegated subcommands (``mux --help``).
_DELEGATED_HELP = {
    "call": "send one request and print the response (a curl for mux, HTTP/2 and HTTP/1.1)",
    "conformance": "check a server or a client against the mux spec or RFC 9113/7541",
    "gateway": "run the mux gateway: route requests to upstream servers over pooled connections",
    "doctor": "check this machine's limits for N sessions and print the fixes",
    "bench": "load a mux or HTTP/2 server: requests/s, latency percentiles, held sessions",
    "top": "live view of a server's admin API: connections, streams, req/s, why streams wait",
}
DEFAULT_APP = "mux.server.demo:app"


def parse_listen(value: str) -> tuple[str, int]:
    """Parse ``HOST:PORT`` (``[::1]:80`` for IPv6; ``:PORT`` means the default host)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT with PORT in 0..65535, got {value!r}")
    host = host.strip("[]") or DEFAULT_HOST
    return host, int(port)


def load_app(spec: str, app_dir: str | None = ".") -> Handler:
    """Import ``module:attr`` and return the handler it names.

    ``app_dir`` goes first on ``sys.path`` (as uvicorn's and hypercorn's
    ``--app-dir``): modules resolve from the current directory by default.
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"--app must look like module:attr, got {spec!r}")
    if app_dir is not None:
        path = os.path.abspath(app_dir)
        if not os.path.isdir(path):
            raise ValueError(f"--app-dir {app_dir} is not a directory")
        if path not in sys.path:
            sys.path.insert(0, path)
    module = importlib.import_module(module_name)
    try:
        handler: Handler = getattr(module, attr)
    except AttributeError:
        raise ValueError(f"module {module_name!r} has no attribute {attr!r}") from None
    if not callable(handler):
        raise ValueError(f"{spec} is not callable")
    return handler


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mux")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown (not installed)"


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults; omits "(default: None)" and help that already names its default."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default is None or "default" in text or isinstance(action.default, bool):
            return text
        return super()._get_help_string(action)


def _int_in(name: str) -> Callable[[str], int]:
    """An argparse type: an int within ``LIMIT_RANGES[name]`` (else a usage error)."""
    low, high = LIMIT_RANGES[name]

    def parse(value: str) -> int:
        try:
            number = int(value, 10)
        except ValueError:
            number = low - 1
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"must be an integer in {low}..{high}, got {value!r}")
        return number

    parse.__name__ = "integer"  # argparse names the type in its messages
    return parse


#: ``mux serve`` limit flags → (ServerConfig/ProtocolLimits field, help).
_LIMIT_FLAGS: dict[str, tuple[str, str]] = {
    "max_concurrent_streams": (
        "max_concurrent_streams",
        "streams a peer may have open at once on one connection (every protocol)",
    ),
    "initial_window": (
        "initial_stream_window",
        "receive window of each stream, bytes (every protocol)",
    ),
    "connection_window": (
        "connection_window",
        "receive window of a whole connection, bytes (every protocol; HTTP/2 cannot "
        "advertise less than its initial 65535)",
    ),
    "max_frame_size": (
        "max_frame_size",
        "MAX_FRAME_SIZE mux/msgpack connections advertise and accept, bytes (HTTP/2 "
        f"connections advertise {H2_DEFAULT_FRAME_SIZE} unless --h2-max-frame-size is set)",
    ),
    "h2_max_frame_size": (
        "h2_max_frame_size",
        "SETTINGS_MAX_FRAME_SIZE HTTP/2 connections advertise and accept, bytes "
        "(16384 is RFC 9113's initial value; h2 buffers frames whole, hence the cap)",
    ),
    "max_streams_per_connection": (
        "max_streams_per_connection",
        "streams a client may open on one mux/msgpack connection; the last one is served, "
        "then GOAWAY(NO_ERROR) sends the client to a new connection",
    ),
}


def _serve_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from mux.core.limits import endpoint_limits

    defaults = {**attrs.asdict(endpoint_limits()), "h2_max_frame_size": H2_DEFAULT_FRAME_SIZE}
    p = sub.add_parser(
        "serve",
        help="serve handlers over mux/msgpack, HTTP/2 and HTTP/1.1",
        description="Serve an application (the demo services by default) on one port "
        "that speaks mux/msgpack, HTTP/2 (h2c, or h2 over TLS) and HTTP/1.1.",
        formatter_class=_HelpFormatter,
    )
    p.add_argument(
        "--listen",
        type=parse_listen,
        default=(DEFAULT_HOST, DEFAULT_PORT),
        metavar="HOST:PORT",
        help=f"listen address; port 0 picks one (default: {DEFAULT_HOST}:{DEFAULT_PORT})",
    )
    p.add_argument("--app", default=DEFAULT_APP, metavar="MODULE:ATTR", help="handler to serve")
    p.add_argument(
        "--app-dir",
        default=".",
        metavar="DIR",
        help="directory put first on sys.path to import --app from",
    )
    p.add_argument(
        "--drain-timeout",
        type=_positive_seconds,
        default=30.0,
        metavar="SECONDS",
        help="graceful shutdown: how long in-flight streams may take to finish",
    )
    p.add_argument(
        "--log-level",
        type=_log_level,
        default="INFO",
        metavar="LEVEL",
        help="DEBUG, INFO, WARNING, ERROR or CRITICAL",
    )
    p.add_argument(
        "--tls-cert",
        metavar="FILE",
        help="PEM certificate chain: serve TLS (ALPN mux/1, h2, http/1.1)",
    )
    p.add_argument("--tls-key", metavar="FILE", help="PEM private key for --tls-cert")
    for flag, (name, text) in _LIMIT_FLAGS.items():
        low, high = LIMIT_RANGES[name]
        p.add_argument(
            f"--{flag.replace('_', '-')}",
            type=_int_in(name),
            metavar="N",
            help=f"{text}; {low}..{high} (default: {defaults[name]})",
        )
    add_worker_arguments(p)
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
    add_admin_argument(p, parse_listen)
    add_access_log_arguments(p, default="off")
    for name, default in _TIMEOUT_FLAGS.items():
        p.add_argument(
            f"--{name.replace('_', '-')}",
            type=_seconds,
            default=default,
            metavar="SECONDS",
            help=f"{name.replace('_', ' ')}; 0 disables (default: {default})",
        )


#: ``mux serve`` timeout flags → ServerConfig field and default (seconds).
_TIMEOUT_FLAGS: dict[str, float | None] = {
    "handshake_timeout": 10.0,
    "header_timeout": 10.0,
    "idle_timeout": 300.0,
    "keepalive_interval": 60.0,
    "send_stall_timeout": 30.0,
}


def _seconds(value: str) -> float | None:
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not seconds >= 0:
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, got {value!r}")
    return seconds or None


def _positive_seconds(value: str) -> float:
    seconds = _seconds(value)
    if seconds is None:
        raise argparse.ArgumentTypeError(f"expected seconds > 0, got {value!r}")
    return seconds


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
    given = {
        name: getattr(args, flag)
        for flag, (name, _) in _LIMIT_FLAGS.items()
        if getattr(args, flag) is not None
    }
    h2_frame_size = given.pop("h2_max_frame_size", H2_DEFAULT_FRAME_SIZE)
    if (args.tls_cert is None) != (args.tls_key is None):
        raise ValueError("--tls-cert and --tls-key go together")
    timeouts = {name: getattr(args, name) for name in _TIMEOUT_FLAGS}
    return ServerConfig(
        host=host,
        port=port,
        drain_timeout=args.drain_timeout,
        limits=endpoint_limits(**given),
        h2_max_frame_size=h2_frame_size,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        proxy_protocol=args.proxy_protocol,
        **timeouts,
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (``call``/``conformance`` take their own arguments)."""
    parser = argparse.ArgumentParser(
        prog="mux",
        description="mux: one port serving mux/msgpack, HTTP/2 and HTTP/1.1, and tools to "
        "talk to it. `mux COMMAND --help` describes each command.",
    )
    parser.add_argument("--version", action="version", version=f"mux {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _serve_parser(sub)
    for name in DELEGATED:
        text = _DELEGATED_HELP.get(name, f"see `mux {name} --help`")
        sub.add_parser(name, help=text, add_help=False)
    return parser


async def _serve(
    handler: Handler,
    config: ServerConfig,
    role: WorkerRole | None = None,
    nofile: NofileLimit | None = None,
    admin: tuple[str, int] | None = None,
    access_log: AccessLog | None = None,
) -> None:
    from mux.server.server import Server

    server = Server(handler, config)
    # A worker among several: the supervisor serves the admin API and sums
    # every worker's metrics (PROMETHEUS_MULTIPROC_DIR, see mux.admin.supervisor).
    worker = role is not None and role.count > 1
    ops = None
    if admin is not None or access_log is not None:
        from mux.ops.metrics import Ops

        server.ops = ops = Ops(lambda: [server], access_log=access_log)
    admin_server: Server | None = None

    async def run_public(task_status: trio.TaskStatus[Server]) -> None:
        await server.serve(task_status=task_status)
        if admin_server is not None:  # drained: the admin listener goes too
            admin_server.shutdown()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(_watch_signals, server, nursery.cancel_scope)
        async with trio.open_nursery() as serving:
            await serving.start(run_public)
            addresses = _bound(server)
            lines = ["mux: serving on " + ", ".join(addresses)]
            if admin is not None and not worker:
                from mux.admin.app import start_admin
                from mux.admin.serve import serve_sources

                admin_server = await start_admin(serving, serve_sources(server), admin)
                lines.append("mux: admin on " + ", ".join(_bound(admin_server)))
            if worker and ops is not None:
                from mux.ops.metrics import flush_periodically

                nursery.start_soon(flush_periodically, ops)
            if role is None:
                print("\n".join(lines), flush=True)
                if nofile is not None:
                    nofile.log("mux serve")
            else:
                role.ready(addresses, lines, nofile)
                nursery.start_soon(role.watch_supervisor, server.shutdown)
        if ops is not None:
            ops.flush()  # the last figures, for a supervisor still scraping
        nursery.cancel_scope.cancel()


def _bound(server: Server) -> list[str]:
    """``host:port`` of each socket listener of ``server``."""
    names = [
        lst.socket.getsockname() for lst in server.listeners if isinstance(lst, trio.SocketListener)
    ]
    return [f"{n[0]}:{n[1]}" for n in names]


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


def _run_serve(args: argparse.Namespace, argv: list[str]) -> int:
    from mux.logs import setup_logging

    setup_logging(args.log_level)
    try:
        role = None if args.worker_of is None else WorkerRole.parse(args.worker_of)
    except ValueError as exc:
        print(f"mux serve: {exc}", file=sys.stderr)
        return 2
    try:
        handler = load_app(args.app, args.app_dir)
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
    if args.admin is not None:
        from mux.admin.app import check_admin_address

        problem = check_admin_address(args.admin, [(host, port)])
        if problem is not None:
            print(f"mux serve: invalid configuration: {problem}", file=sys.stderr)
            return 2
    workers = 1 if role is not None else effective_workers(args.workers, "mux serve")
    if workers > 1:
        return supervise(
            args.admin,
            "mux serve",
            lambda tasks, on_exit: run_supervisor(
                argv,
                workers,
                listen=args.listen,
                drain_timeout=args.drain_timeout,
                prog="mux serve",
                tasks=tasks,
                on_exit=on_exit,
            ),
        )
    access_log = open_access_log(args, "mux serve")
    if isinstance(access_log, str):
        print(access_log, file=sys.stderr)
        return 2
    nofile = raise_nofile_limit()
    if role is not None:
        config = attrs.evolve(config, reuse_port=True)
    if args.worker_header or (role is not None and role.count > 1):
        from mux.server.workertag import tag_responses

        index = "1" if role is None else str(role.index)
        handler = tag_responses(handler, WORKER_HEADER, index.encode())
    if not args.no_tune_allocator:
        from mux.allocator import tune_allocator

        tune_allocator()
    try:
        trio.run(_serve, handler, config, role, nofile, args.admin, access_log)
    except (OSError, BaseExceptionGroup) as exc:
        error = _bind_error(exc)
        if error is None:
            raise
        where = "" if error.startswith("admin ") else f" on {host}:{port}"
        print(f"mux serve: cannot listen{where}: {error}", file=sys.stderr)
        return 1
    finally:
        if access_log is not None:
            access_log.close()
    return 0


def _bind_error(exc: BaseException) -> str | None:
    """The reason to print when ``exc`` is (a group of only) OSErrors, else None."""
    if isinstance(exc, BaseExceptionGroup):
        matched, rest = exc.split(OSError)
        if rest is not None or matched is None:
            return None
        while isinstance(exc, BaseExceptionGroup):
            exc = exc.exceptions[0]
    if not isinstance(exc, OSError):
        return None
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host ({exc.strerror})"
    return exc.strerror or str(exc)


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
        return _run_serve(args, args_list)
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
