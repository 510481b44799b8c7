"""Run every benchmark in one go and print the figures side by side with their peers.

Usage: ``python bench/run.py [--quick]`` (``make bench`` runs it). ``--quick`` uses smaller
counts so the whole run takes about a minute; the figures in bench/RESULTS.md come from the
full run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    quick = args.quick
    runs = [
        ["unary.py", "--seconds", "2" if quick else "5"],
        ["idle.py", "--count", "2000" if quick else "10000"],
        ["bulk.py", "--mib", "64" if quick else "256"],
        ["h2load_bench.py", "-n", "40000" if quick else "200000"],
    ]
    failed = 0
    for script, *rest in runs:
        result = subprocess.run([sys.executable, str(HERE / script), *rest], check=False)
        failed += result.returncode != 0
        print(flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
