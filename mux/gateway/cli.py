"""``mux gateway``: run the gateway (one-line mode, a TOML config, or the embedded default).

Usage::

    mux gateway                                      # embedded default: demo upstreams
    mux gateway --listen 127.0.0.1:8080 --to h2c://127.0.0.1:9000 [--to ...]
    mux gateway --config gateway.toml
    mux gateway --check-config gateway.toml          # validate only: exit 0 or 1

Every configuration is validated before anything listens; errors name the
file, the key path and the problem (exit status 1). SIGTERM or SIGINT drain the
gateway like ``mux serve``; a second signal stops it at once. SIGHUP (or
``POST /reload`` on the admin listener) reloads the configuration
(:mod:`mux.ops.reload`): a valid one applies to new requests, an invalid one
is refused with the same errors and the running one keeps serving.

The access log (one line per finished request, :mod:`mux.ops.accesslog`)
goes to standard output by default, as a proxy's log usually does
(``--access-log FILE`` or ``off``; startup lines also go to standard output,
errors to standard error).
"""

from __future__ import annotations

import argparse
import functools
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence

import trio

from mux.gateway.config import ConfigError, load_config, one_line_config, parse_address
from mux.gateway.gateway import DEFAULT_ADMIN, DEFAULT_LISTEN, Gateway, run_embedded, run_gateway
from mux.gateway.model import GatewayConfig
from mux.ops.accesslog import AccessLog
from mux.ops.cliopts import add_access_log_arguments, open_access_log, supervise
from mux.workers import (
    NofileLimit,
    WorkerRole,
    add_worker_arguments,
    effective_workers,
    raise_nofile_limit,
    run_supervisor,
)


def _listen(value: str) -> tuple[str, int]:
    parsed = parse_address(value)
    if isinstance(parsed, str):
        raise argparse.ArgumentTypeError(f"{parsed}, got {value!r}")
    return parsed


def _log_level(value: str) -> str:
    name = value.upper()
    if not isinstance(logging.getLevelName(name), int):
        raise argparse.ArgumentTypeError(f"unknown log level {value!r}")
    return name


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mux gateway",
        description="Forward mux, HTTP/2 (incl. gRPC) and HTTP/1.1 streams to upstream clusters.",
    )
    p.add_argument(
        "--listen",
        type=_listen,
        metavar="HOST:PORT",
        help="listen address (default 127.0.0.1:8080)",
    )
    p.add_argument(
        "--to",
        action="append",
        default=[],
        metavar="URL",
        help="upstream URL (http, https, h2c, h2, grpc, grpcs, mux, muxs); repeat for round robin",
    )
    p.add_argument("--config", metavar="FILE", help="TOML configuration")
    p.add_argument("--check-config", metavar="FILE", help="validate FILE and exit (0: valid)")
    p.add_argument(
        "--admin",
        metavar="HOST:PORT",
        help=f"admin listener (embedded default: {DEFAULT_ADMIN}; 'off' disables)",
    )
    add_access_log_arguments(p, default="-")
    p.add_argument("--drain-timeout", type=float, default=30.0, help="graceful shutdown (s)")
    p.add_argument("--log-level", type=_log_level, default="INFO", help="logging level (INFO)")
    add_worker_arguments(p, header=False)
    return p


def _config(args: argparse.Namespace) -> GatewayConfig | None:
    """The config asked for (None: the embedded default). Raises ConfigError."""
    admin = None if args.admin in (None, "off") else args.admin
    if args.config is not None:
        if args.to or args.listen:
            raise ConfigError(["command line: --config excludes --to and --listen"])
        config = load_config(args.config)
        if args.admin is not None:
            return GatewayConfig(
                config.listeners, config.routes, config.clusters, admin, config.source
            )
        return config
    if args.to:
        host, port = args.listen or DEFAULT_LISTEN
        listen = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        return one_line_config(listen, args.to, admin)
    if args.admin is not None and admin is not None:
        parsed = parse_address(admin)
        if isinstance(parsed, str):
            raise ConfigError([f"command line: --admin: {parsed}, got {admin!r}"])
    return None


async def _main(
    start: Callable[..., Awaitable[None]],
    role: WorkerRole | None = None,
    nofile: NofileLimit | None = None,
) -> None:
    async with trio.open_nursery() as nursery:

        async def run(task_status: trio.TaskStatus[Gateway]) -> None:
            await start(task_status=task_status)
            nursery.cancel_scope.cancel()  # drained: stop watching signals

        gateway: Gateway = await nursery.start(run)
        await nursery.start(_watch_signals, gateway, nursery.cancel_scope)
        announce = ["mux gateway: listening on " + ", ".join(gateway.addresses)]
        if gateway.admin_address:
            announce.append(f"mux gateway: admin on {gateway.admin_address}")
        if role is None:
            print("\n".join(announce), flush=True)
            if nofile is not None:
                nofile.log("mux gateway")
        else:  # a worker of --workers: the supervisor prints the lines
            role.ready(gateway.addresses, announce, nofile)
            nursery.start_soon(role.watch_supervisor, gateway.shutdown)


