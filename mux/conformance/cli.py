"""``mux conformance``: check any server against the mux spec or HTTP/2.

Usage::

    mux conformance --target HOST:PORT --protocol mux|h2 [--tls] [--insecure]
                    [--ca FILE] [--server-name NAME] [--mux-only]
                    [--strict] [--section ID ...] [--junit FILE] [--json]
                    [--timeout S] [--path PATH] [--jobs N] [--list]

    mux conformance serve --listen HOST:PORT --protocol mux [--scenario NAME ...]
                    [--json] [--junit FILE] [--timeout S]   (client mode)

Exit status is 0 only if every selected case passed (skips do not fail the
run), 1 if any failed, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import trio

from mux.conformance import report
from mux.conformance.case import CaseResult
from mux.conformance.groups import all_cases
from mux.conformance.runner import run_cases, select_cases
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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used for ``--help``)."""
    parser = argparse.ArgumentParser(
        prog="mux conformance",
        description="Check a server against spec/mux-protocol.md or RFC 9113/7541.",
    )
    parser.add_argument("--target", type=_target, help="HOST:PORT of the server under test")
    parser.add_argument("--protocol", choices=("mux", "h2"), default="mux")
    parser.add_argument("--tls", action="store_true", help="connect with TLS (ALPN h2 / mux/1)")
    parser.add_argument("--insecure", action="store_true", help="do not verify the certificate")
    parser.add_argument(
        "--ca", metavar="FILE", help="PEM CA file to verify the server certificate with"
    )
    parser.add_argument(
        "--server-name", metavar="NAME", help="TLS server name (SNI and check; default: host)"
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
        help="run only this section, its subsections, or this case id "
        "(repeatable): 6.5, 6.5.2, h2/6.7/2",
    )
    parser.add_argument("--junit", metavar="FILE", help="also write JUnit XML to FILE")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument(
        "--timeout",
        type=float,
        default=2.0,
        metavar="S",
        help="seconds to wait for each expected answer (default 2)",
    )
    parser.add_argument(
        "--path",
        default="/bytes/4096",
        help="path whose response has a body, for cases that need one "
        "(default /bytes/4096, a mux demo service)",
    )
    parser.add_argument(
        "--hold-path",
        default="/delay/3000",
        help="path that keeps a request open for seconds without reading its body "
        "(default /delay/3000, a mux demo service)",
    )
    parser.add_argument(
        "--jobs",
        type=_jobs,
        default=1,
        metavar="N",
        help="run up to N cases at once, each on its own connections (default 1)",
    )
    parser.add_argument("--list", action="store_true", help="list the selected cases and exit")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the conformance suite; return the process exit status."""
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
    if args.json:
        sys.stdout.write(report.to_json(results, target=f"{host}:{port}", protocol=args.protocol))
    else:
        sys.stdout.write(report.render_text(results, colour=colour))
    if args.junit:
        with open(args.junit, "w", encoding="utf-8") as out:
            out.write(report.to_junit(results, name=name))
    return 1 if any(r.is_failure for r in results) else 0
