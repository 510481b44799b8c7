"""RFC 9113 §10.5: denial-of-service considerations (strict: the RFC leaves budgets to us)."""

from __future__ import annotations

from mux.conformance.case import Group
from mux.conformance.groups._common import raw_case
from mux.conformance.groups._h2 import RFC9113, expect_connection_error, h2_connect, h2_open_post
from mux.conformance.h2wire import DATA, PING, frame_bytes

dos = Group("h2", "10.5", "Denial-of-Service Considerations", RFC9113)

ENHANCE_YOUR_CALM = 0xB
#: Frames a flood case sends (CVE-2019-9518 class; servers allow far fewer).
_FLOOD = 2000


raw_case(
    dos,
    f"Sends {_FLOOD} empty DATA frames without END_STREAM on an open stream",
    "An endpoint that tracks cheap frames (empty DATA, CVE-2019-9518) SHOULD treat a flood "
    "as a connection error of type ENHANCE_YOUR_CALM.",
    connect=h2_connect,
    prepare=h2_open_post,
    data=frame_bytes(DATA, 0, 1) * _FLOOD,
    verdict=expect_connection_error(ENHANCE_YOUR_CALM),
    strict=True,
)
raw_case(
    dos,
    f"Sends {_FLOOD * 10} PING frames back to back",
    "An endpoint SHOULD bound the work and the acknowledgements a PING flood makes it queue "
    "and end such a flood with a connection error of type ENHANCE_YOUR_CALM.",
    connect=h2_connect,
    data=frame_bytes(PING, 0, 0, b"floodpng") * (_FLOOD * 10),
    verdict=expect_connection_error(ENHANCE_YOUR_CALM),
    strict=True,
    read_while_sending=True,
)


GROUPS = [dos]
