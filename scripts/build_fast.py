"""Build the optional compiled (mypyc) copy of mux: the mux/msgpack protocol core as C extensions.

Theory of operation
-------------------
The package stays pure Python; this script makes a separate, compiled copy of it. It
copies ``mux/`` and ``clients/python/mux_client/`` (and ``pyproject.toml``, for mypy's
settings) into ``--dest`` and compiles :data:`MODULES` there with mypyc (shipped with mypy;
a C compiler and the Python headers are needed). Use the copy by putting it first on the
path: ``PYTHONPATH=build/fast python -m mux serve ...``. The source tree is never
touched, so ``make test`` keeps testing the pure-Python package.

Only the mux/msgpack protocol modules are compiled: they are plain typed Python. mypyc
stops on the HTTP/2 modules (an internal error on h2send's subclass of h2's
``H2Connection``; h2compact subclasses ``tuple``), and most of their time is h2's anyway;
``attrs`` classes with ``attrs.field`` defaults do not survive compilation (events, limits,
h2guard: ``TypeError`` at import); the Trio driver is built from mixins (mypyc native
classes have single inheritance). What it gains, measured: bench/RESULTS.md, "mypyc".
See :mod:`mux.core.compiled` for the two differences compiled code has and how the core
deals with them.

``--check`` then copies ``tests/`` into it and runs ``tests/core`` against the compiled
copy, except the tests that do what compiled classes forbid (:data:`NOT_COMPILABLE`:
monkeypatch a compiled method, or pass a ``bytearray`` where the signature says
``bytes``: compiled code checks argument types).

Usage: ``python scripts/build_fast.py [--dest build/fast] [--check]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The modules compiled, all under mux/core.
MODULES = [
    "codec",
    "connection",
    "connstate",
    "control",
    "flow",
    "frames",
    "headers",
    "receive",
    "settings",
    "sniff",
    "streams",
]
#: Tests of tests/core that rely on what compiled classes forbid.
NOT_COMPILABLE = [
    "tests/core/test_output_chunks.py::test_small_or_mutable_payloads_are_copied",
    "tests/core/test_tuner_backoff.py::test_without_backoff_every_round_trip_pings",
]
SETUP = """
import os
from setuptools import setup
from mypyc.build import mypycify
files = os.environ["MUX_MYPYC_FILES"].split()
setup(name="mux-fast", packages=[], ext_modules=mypycify(files, opt_level="3"))
"""


def build(dest: Path) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    ignore = shutil.ignore_patterns("__pycache__", "*.so", "*.c")
    shutil.copytree(ROOT / "mux", dest / "mux", ignore=ignore)
    shutil.copytree(ROOT / "clients" / "python" / "mux_client", dest / "mux_client", ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")
    (dest / "setup_mypyc.py").write_text(SETUP)
    files = [f"mux/core/{name}.py" for name in MODULES]
    cmd = [sys.executable, "setup_mypyc.py", "-q", "build_ext", "--inplace"]
    env = dict(os.environ, MUX_MYPYC_FILES=" ".join(files))
    subprocess.run(cmd, cwd=dest, env=env, check=True, stdout=subprocess.DEVNULL)
    built = sorted(p.name for p in (dest / "mux" / "core").glob("*.so"))
    print(f"build_fast: {len(built)} compiled modules in {dest / 'mux' / 'core'}")
    print(f"build_fast: use it with PYTHONPATH={dest}")


def check(dest: Path) -> int:
    """tests/core (copied next to the compiled package) against the compiled package."""
    tests = dest / "tests"
    if tests.exists():
        shutil.rmtree(tests)
    shutil.copytree(ROOT / "tests", tests, ignore=shutil.ignore_patterns("__pycache__"))
    env = dict(os.environ, PYTHONPATH=str(dest))
    probe = "import mux.core.codec as m; assert m.__file__.endswith('.so'), m.__file__"
    subprocess.run([sys.executable, "-c", probe], env=env, check=True, cwd=dest)
    deselect = [arg for test in NOT_COMPILABLE for arg in ("--deselect", test)]
    cmd = [sys.executable, "-m", "pytest", "tests/core", "-q", *deselect]
    return subprocess.run(cmd, env=env, cwd=dest, check=False).returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dest", type=Path, default=ROOT / "build" / "fast")
    parser.add_argument("--check", action="store_true", help="run tests/core against it")
    args = parser.parse_args()
    dest = args.dest.resolve()
    build(dest)
    if args.check:
        sys.exit(check(dest))


if __name__ == "__main__":
    main()
