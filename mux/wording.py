"""Plain wording for error messages that reach peers and logs.

Theory of operation
-------------------
A protocol error's message travels far: into a GOAWAY's debug data, an
HTTP/1.1 400 body, the server's log. Messages built by libraries (h11, h2,
hpack) or with ``{value!r}`` carry Python reprs (``b'...'``,
``bytearray(b'...')``) and internal state names (h2's ``Invalid input
StreamInputs.RECV_CONTINUATION in state 4``), which mean nothing to a peer or
an operator. :func:`plain_text` rewrites such a message into plain words:

* a bytes repr becomes the text in double quotes, non-printable bytes as
  ``\\xNN``, cut to :data:`MAX_QUOTED` characters;
* h2's state-machine complaint ``Invalid input <Machine>Inputs.RECV_X in state
  S`` becomes ``unexpected X frame at this point`` (``SEND_X``: ``X frame
  cannot be sent now``);
* any other ``StreamState.X`` / ``ConnectionState.X`` / ``...Inputs.X`` name
  becomes the lower-case words of ``X``; a trailing ``in state ...`` is dropped.

It is pure string work (no imports from mux), applied where messages are
made: :class:`mux.errors.ProtocolError` passes its message through it, and the
HTTP/1.1 engine words h11's errors with it. An ``HTTPError``'s message (the
body of a 4xx/5xx the server answers) only gets its bytes reprs quoted
(:func:`quote_reprs`): the rest of its words are the application's.
"""

from __future__ import annotations

import ast
import re
from typing import Final

#: Longest quoted value kept from a bytes repr (the rest becomes "...").
MAX_QUOTED: Final = 40

_BYTES_REPR: Final = re.compile(
    r"""bytearray\((b(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"))\)"""
    r"""|(?<![A-Za-z0-9_])(b(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"))"""
)
_STATE_MACHINE: Final = re.compile(
    r"Invalid input \w*Inputs\.(RECV|SEND)_(\w+) in state [\w.<>: ]+?(?=$|[,;)])"
)
_INTERNAL_NAME: Final = re.compile(r"\b\w*(?:State|Inputs)\.(\w+)")
_IN_STATE: Final = re.compile(r",? in state [\w.<>:]+")


def plain_text(message: str) -> str:
    """``message`` without Python reprs or library state names (see module doc)."""
    if "'" not in message and '"' not in message and "." not in message:
        return message
    text = quote_reprs(message)
    text = _STATE_MACHINE.sub(_state_machine, text)
    text = _INTERNAL_NAME.sub(lambda m: m.group(1).lower().replace("_", " "), text)
    return _IN_STATE.sub("", text)


def quote_reprs(message: str) -> str:
    """``message`` with every bytes repr turned into quoted text (nothing else changed:
    for messages whose other words are not ours, such as an application's)."""
    if "b'" not in message and 'b"' not in message:
        return message
    return _BYTES_REPR.sub(_quote, message)


def quote_bytes(data: bytes | bytearray | memoryview) -> str:
    """``data`` as text in double quotes: printable ASCII kept, the rest ``\\xNN``."""
    raw = bytes(data)
    cut = raw[:MAX_QUOTED]
    shown = "".join(
        chr(b) if 0x20 <= b < 0x7F and b not in (0x22, 0x5C) else f"\\x{b:02x}" for b in cut
    )
    return f'"{shown}{"..." if len(raw) > MAX_QUOTED else ""}"'


def _quote(match: re.Match[str]) -> str:
    literal = match.group(1) or match.group(2)
    try:
        value = ast.literal_eval(literal)
    except (ValueError, SyntaxError):
        return '"..."'
    return quote_bytes(value) if isinstance(value, bytes) else '"..."'


_FRAMES: Final = frozenset(
    {
        "DATA",
        "HEADERS",
        "PRIORITY",
        "RST_STREAM",
        "SETTINGS",
        "PUSH_PROMISE",
        "PING",
        "GOAWAY",
        "WINDOW_UPDATE",
        "CONTINUATION",
    }
)


def _state_machine(match: re.Match[str]) -> str:
    received, name = match.group(1) == "RECV", match.group(2)
    if name in _FRAMES:
        what = f"{name} frame"
    elif name == "END_STREAM":
        what = "END_STREAM flag"
    elif name == "INFORMATIONAL_HEADERS":
        what = "informational HEADERS frame"
    else:
        what = name.lower().replace("_", " ")
    return f"unexpected {what} at this point" if received else f"{what} cannot be sent now"
