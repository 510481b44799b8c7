"""Nothing under mux.core imports trio, socket or ssl."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import pkgutil, importlib, sys
import mux.core
names = [m.name for m in pkgutil.walk_packages(mux.core.__path__, "mux.core.")]
for name in names:
    importlib.import_module(name)
assert "mux.core.connection" in names, names
bad = sorted({"trio", "socket", "ssl"} & set(sys.modules))
print(len(names), bad)
"""


def test_core_imports_no_io_modules() -> None:
    """Importing every mux.core module pulls in neither trio, socket nor ssl."""
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT)},
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    count, bad = result.stdout.split(" ", 1)
    assert int(count) >= 8
    assert bad.strip() == "[]", f"mux.core imports {bad.strip()}"
