"""Semantic rules of request, response and trailer header lists.

Theory of operation
-------------------
:func:`mux.core.frames.decode_headers` checks the *shape* of a HEADERS payload
(a connection error when broken). This module checks its *meaning*
(spec/mux-protocol.md Sections 5.2-5.6), where a violation makes the message
malformed: a stream error PROTOCOL_ERROR on receipt, or a
:class:`~mux.errors.LocalProtocolError` when our caller tries to send it. Each
checker returns None when the list is valid, else a message naming the problem.

Rules (Section 5.2), for every list:

* names are non-empty lowercase RFC 9110 token characters (``tchar``), except
  that pseudo-header names start with ``:``; pseudo-headers come before
  regular fields, appear at most once, and are never empty (Section 5.6);
* values contain no NUL, CR or LF (request smuggling, Section 12);
* connection-specific fields (``connection``, ``keep-alive``,
  ``proxy-connection``, ``transfer-encoding``, ``upgrade``) MUST NOT be sent
  and ``te`` may only carry ``trailers``; the spec lets a receiver treat them
  as malformed, and we do (a gateway must never forward them).

Per message: requests carry ``:method`` (a token) and ``:path`` (origin form:
starts with ``/``, or exactly ``*`` for OPTIONS; never SP or a control byte);
``:scheme`` (optional) is a URI scheme (RFC 3986: a letter, then letters,
digits, ``+``, ``-``, ``.``) and ``:authority`` is optional; no other
pseudo-header (Section 5.3); responses carry exactly
``:status`` as 3 ASCII digits in 200..599; trailers carry no pseudo-header.

The checks run twice per message (send and receive), so they keep the
per-field Python work small: a name is checked with one ``bytes.translate``
(deleting the valid characters; anything left over is invalid) and all values
with one regex scan over their concatenation; the precise message is only
worked out once something is wrong.
"""

from __future__ import annotations

import re
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

#: RFC 9110 Section 5.6.2 ``tchar`` without uppercase letters.
_TCHAR_LOWER: Final = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
#: Any-case ``tchar`` (for ``:method``).
_TCHAR: Final = _TCHAR_LOWER + b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#: Finds a byte no field value may hold (Section 5.2).
_BAD_VALUE: Final = re.compile(rb"[\x00\r\n]").search
#: Finds SP or a control byte (CTL) in ``:path`` (Section 5.3).
_BAD_PATH: Final = re.compile(rb"[\x00-\x20\x7f]").search
#: A whole URI scheme (RFC 3986 Section 3.1), for ``:scheme``.
_SCHEME: Final = re.compile(rb"[A-Za-z][A-Za-z0-9+.\-]*\Z").match
#: Fields that only make sense on one HTTP/1.1 hop (Section 5.2).
CONNECTION_SPECIFIC: Final = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"}
)
#: Names that need a closer look (fast-path filter of :func:`_regular_problem`).
_SPECIAL: Final = CONNECTION_SPECIFIC | {b"te"}


def _value_problem(headers: Headers) -> str | None:
    """The first field whose value holds NUL, CR or LF (one C-level scan when none does)."""
    if _BAD_VALUE(b"".join([value for _, value in headers])) is None:
        return None
    for name, value in headers:
        if _BAD_VALUE(value) is not None:
            return f"value of {name!r} contains CR, LF or NUL"
    return None  # pragma: no cover - the joined scan found one


def _regular_problem(name: bytes, value: bytes) -> str | None:
    """The problem with a regular (non-pseudo) field name, or None."""
    if name.translate(None, _TCHAR_LOWER):
        return f"header name {name!r} is not lowercase token characters"
    if name in CONNECTION_SPECIFIC:
        return f"connection-specific header {name!r}"
    if name == b"te" and value.lower() != b"trailers":
        return f"te: {value!r} (only 'trailers' is allowed)"
    return None


def _scan(headers: Headers, allowed: frozenset[bytes]) -> tuple[dict[bytes, bytes], str | None]:
    """Check every field and pseudo-header placement; return the pseudo-headers seen."""
    pseudo: dict[bytes, bytes] = {}
    regular_seen = False
    for name, value in headers:
        if not name:
            return pseudo, "empty header name"
        if name[0] == 0x3A:  # ":"
            if regular_seen:
                return pseudo, f"pseudo-header {name!r} after a regular header"
            if name not in allowed:
                return pseudo, f"pseudo-header {name!r} not allowed here"
            if name in pseudo:
                return pseudo, f"duplicate pseudo-header {name!r}"
            if not value:
                return pseudo, f"empty pseudo-header {name!r}"
            pseudo[name] = value
        else:
            regular_seen = True
            if name.translate(None, _TCHAR_LOWER) or name in _SPECIAL:
                problem = _regular_problem(name, value)
                if problem is not None:
                    return pseudo, problem
    return pseudo, _value_problem(headers)


def check_request(headers: Headers) -> str | None:
    """Validate a request header list; None when valid, else the problem."""
    pseudo, problem = _scan(headers, REQUEST_PSEUDO)
    if problem is not None:
        return problem
    missing = REQUEST_REQUIRED.difference(pseudo)
    if missing:
        return "request lacks " + ", ".join(sorted(m.decode() for m in missing))
    method = pseudo[b":method"]
    if method.translate(None, _TCHAR):
        return f":method {method!r} is not a token"
    return _target_problem(method, pseudo)


def _target_problem(method: bytes, pseudo: dict[bytes, bytes]) -> str | None:
    """The problem with ``:path`` or ``:scheme`` (both non-empty here), or None."""
    path = pseudo[b":path"]
    if path[0] != 0x2F and (path != b"*" or method != b"OPTIONS"):  # "/"
        return f":path {path!r} is neither origin form ('/...') nor '*' for OPTIONS"
    if _BAD_PATH(path) is not None:
        return f":path {path!r} contains SP or a control character"
    scheme = pseudo.get(b":scheme")
    if scheme is not None and _SCHEME(scheme) is None:
        return f":scheme {scheme!r} is not a URI scheme"
    return None


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
