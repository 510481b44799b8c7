"""Command-line plumbing of the operations features, shared by ``mux serve`` and ``mux gateway``.

Theory of operation
-------------------
:func:`add_access_log_arguments` adds ``--access-log FILE|-|off`` and
``--access-log-format text|json`` (the default target differs: ``off`` for
``mux serve``, ``-`` for the gateway); :func:`open_access_log` opens the
target before anything listens, so a bad path is one line and an exit
status, never a traceback from the writer thread. :func:`supervise` runs a
``--workers`` supervisor with multi-process metrics and, when asked, its own
admin listener (:mod:`mux.admin.supervisor`); a busy admin address stops it
before any worker starts.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable, Sequence

from mux.ops.accesslog import AccessLog

Task = Callable[[], Awaitable[None]]


def add_admin_argument(
    parser: argparse.ArgumentParser, parse_listen: Callable[[str], tuple[str, int]]
) -> None:
    """``mux serve --admin HOST:PORT|off`` (off by default)."""

    def address(value: str) -> tuple[str, int] | None:
        return None if value == "off" else parse_listen(value)

    address.__name__ = "address"  # argparse names the type in its messages
    parser.add_argument(
        "--admin",
        type=address,
        default=None,
        metavar="HOST:PORT",
        help="admin listener (/healthz, /readyz, /metrics, /stats): its own address, "
        "loopback when HOST is omitted (':9901'); 'off' (the default) disables it",
    )


def add_access_log_arguments(parser: argparse.ArgumentParser, *, default: str) -> None:
    """``--access-log`` (default ``default``) and ``--access-log-format``."""
    where = "standard output" if default == "-" else default
    parser.add_argument(
        "--access-log",
        default=default,
        metavar="FILE|-|off",
        help=f"one line per finished request to FILE, '-' (stdout) or 'off' (default: {where}); "
        "written by a thread, dropped and counted when it falls behind",
    )
    parser.add_argument(
        "--access-log-format",
        choices=("text", "json"),
        default="text",
        help="access log lines: readable text (default) or one JSON object per line",
    )


def open_access_log(args: argparse.Namespace, prog: str) -> AccessLog | str | None:
    """The started access log asked for (None: off), or the error line to print."""
    if args.access_log == "off":
        return None
    log = AccessLog(args.access_log, json_format=args.access_log_format == "json")
    try:
        log.start()
    except OSError as exc:
        return f"{prog}: cannot open --access-log {args.access_log}: {exc}"
    return log


def supervise(
    admin: tuple[str, int] | None,
    prog: str,
    run: Callable[[Sequence[Task], Callable[[int], None]], int],
) -> int:
    """``run(tasks, on_exit)`` (a supervisor) with multi-process metrics and, when
    ``admin`` is given, the supervisor's admin listener; exit status."""
    from mux.admin.supervisor import supervised_admin

    supervised = supervised_admin(admin, prog.split()[0])
    try:
        tasks, on_exit = supervised.__enter__()
    except OSError as exc:  # the admin address is busy: before any worker starts
        assert admin is not None
        print(
            f"{prog}: cannot listen: admin {admin[0]}:{admin[1]}: {exc.strerror}", file=sys.stderr
        )
        return 1
    try:
        return run(tasks, on_exit)
    finally:
        supervised.__exit__(None, None, None)


__all__ = ["add_access_log_arguments", "add_admin_argument", "open_access_log", "supervise"]
