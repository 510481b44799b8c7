"""``mux doctor``: the command line over :mod:`mux.scale.doctor`.

Theory of operation
-------------------
Parse ``--sessions N``, read the machine once (:func:`mux.scale.doctor.doctor`), print
one line per check (status, name, value, what N sessions need) and, under each one that
is not OK, the exact command that fixes it. ``--json`` prints the same as a JSON object.
Exit status: 0 when nothing FAILs (warnings included), 1 when a check FAILs, 2 on a
usage error. The machine is only read, never changed. ``mux bench`` lives in
:mod:`mux.scale.benchcli`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

import attrs

from mux.scale.doctor import doctor, worst


def _positive(value: str) -> int:
    try:
        number = int(value.replace("_", "").replace(",", ""))
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value!r}")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mux doctor",
        description="Check this machine for N concurrent sessions: file descriptors, accept "
        "queue, client ports, conntrack, TCP memory, RAM. Reads only; prints the command "
        "that fixes each problem (sysctl -w is not persistent: put the lines in "
        "/etc/sysctl.d/99-mux.conf to keep them).",
    )
    parser.add_argument(
        "--sessions", type=_positive, default=100_000, help="concurrent sessions to plan for"
    )
    parser.add_argument(
        "--protocol",
        choices=["mux", "h2"],
        default="mux",
        help="protocol of the sessions (memory per session differs)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--root", default="/", help="read /proc under this directory instead of / (testing)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``mux doctor``; returns the exit status."""
    args = build_parser().parse_args(argv)
    checks = doctor(args.sessions, args.root, args.protocol)
    overall = worst(checks)
    if args.json:
        body = {
            "sessions": args.sessions,
            "protocol": args.protocol,
            "status": overall,
            "checks": [attrs.asdict(item) for item in checks],
        }
        print(json.dumps(body, indent=2))
    else:
        print(f"mux doctor: {args.sessions:,} {args.protocol} sessions on this machine")
        width = max(len(item.name) for item in checks)
        for item in checks:
            print(f"{item.status:<4}  {item.name:<{width}}  {item.value}   (need {item.need})")
            if item.fix:
                print(f"      {'':<{width}}  fix: {item.fix}")
        print(f"overall: {overall}")
    sys.stdout.flush()
    return 1 if overall == "FAIL" else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
