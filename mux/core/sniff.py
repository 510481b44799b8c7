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
* anything else → ``"http/1.1"``: h11 parses it and answers 400 to garbage.
  Before deciding we wait until the bytes could no longer be an HTTP/2 preface
  prefix (at most 4 bytes: ``P``, ``PR``, ``PRI`` are still ambiguous).

The detector never consumes bytes: the listener hands *all* bytes read so far
to the chosen engine's ``receive_data``.
"""

from __future__ import annotations

from typing import Final, Literal

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

_ALPN_TO_PROTOCOL: Final[dict[str, Protocol]] = {
    ALPN_MUX: "mux",
    ALPN_H2: "h2",
    ALPN_HTTP11: "http/1.1",
}


def detect(first_bytes: bytes) -> Protocol | None:
    """Choose the protocol from the first bytes of a cleartext connection.

    Args:
        first_bytes: every byte received so far (may be empty).

    Returns:
        ``"mux"``, ``"h2"`` or ``"http/1.1"``; ``None`` if more bytes are needed
        (only while the bytes are a strict prefix of ``"PRI "`` or empty).
    """
    if not first_bytes:
        return None
    if first_bytes[0] == MUX_FIRST_BYTE:
        return "mux"
    head = first_bytes[: len(_H2_COMMIT)]
    if _H2_COMMIT.startswith(head):
        return "h2" if len(head) == len(_H2_COMMIT) else None
    return "http/1.1"


def protocol_for_alpn(selected: str | None) -> Protocol | None:
    """Map the ALPN protocol negotiated by TLS to an engine.

    Returns:
        The protocol, or ``None`` when no ALPN was negotiated (the listener
        then falls back to :func:`detect` on the decrypted bytes).
    """
    if selected is None:
        return None
    return _ALPN_TO_PROTOCOL.get(selected)
