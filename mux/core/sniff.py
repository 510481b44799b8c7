"""Protocol detection for a shared listener: mux/msgpack, HTTP/2 or HTTP/1.1.

Theory of operation
-------------------
One port, three protocols. Over TLS, ALPN decides (:data:`ALPN_PROTOCOLS`,
:func:`protocol_for_alpn`). In cleartext the listener reads the first bytes
and calls :func:`detect` until it returns a protocol (``None`` = need more):

* ``0x89`` first: the mux preface (``\\x89MUX\\r\\n\\x1a`` + version). 0x89 is not
  an HTTP token character, so no HTTP request starts with it. Everything after
  the first byte is the mux engine's to judge (a wrong magic gets the mux
  engine's own GOAWAY PROTOCOL_ERROR).
* a prefix of, or bytes diverging from, the HTTP/2 client preface
  ``PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n`` once they start with ``PRI `` → ``"h2"``:
  a near-miss preface is an HTTP/2 connection error (GOAWAY PROTOCOL_ERROR from
  the h2 engine), not an HTTP/1.1 400 (RFC 9113 §3.4). ``PRI`` is not a method
  any HTTP/1.1 server supports, so nothing is lost.
* an HTTP/1.x request line → ``"http/1.1"``: the bytes start with a method
  (a token of at most :data:`MAX_METHOD` characters) and ``HTTP/1.`` appears
  before the first line ends. h11 then parses the request and answers 400 to
  a malformed one (it does carry ``HTTP/1.x``, so the peer speaks HTTP/1 and
  can read the answer). A line longer than :data:`MAX_REQUEST_LINE` bytes also
  goes to h11, which answers 431 (nothing else starts with a method and runs
  that long).
* anything else is **not a protocol** this port speaks
  (:class:`NotAProtocol`): the listener closes the connection without a
  word, because nothing it could send would be understood (an HTTP/1.1 400
  to a TLS ClientHello or to random bytes helps nobody). Decided as soon as
  the bytes rule out every protocol: at the first byte that cannot start a
  method, at a method that runs too long, or at the end of a first line
  without ``HTTP/1.``.
  While the bytes are still a prefix of ``PRI `` nothing is decided (``P``,
  ``PR``, ``PRI`` are ambiguous), nor while a plausible request line is
  still arriving.

The detector never consumes bytes: the listener hands *all* bytes read so far
to the chosen engine's ``receive_data``.
"""

from __future__ import annotations

from typing import Final, Literal

import attrs

from mux.core.h2guard import PREFACE as H2_PREFACE

Protocol = Literal["mux", "h2", "http/1.1"]

#: First byte of the mux/msgpack preface (not an HTTP token character).
MUX_FIRST_BYTE: Final = 0x89
#: ALPN protocol ids, in server preference order.
ALPN_H2: Final = "h2"
ALPN_HTTP11: Final = "http/1.1"
ALPN_MUX: Final = "mux/1"
ALPN_PROTOCOLS: Final = (ALPN_MUX, ALPN_H2, ALPN_HTTP11)

#: Bytes that commit a connection to HTTP/2 ("PRI " + the rest of the preface).
_H2_COMMIT: Final = H2_PREFACE[:4]

#: Longest method accepted while sniffing (the longest registered one is 17).
MAX_METHOD: Final = 32
#: A first line still without its end after this many bytes goes to h11 (431).
MAX_REQUEST_LINE: Final = 16 * 1024
_HTTP1_VERSION: Final = b"HTTP/1."
#: RFC 9110 token characters (what an HTTP method is made of).
_TCHAR: Final = frozenset(
    b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)


@attrs.frozen
class NotAProtocol:
    """The first bytes are none of mux, HTTP/2 or HTTP/1.x: close the connection.

    Attributes:
        reason: what ruled the bytes out, in words (no bytes quoted).
    """

    reason: str


_ALPN_TO_PROTOCOL: Final[dict[str, Protocol]] = {
    ALPN_MUX: "mux",
    ALPN_H2: "h2",
    ALPN_HTTP11: "http/1.1",
}


def detect(first_bytes: bytes) -> Protocol | NotAProtocol | None:
    """Choose the protocol from the first bytes of a cleartext connection.

    Args:
        first_bytes: every byte received so far (may be empty).

    Returns:
        ``"mux"``, ``"h2"`` or ``"http/1.1"``; a :class:`NotAProtocol` when the
        bytes can be none of them; ``None`` if more bytes are needed (empty, a
        strict prefix of ``"PRI "``, or a request line still arriving).
    """
    if not first_bytes:
        return None
    if first_bytes[0] == MUX_FIRST_BYTE:
        return "mux"
    head = first_bytes[: len(_H2_COMMIT)]
    if _H2_COMMIT.startswith(head):
        return "h2" if len(head) == len(_H2_COMMIT) else None
    return _detect_http1(first_bytes)


def _detect_http1(data: bytes) -> Literal["http/1.1"] | NotAProtocol | None:
    """An HTTP/1.x request line, or why the bytes cannot start one."""
    method_end = data.find(b" ", 0, MAX_METHOD + 1)
    method = data[: method_end if method_end >= 0 else MAX_METHOD + 1]
    if not method or any(byte not in _TCHAR for byte in method):
        return NotAProtocol("the first bytes are not an HTTP method, HTTP/2 or mux preface")
    if method_end < 0:
        if len(method) > MAX_METHOD:
            return NotAProtocol(f"no HTTP method within the first {MAX_METHOD} bytes")
        return None
    line_end = data.find(b"\n", 0, MAX_REQUEST_LINE)
    line = data[: line_end if line_end >= 0 else MAX_REQUEST_LINE]
    if _HTTP1_VERSION in line:
        return "http/1.1"
    if line_end >= 0:
        return NotAProtocol("the first line is not an HTTP/1.x request line")
    return "http/1.1" if len(data) >= MAX_REQUEST_LINE else None


def protocol_for_alpn(selected: str | None) -> Protocol | None:
    """Map the ALPN protocol negotiated by TLS to an engine.

    Returns:
        The protocol, or ``None`` when no ALPN was negotiated (the listener
        then falls back to :func:`detect` on the decrypted bytes).
    """
    if selected is None:
        return None
    return _ALPN_TO_PROTOCOL.get(selected)
