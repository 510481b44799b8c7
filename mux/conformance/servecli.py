"""``mux conformance serve``: client mode, a misbehaving server that judges a client.

How to drive it: every scenario is served on the same port and selected by the
first segment of the request path. Start the tester, then run the printed
workload of each scenario with the client under test, one client (connection)
per scenario, in any order or all at once. For example, for ``goaway``, make 3
concurrent ``POST /goaway/1``, ``/goaway/2``, ``/goaway/3`` with a small body.
The run ends when every selected scenario has a verdict; a scenario no client
reached within ``--timeout`` seconds is an error. Exit status 0 only if every
scenario passed.

With ``--protocol mux`` the client speaks mux/msgpack (spec/mux-protocol.md);
with ``--protocol h2`` it speaks HTTP/2 with prior knowledge (h2c: the client
preface straight away, no Upgrade, no TLS), judged against RFC 9113, e.g.
``curl --http2-prior-knowledge -d x http://HOST:PORT/settings-ack/1`` or
``httpx.AsyncClient(http1=False, http2=True)``. The path-prefix convention is
the same. ``--strict`` adds the SHOULD/MAY scenarios (for h2: retrying the
streams above GOAWAY's last_stream_id, and after REFUSED_STREAM).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import trio

from mux.conformance import report
from mux.conformance.case import CaseResult
from mux.conformance.clientmode import Scenario, serve
from mux.conformance.helpformat import HelpFormatter


def _listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def scenarios_for(protocol: str, *, strict: bool = True) -> list[Scenario]:
    """The client-mode scenarios of ``protocol`` (SHOULD-level ones only with ``strict``)."""
    if protocol == "mux":
        from mux.conformance.scenarios_mux import SCENARIOS
    elif protocol == "h2":
        from mux.conformance.scenarios_h2 import SCENARIOS
    else:
        return []
    return [s for s in SCENARIOS if strict or not s.strict]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``mux conformance serve``."""
    parser = argparse.ArgumentParser(
        prog="mux conformance serve",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--listen", type=_listen, default=("127.0.0.1", 0), metavar="HOST:PORT",
        help="address to listen on (default: 127.0.0.1:0, a free port, printed at start)",
    )  # fmt: skip
    parser.add_argument(
        "--protocol", choices=("mux", "h2"), default="mux",
        help="what the client under test speaks: mux/msgpack, or HTTP/2 (h2c, prior knowledge)",
    )  # fmt: skip
    parser.add_argument("--strict", action="store_true", help="also run SHOULD/MAY-level scenarios")
    parser.add_argument(
        "--scenario", action="append", default=[], metavar="NAME",
        help="run only this scenario (its path prefix or id; repeatable)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("--junit", metavar="FILE", help="also write JUnit XML to FILE")
    parser.add_argument(
        "--timeout", type=float, default=60.0, metavar="S",
        help="seconds each scenario waits for its first client connection (default 60)",
    )  # fmt: skip
    parser.add_argument(
        "--reply-timeout", type=float, default=2.0, metavar="S",
        help="seconds to wait for each expected client action (default 2)",
    )  # fmt: skip
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    return parser


def _instructions(scenarios: Sequence[Scenario], host: str, port: int) -> str:
    lines = [f"mux conformance serve: listening on {host}:{port}; send, one client each:"]
    for s in scenarios:
        lines.append(f"  {s.id:<20} /{s.name}/  {s.workload}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Run client mode; return the process exit status."""
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    scenarios = scenarios_for(args.protocol, strict=args.strict or bool(args.scenario))
    if args.scenario:
        wanted = set(args.scenario)
        scenarios = [s for s in scenarios if s.name in wanted or s.id in wanted]
    if not scenarios:
        parser.error(f"no {args.protocol} client scenario matches {' '.join(args.scenario)}")
    host, port = args.listen
    if args.list:
        sys.stdout.write(_instructions(scenarios, host, port))
        return 0
    out = sys.stderr if args.json else sys.stdout

    async def run() -> list[CaseResult]:
        async with trio.open_nursery() as nursery:
            results: list[CaseResult] = []

            async def tester(task_status: trio.TaskStatus[int]) -> None:
                results.extend(
                    await serve(
                        scenarios, host=host, port=port, reply_timeout=args.reply_timeout,
                        wait_timeout=args.timeout, task_status=task_status,
                    )
                )  # fmt: skip

            bound = await nursery.start(tester)
            out.write(_instructions(scenarios, host, bound))
            out.flush()
        return results

    results = trio.run(run)
    if args.json:
        sys.stdout.write(report.to_json(results, target=f"{host}:{port}", protocol=args.protocol))
    else:
        sys.stdout.write(report.render_text(results, colour=sys.stdout.isatty()))
    if args.junit:
        with open(args.junit, "w", encoding="utf-8") as junit:
            junit.write(report.to_junit(results, name=f"mux conformance serve {args.protocol}"))
    return 1 if any(r.is_failure for r in results) else 0
