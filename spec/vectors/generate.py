"""Generate the mux/msgpack v1 test vectors (spec/vectors/{frames,sessions}/*.json).

Theory of operation
-------------------
The vectors are an *independent* statement of the wire format: the builders in
``spec/vectors/gen/`` make every byte with :mod:`struct` and :mod:`msgpack` only and
never import mux, so a bug in mux's own codec cannot leak into the vectors. This
script runs them and writes the files. Output is deterministic (sorted keys, fixed
indentation), so ``python spec/vectors/generate.py`` followed by ``git diff`` shows
nothing unless a vector changed.

Two kinds of vector (format: spec/README.md, schema: spec/vectors/schema.json):

* frame vectors: one valid frame (or the preface), its hex and its decoded meaning;
* session vectors: a scripted exchange against an implementation in a role, and
  the frames (or the error) it must produce.

Run: ``python spec/vectors/generate.py`` (from anywhere).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent
if str(OUT) not in sys.path:  # run as a script, sys.path[0] is OUT already
    sys.path.insert(0, str(OUT))

from gen import BUILDERS, FRAME_FILES, SESSION_FILES  # noqa: E402


def write(kind: str, files: dict[str, list[dict[str, Any]]]) -> int:
    """Replace ``OUT/kind/*.json`` with one file per entry of ``files``; return the count."""
    directory = OUT / kind
    directory.mkdir(exist_ok=True)
    for old in directory.glob("*.json"):
        old.unlink()
    total = 0
    for name, vectors in sorted(files.items()):
        doc = {"kind": kind[:-1], "protocol": "mux/msgpack", "version": 1, "vectors": vectors}
        text = json.dumps(doc, indent=1, sort_keys=True) + "\n"
        (directory / f"{name}.json").write_text(text, encoding="utf-8")
        total += len(vectors)
    return total


def main() -> None:
    for build in BUILDERS:
        build()
    ids = [v["id"] for vs in (*FRAME_FILES.values(), *SESSION_FILES.values()) for v in vs]
    dupes = {i for i in ids if ids.count(i) > 1}
    assert not dupes, dupes
    n_frames = write("frames", FRAME_FILES)
    n_sessions = write("sessions", SESSION_FILES)
    print(f"wrote {n_frames} frame vectors and {n_sessions} session vectors")


if __name__ == "__main__":
    main()
