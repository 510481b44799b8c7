"""``mux serve`` for the benchmarks, without the per-connection stream cap.

``ProtocolLimits.max_streams_per_connection`` (default 10,000) ends the single benchmark
connection with GOAWAY after 10,000 requests, as hypercorn's ``keep_alive_max_requests``
would (lifted in ``hypercorn.toml``); lifted here alike, so that one connection carries the
whole run. (At 100 requests in flight the SDK's move to a new connection can fail with a
broken pipe: the server closes while the SDK still writes refused streams; see the report
of issue 15.)

Usage: ``python bench/peers/mux_nocap.py serve ...`` (the arguments of ``mux``).
"""

from __future__ import annotations

import functools
import sys

import mux.core.limits
from mux import cli

mux.core.limits.endpoint_limits = functools.partial(  # type: ignore[assignment]
    mux.core.limits.endpoint_limits, max_streams_per_connection=2**31 - 1
)

if __name__ == "__main__":
    sys.exit(cli.main(sys.argv[1:]))