async def _watch_signals(
    gateway: Gateway,
    scope: trio.CancelScope,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    log = logging.getLogger("mux.gateway")
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        task_status.started()  # handlers installed: now the addresses may be announced
        async for signum in signals:
            if signum == signal.SIGHUP:
                if gateway.reloader is None:
                    log.warning("SIGHUP: nothing to reload (no --config or --to)")
                else:
                    log.info("SIGHUP: reloading the configuration")
                    await gateway.reloader.reload()  # logs the outcome
                continue
            if gateway.is_shutting_down:
                log.warning("second signal: stopping now")
                scope.cancel()
                return
            log.info("%s: graceful shutdown", signal.Signals(signum).name)
            gateway.shutdown()


def main(argv: Sequence[str]) -> int:
    """Entry point of ``mux gateway``; returns the exit status."""
    args = build_parser().parse_args(list(argv))
    from mux.logs import setup_logging

    setup_logging(args.log_level)  # the same lines as mux serve: time, level, peer context
    if args.check_config is not None:
        try:
            load_config(args.check_config)
        except ConfigError as exc:
            for line in exc.errors:
                print(line, file=sys.stderr)
            return 1
        print(f"{args.check_config}: valid")
        return 0
    try:
        config = _config(args)
        role = None if args.worker_of is None else WorkerRole.parse(args.worker_of)
    except ConfigError as exc:
        for line in exc.errors:
            print(line, file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"mux gateway: {exc}", file=sys.stderr)
        return 2
    workers = 1 if role is not None else effective_workers(args.workers, "mux gateway")
    if workers > 1:
        return _supervise(args, argv, config, workers)
    access_log = open_access_log(args, "mux gateway")
    if isinstance(access_log, str):
        print(access_log, file=sys.stderr)
        return 1
    try:
        return _run(args, config, access_log, role)
    finally:
        if access_log is not None:
            access_log.close()


def _run(
    args: argparse.Namespace,
    config: GatewayConfig | None,
    access_log: AccessLog | None,
    role: WorkerRole | None,
) -> int:
    nofile = raise_nofile_limit()
    start: Callable[..., Awaitable[None]]
    if config is None:
        admin = (
            DEFAULT_ADMIN if args.admin is None else (None if args.admin == "off" else args.admin)
        )
        start = functools.partial(
            run_embedded,
            listen=args.listen or DEFAULT_LISTEN,
            admin=admin,
            drain_timeout=args.drain_timeout,
            access_log=access_log,
            reuse_port=role is not None,
        )
    else:

        def reload() -> GatewayConfig:
            new = _config(args)
            assert new is not None  # --config or --to, as at startup
            return new

        start = functools.partial(
            run_gateway,
            config,
            drain_timeout=args.drain_timeout,
            access_log=access_log,
            reload=reload,
            reuse_port=role is not None,
        )
    try:
        trio.run(_main, start, role, nofile)
    except (ConfigError, OSError, BaseExceptionGroup) as exc:
        found = _leaf(exc, (ConfigError, OSError))
        if isinstance(found, ConfigError):
            for line in found.errors:
                print(line, file=sys.stderr)
            return 1
        if isinstance(found, OSError):
            print(f"mux gateway: cannot listen: {found}", file=sys.stderr)
            return 1
        raise
    return 0


def _supervise(
    args: argparse.Namespace, argv: Sequence[str], config: GatewayConfig | None, workers: int
) -> int:
    """Run ``workers`` gateway processes sharing the listeners (see :mod:`mux.workers`)."""
    listen = None
    if config is None or args.config is None:  # embedded default or one-line mode
        listen = args.listen or DEFAULT_LISTEN
    elif any(listener.port == 0 for listener in config.listeners):
        print(
            f"mux gateway: --workers {workers} needs fixed listener ports in {args.config} "
            "(port 0 would give each worker its own port)",
            file=sys.stderr,
        )
        return 1
    # Each worker serves the admin API (SO_REUSEPORT); /metrics sums every worker's.
    return supervise(
        None,
        "mux gateway",
        lambda tasks, on_exit: run_supervisor(
            ["gateway", *argv],
            workers,
            listen=listen,
            drain_timeout=args.drain_timeout,
            prog="mux gateway",
            tasks=tasks,
            on_exit=on_exit,
            forward=(signal.SIGHUP,),  # each worker reloads its configuration
        ),
    )


def _leaf(exc: BaseException, kinds: tuple[type[BaseException], ...]) -> BaseException | None:
    """The first exception of ``kinds`` in ``exc`` (nurseries wrap them in groups)."""
    if isinstance(exc, kinds):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _leaf(inner, kinds)
            if found is not None:
                return found
    return None
