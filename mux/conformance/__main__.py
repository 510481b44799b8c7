"""``python -m mux.conformance ...``: same as ``mux conformance ...``."""

from __future__ import annotations

import sys

from mux.conformance.cli import main

sys.exit(main(sys.argv[1:]))
