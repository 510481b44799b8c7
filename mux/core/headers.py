"""Semantic rules of request, response and trailer header lists.

Theory of operation
-------------------
:func:`mux.core.frames.decode_headers` checks the *shape* of a HEADERS payload
(a connection error when broken). This module checks its *meaning*
(spec/mux-protocol.md "Headers payload"), where a violation is only a stream
error PROTOCOL_ERROR on receipt, or a :class:`~mux.errors.LocalProtocolError`
when our caller tries to send it. Each checker returns None when the list is
valid, else a message naming the problem.

Rules: names are non-empty and lowercase; pseudo-headers (``:``-prefixed) come
before regular ones and appear at most once. Requests carry ``:method`` and
``:path`` (``:scheme``, ``:authority`` optional, no other pseudo-header);
responses carry exactly ``:status`` as 3 ASCII digits in 200..599; trailers
carry no pseudo-header.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

Headers = Sequence[tuple[bytes, bytes]]

#: Pseudo-headers allowed in a request.
REQUEST_PSEUDO: Final = frozenset({b":method", b":path", b":scheme", b":authority"})
#: Pseudo-headers a request must carry.
REQUEST_REQUIRED: Final = frozenset({b":method", b":path"})
#: Pseudo-headers allowed (and required) in a response.
RESPONSE_PSEUDO: Final = frozenset({b":status"})
_NO_PSEUDO: Final[frozenset[bytes]] = frozenset()


def _scan(headers: Headers, allowed: frozenset[bytes]) -> tuple[dict[bytes, bytes], str | None]:
    """Check names and pseudo-header placement; return the pseudo-headers seen."""
    pseudo: dict[bytes, bytes] = {}
    regular_seen = False
    for name, value in headers:
        if not name:
            return pseudo, "empty header name"
        if name.lower() != name:
            return pseudo, f"header name {name!r} is not lowercase"
        if name[0] == 0x3A:  # ":"
            if regular_seen:
                return pseudo, f"pseudo-header {name!r} after a regular header"
            if name not in allowed:
                return pseudo, f"pseudo-header {name!r} not allowed here"
            if name in pseudo:
                return pseudo, f"duplicate pseudo-header {name!r}"
            pseudo[name] = value
        else:
            regular_seen = True
    return pseudo, None


def check_request(headers: Headers) -> str | None:
    """Validate a request header list; None when valid, else the problem."""
    pseudo, problem = _scan(headers, REQUEST_PSEUDO)
    if problem is None:
        missing = REQUEST_REQUIRED.difference(pseudo)
        if missing:
            problem = "request lacks " + ", ".join(sorted(m.decode() for m in missing))
    return problem


def check_response(headers: Headers) -> str | None:
    """Validate a response header list; None when valid, else the problem."""
    pseudo, problem = _scan(headers, RESPONSE_PSEUDO)
    if problem is not None:
        return problem
    status = pseudo.get(b":status")
    if status is None:
        return "response lacks :status"
    if len(status) != 3 or not status.isdigit() or not 200 <= int(status) <= 599:
        return f":status {status!r} is not 3 digits in 200..599"
    return None


def check_trailers(headers: Headers) -> str | None:
    """Validate a trailer header list; None when valid, else the problem."""
    return _scan(headers, _NO_PSEUDO)[1]
