"""``python -m mux``: the ``mux`` command line."""

from __future__ import annotations

import sys

from mux.cli import main

sys.exit(main())
