"""No Python repr and no library state name ever reaches a peer or a log.

Hypothesis feeds garbage to each engine (HTTP/1.1 request heads, HTTP/2 frame
soups, mux frame soups after a valid handshake); every error message, 400 body
and GOAWAY debug data must be plain words.
"""

from __future__ import annotations

import re

import h11
from hyperframe.frame import GoAwayFrame
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mux.core.connection import MuxConnection
from mux.core.frames import PREFACE as MUX_PREFACE
from mux.core.frames import FrameType, decode_goaway
from mux.core.h2engine import H2Engine
from mux.core.h2guard import PREFACE as H2_PREFACE
from mux.core.h11engine import H11Engine, describe_h11_error
from mux.errors import RemoteProtocolError
from mux.wording import plain_text
from tests.core.helpers import FrameFactory, parse_frames

FORBIDDEN = ("bytearray(", "StreamInputs", "ConnectionInputs", "ConnectionState")
FORBIDDEN += ("StreamState", "in state", "role=", "state=")
#: A bytes literal's opening (``b'`` or ``b"`` not inside a word or an escape).
BYTES_REPR = re.compile(r"""(?<![\\\w])b['"]""")


def assert_plain(text: str) -> None:
    """No repr, no library state name in ``text``."""
    for word in FORBIDDEN:
        assert word not in text, text
    assert not BYTES_REPR.search(text), text


def test_plain_text_rewrites_reprs_and_state_names() -> None:
    """The known offenders become plain words."""
    assert plain_text("Invalid input StreamInputs.RECV_CONTINUATION in state 4") == (
        "unexpected CONTINUATION frame at this point"
    )
    assert plain_text("illegal request line: bytearray(b'INVALID CONNECTION PREFACE')") == (
        'illegal request line: "INVALID CONNECTION PREFACE"'
    )
    assert plain_text("Received uppercase header name b'X-A'.") == (
        'Received uppercase header name "X-A".'
    )
    assert plain_text("value b'\\x00\\n'") == 'value "\\x00\\x0a"'
    assert plain_text("plain") == "plain"


def test_describe_h11_error_words() -> None:
    """h11's messages get fixed wording; quoted request bytes are shown as text."""
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(b"INVALID CONNECTION PREFACE HTTP/1.1\r\n\r\n")
    try:
        conn.next_event()
    except h11.RemoteProtocolError as exc:
        text = describe_h11_error(exc)
    assert text == 'malformed request line: "INVALID CONNECTION PREFACE HTTP/1.1"'


def _h11_reply(data: bytes) -> tuple[bytes, str | None]:
    engine = H11Engine()
    error = None
    try:
        engine.receive_data(data)
        engine.receive_data(b"")
    except RemoteProtocolError as exc:
        error = str(exc)
    return engine.data_to_send(), error


_HEAD_PARTS = st.sampled_from(
    [b"GET", b"POST", b" ", b"/", b"HTTP/1.1", b"HTTP/1.0", b"\r\n", b"\n", b":", b"host"]
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_HEAD_PARTS, st.binary(max_size=8)), max_size=12))
def test_http1_400_bodies_are_plain(parts: list[bytes]) -> None:
    """Whatever garbage request head h11 rejects, the 400 body and the error are plain."""
    reply, error = _h11_reply(b"GET / HTTP/1.1\r\n" + b"".join(parts) + b"\r\n\r\n")
    assert_plain(reply.decode("latin-1"))
    if error is not None:
        assert_plain(error)
    reply, error = _h11_reply(b"".join(parts) + b" HTTP/1.1\r\n\r\n")
    assert_plain(reply.decode("latin-1"))
    if error is not None:
        assert_plain(error)


_H2_FRAME = st.tuples(
    st.integers(0, 10),  # type (0x0-0x9 known, 0xa unknown)
    st.sampled_from([0, 1, 4, 5, 8, 0x20, 0x25]),  # flags
    st.sampled_from([0, 1, 2, 3, 5]),  # stream id
    st.one_of(st.binary(max_size=12), st.just(b"\x82\x84\x86\x41\x01x")),  # payload
)


def _h2_frame(ftype: int, flags: int, sid: int, payload: bytes) -> bytes:
    return (
        len(payload).to_bytes(3, "big") + bytes((ftype, flags)) + sid.to_bytes(4, "big") + payload
    )


def _goaway_debug(out: bytes) -> list[bytes]:
    debug = []
    pos = 0
    while pos + 9 <= len(out):
        length = int.from_bytes(out[pos : pos + 3], "big")
        if out[pos + 3] == 0x7:
            frame = GoAwayFrame(0)
            frame.parse_body(memoryview(out[pos + 9 : pos + 9 + length]))
            debug.append(frame.additional_data)
        pos += 9 + length
    return debug


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_H2_FRAME, min_size=1, max_size=8))
def test_h2_errors_and_goaway_debug_are_plain(frames: list[tuple[int, int, int, bytes]]) -> None:
    """An HTTP/2 frame soup after a valid handshake: errors and GOAWAY debug are plain,
    and a connection error's GOAWAY carries the reason."""
    engine = H2Engine(client_side=False)
    engine.initiate_connection()
    engine.receive_data(H2_PREFACE + _h2_frame(4, 0, 0, b""))
    engine.data_to_send()
    error = None
    try:
        for frame in frames:
            engine.receive_data(_h2_frame(*frame))
    except RemoteProtocolError as exc:
        error = str(exc)
    debug = _goaway_debug(engine.data_to_send())
    for text in debug:
        assert_plain(text.decode("utf-8", "replace"))
    if error is not None:
        assert_plain(error)
        assert debug and debug[-1], "a connection error's GOAWAY names the reason"


def test_h2_state_machine_error_reaches_goaway_as_words() -> None:
    """The issue's case: h2's state machine complaint, in words, in the GOAWAY."""
    engine = H2Engine(client_side=False)
    engine.initiate_connection()
    engine.receive_data(H2_PREFACE + _h2_frame(4, 0, 0, b""))
    engine.data_to_send()
    try:
        engine.receive_data(_h2_frame(0, 1, 1, b"x"))  # DATA on an idle stream
    except RemoteProtocolError as exc:
        error = str(exc)
    debug = _goaway_debug(engine.data_to_send())
    assert debug and debug[-1].decode() in error
    assert_plain(error)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_H2_FRAME, min_size=1, max_size=8))
def test_mux_errors_and_goaway_debug_are_plain(frames: list[tuple[int, int, int, bytes]]) -> None:
    """A mux frame soup after a valid handshake: errors and GOAWAY debug are plain."""
    factory = FrameFactory()
    server = MuxConnection(client_side=False)
    server.initiate_connection()
    server.receive_data(MUX_PREFACE + factory.settings())
    server.data_to_send()
    error = None
    try:
        for ftype, flags, sid, payload in frames:
            server.receive_data(factory.raw(ftype, flags, sid, payload))
    except RemoteProtocolError as exc:
        error = str(exc)
    goaways = [
        f for f in parse_frames(server.data_to_send(), preface=False) if f.type == FrameType.GOAWAY
    ]
    for frame in goaways:
        assert_plain(decode_goaway(frame.payload)[2].decode("utf-8", "replace"))
    if error is not None:
        assert_plain(error)
        assert goaways and decode_goaway(goaways[-1].payload)[2]
