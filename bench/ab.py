"""Interleaved A/B runs of one benchmark against two source trees, on a loaded machine.

Runs ``bench/SCRIPT ARGS`` (this tree's script) alternately with ``PYTHONPATH`` set to
each tree (``TREE`` and ``TREE/clients/python``: the server process and the SDK come from
it), ``--rounds`` times, and prints, per output line that reports figures, the median and
the range of every number on it for each tree. A baseline tree can be made with
``git archive COMMIT | tar -x -C /tmp/base``.

Usage: ``python bench/ab.py --a /tmp/base --b . [--rounds 3] -- unary.py --only sdk``
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
NUMBER = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)(?![\w.])")


def run(tree: Path, script: list[str], tries: int = 3) -> dict[str, list[float]]:
    """One run's figures; a failed run is repeated (up to ``tries``), saying so."""
    for attempt in range(tries):
        try:
            return run_once(tree, script)
        except RuntimeError as exc:
            if attempt == tries - 1:
                raise SystemExit(str(exc)) from None
            print(f"run failed, repeated: {str(exc)[-400:]}", file=sys.stderr, flush=True)
    raise AssertionError


def run_once(tree: Path, script: list[str]) -> dict[str, list[float]]:
    env = dict(os.environ, PYTHONPATH=f"{tree}:{tree / 'clients' / 'python'}")
    proc = subprocess.run(
        [sys.executable, str(HERE / script[0]), *script[1:]],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=1200,
    )
    if proc.returncode:
        raise RuntimeError(f"{script} failed with {tree}:\n{proc.stdout}\n{proc.stderr[-3000:]}")
    out = proc.stdout
    figures: dict[str, list[float]] = {}
    for line in out.splitlines():
        if line.startswith("#") or not NUMBER.search(line):
            continue
        label = NUMBER.sub("#", line).split("  ")[0].strip()
        figures[label] = [float(x) for x in NUMBER.findall(line)]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--a", type=Path, required=True, help="baseline tree")
    parser.add_argument("--b", type=Path, required=True, help="candidate tree")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("script", nargs="+")
    args = parser.parse_args()
    results: dict[str, list[dict[str, list[float]]]] = {"a": [], "b": []}
    for index in range(args.rounds):
        order = ("a", "b") if index % 2 == 0 else ("b", "a")
        for side in order:
            results[side].append(run(getattr(args, side).resolve(), args.script))
            print(f"round {index + 1} {side} done", file=sys.stderr, flush=True)
    for side in ("a", "b"):
        print(f"## {side}: {getattr(args, side)} ({args.rounds} rounds, median [min-max])")
        for label in results[side][0]:
            columns = list(zip(*(r[label] for r in results[side] if label in r), strict=False))
            cells = [f"{statistics.median(c):.2f} [{min(c):.2f}-{max(c):.2f}]" for c in columns]
            print(f"  {label}: " + "  ".join(cells))


if __name__ == "__main__":
    main()
