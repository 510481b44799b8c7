"""``mux conformance``: check any server against the mux spec or HTTP/2.

Usage::

    mux conformance --target HOST:PORT --protocol mux|h2 [--tls] [--insecure]
                    [--ca FILE] [--server-name NAME] [--mux-only]
                    [--strict] [--section ID ...] [--junit FILE] [--json]
                    [--timeout S] [--path PATH] [--hold-path PATH] [--jobs N] [--list]

    mux conformance serve --listen HOST:PORT --protocol mux|h2 [--scenario NAME ...]
                    [--json] [--junit FILE] [--timeout S]   (client mode)

The target is looked at once first (connect, handshake): when nothing listens
there or it speaks another protocol, one line on stderr says so. Exit status
is 0 only if every selected case passed (skips do not fail the run), 1 if any
failed or the target could not be used, 2 on a usage error. Output cut short
by its reader (``--list | head``) is not an error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import trio

from mux.conformance import report
from mux.conformance.case import CaseResult
from mux.conformance.groups import all_cases
from mux.conformance.helpformat import HelpFormatter
from mux.conformance.runner import TargetUnusable, check_target, run_cases, select_cases
from mux.conformance.wire import Target


def _target(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def _jobs(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


_DESCRIPTION = """\
Check a server against spec/mux-protocol.md (--protocol mux) or HTTP/2 (--protocol h2),
in the manner of h2spec: one fresh connection per case, ids per section, the
requirement, expected versus actual.

HTTP/2 case ids: h2spec 2.6's own, for every case it has (generic/..., http2/... by
RFC 7540 section, hpack/... by RFC 7541 section), then ours as h2/<RFC 9113 section>/<n>
(HEAD, early responses, frames after RST_STREAM, and rules h2spec does not test).
"""

_EPILOG = """\
subcommands:
  serve    client mode: a misbehaving mux or HTTP/2 server that judges the client
           which connects to it (see: mux conformance serve --help)

exit status: 0 every selected case passed (skips included), 1 a case failed or the
target could not be used (one line on stderr says why), 2 usage error.
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used for ``--help``)."""
    parser = argparse.ArgumentParser(
        prog="mux conformance",
        usage="%(prog)s --target HOST:PORT [--protocol {mux,h2}] [options]\n"
        "       %(prog)s serve --listen HOST:PORT [--protocol {mux,h2}] [options]",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--target", type=_target, metavar="HOST:PORT", help="the server under test (required)"
    )
    parser.add_argument(
        "--protocol", choices=("mux", "h2"), default="mux", help="what the server speaks"
    )
    parser.add_argument("--tls", action="store_true", help="connect with TLS (ALPN h2 / mux/1)")
    parser.add_argument("--insecure", action="store_true", help="do not verify the certificate")
    parser.add_argument(
        "--ca", metavar="FILE", help="PEM CA file to verify the server certificate with"
    )
    parser.add_argument(
        "--server-name",
        metavar="NAME",
        help="TLS server name for SNI and the check (default: host)",
    )
    parser.add_argument(
        "--mux-only",
        action="store_true",
        help="the port speaks only mux: also run cases whose input is another protocol's "
        "preface (implied over TLS when ALPN picks mux/1)",
    )
    parser.add_argument("--strict", action="store_true", help="also run SHOULD-level cases")
    parser.add_argument(
        "--section",
        action="append",
        default=[],
        metavar="ID",
        help="run only this case id, family or section (repeatable): http2/6.7/2, generic, "
        "hpack/4.2, 6.5 (a bare number names RFC sections: http2, h2 and mux ids)",
    )
    parser.add_argument("--junit", metavar="FILE", help="also write JUnit XML to FILE")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument(
        "--timeout",
        type=float,
        default=2.0,
        metavar="S",
        help="seconds to wait for each expected answer",
    )
    parser.add_argument(
        "--path",
        default="/bytes/4096",
        metavar="PATH",
        help="path whose GET response has a body; h2spec's cases send their requests here "
        "(h2spec uses /) (default: /bytes/4096, a mux demo service)",
    )
    parser.add_argument(
        "--hold-path",
        default="/delay/3000",
        metavar="PATH",
        help="path that keeps a request open for seconds without reading its body "
        "(default: /delay/3000, a mux demo service)",
    )
    parser.add_argument(
        "--jobs",
        type=_jobs,
        default=1,
        metavar="N",
        help="run up to N cases at once, each on its own connections",
    )
    parser.add_argument("--list", action="store_true", help="list the selected cases and exit")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the conformance suite; return the process exit status.

    A reader that goes away early (``mux conformance --list | head``) ends the
    output quietly: standard output is pointed at /dev/null so nothing more is
    written to the closed pipe, not even at interpreter exit.
    """
    try:
        return _main(argv)
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 0


def _main(argv: Sequence[str] | None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["serve"]:
        from mux.conformance.servecli import main as serve_main

        return serve_main(arguments[1:])
    parser = build_parser()
    args = parser.parse_args(arguments)
    cases = select_cases(
        all_cases(args.protocol), args.protocol, strict=args.strict, sections=args.section
    )
    if args.list:
        for case in cases:
            strict = " [strict]" if case.strict else ""
            print(f"{case.id:<16} {case.source} §{case.section}: {case.description}{strict}")
        sys.stdout.flush()
        return 0
    if args.target is None:
        parser.error("--target HOST:PORT is required")
    if not cases:
        parser.error(f"no case matches --section {' '.join(args.section)}")
    host, port = args.target
    target = Target(
        host,
        port,
        tls=args.tls,
        insecure=args.insecure,
        server_name=args.server_name,
        path=args.path,
        hold_path=args.hold_path,
        ca_file=args.ca,
        mux_only=args.mux_only,
    )
    try:
        trio.run(lambda: check_target(target, args.protocol, reply_timeout=args.timeout))
    except TargetUnusable as exc:
        print(f"mux conformance: {exc}", file=sys.stderr)
        return 1
    colour = sys.stdout.isatty() and not args.json

    def progress(result: CaseResult) -> None:
        if colour:
            print(f"\r\x1b[K{result.case.id} {result.status}", end="", flush=True)

    results = trio.run(
        lambda: run_cases(
            cases,
            target,
            reply_timeout=args.timeout,
            strict=args.strict,
            on_result=progress,
            concurrency=args.jobs,
        )
    )
    if colour:
        print("\r\x1b[K", end="")
    name = f"mux conformance {args.protocol} {host}:{port}"
    if args.junit:
        with open(args.junit, "w", encoding="utf-8") as out:
            out.write(report.to_junit(results, name=name))
    if args.json:
        sys.stdout.write(report.to_json(results, target=f"{host}:{port}", protocol=args.protocol))
    else:
        sys.stdout.write(report.render_text(results, colour=colour))
    sys.stdout.flush()
    return 1 if any(r.is_failure for r in results) else 0
