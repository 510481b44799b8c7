"""Hypothesis garbage through a real driver: no log record, reply or GOAWAY debug data
shows a Python repr or a library state name (HTTP/1.1, HTTP/2 and mux engines)."""

from __future__ import annotations

import logging
import re

import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mux.config import ConnectionTimeouts
from mux.core.connection import MuxConnection
from mux.core.engine import Engine
from mux.core.frames import PREFACE as MUX_PREFACE
from mux.core.h2engine import H2Engine
from mux.core.h2guard import PREFACE as H2_PREFACE
from mux.core.h11engine import H11Engine
from mux.driver.connection import ConnectionDriver
from mux.driver.stream import Stream

FORBIDDEN = re.compile(
    r"""bytearray\(|(?<![\\\w])b['"]|StreamInputs|ConnectionInputs|ConnectionState"""
    r"""|StreamState|in state|role=|state="""
)
H2_HELLO = H2_PREFACE + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
MUX_HELLO = MUX_PREFACE + b"\x00\x00\x00\x01\x03\x00\x00\x00\x00\x00\x80"
H1_HELLO = b"GET / HTTP/1.1\r\n"
ENGINES = {
    "h1": (lambda: H11Engine(), H1_HELLO),
    "h2": (lambda: H2Engine(client_side=False), H2_HELLO),
    "mux": (lambda: MuxConnection(client_side=False), MUX_HELLO),
}


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


async def _answer(stream: Stream) -> None:
    await stream.send_headers([(b":status", b"200")], end_stream=True)


async def _run(engine: Engine, data: bytes) -> tuple[bytes, list[str]]:
    """Feed ``data`` then EOF to a server driver; return its reply and its log lines."""
    collect = Collect()
    logger = logging.getLogger("mux")
    logger.addHandler(collect)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    ours, theirs = trio.testing.memory_stream_pair()
    timeouts = ConnectionTimeouts(handshake=1.0, settings_ack=None, close_flush=0.2)
    driver = ConnectionDriver(theirs, engine, on_stream=_answer, timeouts=timeouts)
    reply = b""
    try:
        with trio.fail_after(5):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(driver.run)
                await ours.send_all(data)
                await ours.send_eof()
                while True:
                    try:
                        chunk = await ours.receive_some(65536)
                    except trio.BrokenResourceError:
                        break
                    if not chunk:
                        break
                    reply += chunk
    finally:
        logger.removeHandler(collect)
        logger.setLevel(level)
    return reply, collect.lines


_FRAMES = st.lists(
    st.tuples(
        st.integers(0, 10),
        st.sampled_from([0, 1, 4, 5, 8]),
        st.sampled_from([0, 1, 2, 3]),
        st.one_of(st.binary(max_size=10), st.just(b"\x82\x84\x86\x41\x01x")),
    ),
    min_size=1,
    max_size=6,
)
_HEAD_PARTS = st.lists(
    st.one_of(
        st.sampled_from([b"GET", b" ", b"/", b"HTTP/1.1", b"\r\n", b":", b"host", b"x: \x00"]),
        st.binary(max_size=6),
    ),
    max_size=10,
)


def _frames(name: str, frames: list[tuple[int, int, int, bytes]]) -> bytes:
    out = b""
    for ftype, flags, sid, payload in frames:
        if name == "h2":
            out += len(payload).to_bytes(3, "big") + bytes((ftype, flags))
        else:
            out += len(payload).to_bytes(4, "big") + bytes((ftype, flags))
        out += sid.to_bytes(4, "big") + payload
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.sampled_from(sorted(ENGINES)),
    st.one_of(st.binary(min_size=1, max_size=48), _FRAMES, _HEAD_PARTS),
)
async def test_garbage_after_a_valid_start_leaks_no_repr(
    name: str, garbage: bytes | list[tuple[int, int, int, bytes]] | list[bytes]
) -> None:
    """Garbage (raw bytes, a frame soup, or request-head pieces) after a valid start."""
    if isinstance(garbage, bytes):
        data = garbage
    elif name == "h1":
        data = b"".join(part if isinstance(part, bytes) else b"" for part in garbage) + b"\r\n\r\n"
    else:
        data = _frames(name, [f for f in garbage if isinstance(f, tuple)])
    make, hello = ENGINES[name]
    reply, lines = await _run(make(), hello + data)
    for line in lines:
        assert not FORBIDDEN.search(line), line
    text = reply.decode("latin-1")
    if name == "h1":
        assert not FORBIDDEN.search(text), text
    else:  # GOAWAY debug data is plain text inside binary frames
        for piece in re.findall(rb"[ -~]{6,}", reply):
            assert not FORBIDDEN.search(piece.decode()), piece
