"""Read-size hint of the mux core (MuxConnection.next_read_size, FrameDecoder.next_read_size).

The hint: inside a DATA payload with at least BULK_PIECE bytes still to come,
exactly those bytes; right after a DATA frame of at least BULK_FRAME bytes,
with nothing buffered, one frame header (10); otherwise the caller's default.
A read that is exactly the rest of a payload is delivered as that very
``bytes`` object. Whatever the read sizes, the events are the same.

Every connection here is a server core with ``max_frame_size = 1 MiB``, our
SETTINGS acknowledged by the peer, and windows far above what a test sends
(flow control is not the subject).
"""

from __future__ import annotations

import random

import attrs
import hypothesis
import pytest
from helpers import FrameFactory, handshaken_server
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mux.core import events as ev
from mux.core.codec import BULK_FRAME, BULK_PIECE
from mux.core.connection import MuxConnection
from mux.core.frames import FRAME_HEADER_SIZE, FrameType
from mux.core.limits import ProtocolLimits
from mux.errors import RemoteProtocolError

MIB = 2**20
LIMITS = ProtocolLimits(
    max_frame_size=MIB, initial_stream_window=2**30, connection_window=2**31 - 1
)
DEFAULT = 4096
frames = FrameFactory()


def _server() -> MuxConnection:
    server = handshaken_server(LIMITS)
    assert server.receive_data(frames.settings(ack=True)) == [ev.SettingsAcknowledged()]
    server.data_to_send()
    return server


def _open(server: MuxConnection, sid: int = 1) -> None:
    assert len(server.receive_data(frames.headers(sid))) == 1


def _data_event(events: list[ev.Event]) -> ev.DataReceived:
    assert isinstance(events[0], ev.DataReceived)
    return events[0]


# ------------------------------------------------------------------ hint values


def test_default_when_nothing_special_is_going_on() -> None:
    server = _server()
    assert server.next_read_size(DEFAULT) == DEFAULT
    _open(server)
    assert server.next_read_size(DEFAULT) == DEFAULT
    assert server.next_read_size(123) == 123


@pytest.mark.parametrize("received", [0, 1, 1000, 200_000])
def test_inside_a_large_payload_the_hint_is_the_rest(received: int) -> None:
    server = _server()
    _open(server)
    size = 300 * 1024
    wire = frames.data(1, bytes(range(256)) * (size // 256))
    server.receive_data(wire[: FRAME_HEADER_SIZE + received])
    assert server.next_read_size(DEFAULT) == size - received
    assert server.next_read_size(10 * MIB) == size - received  # whatever the default


@pytest.mark.parametrize(("rest", "hint"), [(BULK_PIECE, BULK_PIECE), (BULK_PIECE - 1, DEFAULT)])
def test_the_rest_is_hinted_from_bulk_piece_on(rest: int, hint: int) -> None:
    server = _server()
    _open(server)
    wire = frames.data(1, b"p" * (BULK_PIECE + 500))
    server.receive_data(wire[: len(wire) - rest])
    assert server.next_read_size(DEFAULT) == hint


def test_a_partial_header_is_not_inside_a_payload() -> None:
    server = _server()
    _open(server)
    wire = frames.data(1, b"p" * BULK_FRAME)
    server.receive_data(wire[: FRAME_HEADER_SIZE - 1])
    assert server.next_read_size(DEFAULT) == DEFAULT
    server.receive_data(wire[FRAME_HEADER_SIZE - 1 : FRAME_HEADER_SIZE])
    assert server.next_read_size(DEFAULT) == BULK_FRAME  # the header is in: whole payload


@pytest.mark.parametrize(
    ("size", "hint"), [(BULK_FRAME, FRAME_HEADER_SIZE), (BULK_FRAME - 1, DEFAULT)]
)
def test_after_a_bulk_frame_the_hint_is_one_header(size: int, hint: int) -> None:
    server = _server()
    _open(server)
    server.receive_data(frames.data(1, b"b" * size))
    assert server.next_read_size(DEFAULT) == hint


def test_after_a_bulk_frame_with_bytes_buffered_the_hint_is_the_default() -> None:
    server = _server()
    _open(server)
    server.receive_data(frames.data(1, b"b" * BULK_FRAME) + frames.data(1, b"next")[:4])
    assert server.next_read_size(DEFAULT) == DEFAULT


def test_a_small_data_frame_ends_the_bulk_mode() -> None:
    server = _server()
    _open(server)
    server.receive_data(frames.data(1, b"b" * BULK_FRAME))
    assert server.next_read_size(DEFAULT) == FRAME_HEADER_SIZE
    server.receive_data(frames.data(1, b"small"))
    assert server.next_read_size(DEFAULT) == DEFAULT


# ------------------------------------------------------------------ zero copy


@pytest.mark.parametrize("end_stream", [False, True])
def test_a_read_of_exactly_the_rest_is_delivered_uncopied(end_stream: bool) -> None:
    """Header alone, then the payload in the one read the hint asks for: the
    event carries that very bytes object; then the next header is hinted."""
    server = _server()
    _open(server)
    size = 512 * 1024
    wire = frames.data(1, random.Random(1).randbytes(size), end_stream=end_stream)
    assert server.receive_data(wire[:FRAME_HEADER_SIZE]) == []
    ask = server.next_read_size(DEFAULT)
    assert ask == size
    read = wire[FRAME_HEADER_SIZE:]
    events = server.receive_data(read)
    event = _data_event(events)
    assert event.data is read
    assert (event.flow_controlled_length, event.end_stream) == (size, end_stream)
    assert events[1:] == ([ev.StreamEnded(1)] if end_stream else [])
    assert server.next_read_size(DEFAULT) == FRAME_HEADER_SIZE


def test_the_rest_after_a_partial_payload_is_delivered_uncopied() -> None:
    server = _server()
    _open(server)
    size = MIB
    payload = random.Random(2).randbytes(size)
    wire = frames.data(1, payload)
    first = server.receive_data(wire[: FRAME_HEADER_SIZE + 70_000])
    rest = wire[FRAME_HEADER_SIZE + 70_000 :]
    assert server.next_read_size(DEFAULT) == len(rest)
    event = _data_event(server.receive_data(rest))
    assert event.data is rest
    assert _data_event(first).data + event.data == payload


# ------------------------------------------------------------------ property


@attrs.frozen
class Span:
    """Where one frame lies in the wire bytes."""

    start: int
    frame_type: int
    length: int

    @property
    def payload_start(self) -> int:
        return self.start + FRAME_HEADER_SIZE

    @property
    def end(self) -> int:
        return self.payload_start + self.length


@attrs.frozen
class Wire:
    data: bytes
    spans: list[Span]

    def expected_hint(self, pos: int, default: int) -> int:
        """The hint the description promises after ``pos`` bytes were fed."""
        last_data: Span | None = None
        for span in self.spans:
            if span.start >= pos:
                break
            if span.frame_type == FrameType.DATA and pos >= span.payload_start:
                last_data = span
            if pos < span.end:  # inside this frame
                if span.frame_type == FrameType.DATA and pos >= span.payload_start:
                    rest = span.end - pos
                    return rest if rest >= BULK_PIECE else default
                return default
        # At a frame boundary, nothing buffered.
        if last_data is not None and last_data.length >= BULK_FRAME:
            return FRAME_HEADER_SIZE
        return default


_OPS = ["open", "open_end", "data", "data", "data_end", "big", "big", "big", "edge", "edge"]
_OPS += ["ping", "window_update", "unknown", "rst", "settings"]


@st.composite
def wires(draw: st.DrawFn) -> Wire:
    """Random client frames: streams opened and fed with DATA of every size
    class (tiny, around the thresholds, up to 1 MiB), control frames, unknown
    frames, resets, and rarely a connection error (DATA on an idle stream)."""
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    ops = draw(st.lists(st.sampled_from(_OPS), min_size=1, max_size=12))
    if draw(st.sampled_from([False] * 9 + [True])):  # now and then, a connection error
        ops.insert(draw(st.integers(0, len(ops))), "idle_data")
    out = bytearray()
    spans: list[Span] = []
    opened: list[int] = []
    next_sid = 1

    def emit(frame: bytes) -> None:
        length = int.from_bytes(frame[:4])
        spans.append(Span(len(out), frame[4], length))
        out.extend(frame)

    for op in ops:
        if op in ("open", "open_end") or (op.startswith(("data", "big", "edge")) and not opened):
            emit(frames.headers(next_sid, end_stream=op == "open_end"))
            opened.append(next_sid)
            next_sid += 2
            if op.startswith("open"):
                continue
        if op in ("data", "data_end", "big", "edge"):
            if op == "big":
                size = draw(st.integers(BULK_FRAME, MIB))
            elif op == "edge":
                edges = [BULK_PIECE - 1, BULK_PIECE, BULK_PIECE + 9, BULK_FRAME - 1, BULK_FRAME]
                size = draw(st.sampled_from(edges))
            else:
                size = draw(st.integers(0, 3000))
            sid = draw(st.sampled_from(opened))
            emit(frames.data(sid, rng.randbytes(size), end_stream=op == "data_end"))
        elif op == "ping" or (op == "rst" and not opened):
            emit(frames.ping(rng.randbytes(8)))
        elif op == "window_update":
            emit(frames.window_update(0, 1000))
        elif op == "unknown":
            emit(frames.raw(0x20, 0, 0, rng.randbytes(rng.randrange(100))))
        elif op == "rst" and opened:
            emit(frames.rst(draw(st.sampled_from(opened))))
        elif op == "settings":
            emit(frames.settings())
        elif op == "idle_data":
            emit(frames.data(next_sid + 200, b"x" * 100))
    return Wire(bytes(out), spans)


Outcome = tuple[list[tuple[object, ...]], tuple[str, str] | None]


def _canonical(events: list[ev.Event]) -> list[tuple[object, ...]]:
    """Events with consecutive DataReceived of one stream joined (read splits
    decide only how DATA is cut into events)."""
    out: list[tuple[object, ...]] = []
    for event in events:
        if isinstance(event, ev.DataReceived):
            if out and out[-1][0] == "data" and out[-1][1] == event.stream_id:
                _, sid, data, flow, _end = out[-1]
                assert isinstance(data, bytes) and isinstance(flow, int)
                out[-1] = (
                    "data",
                    sid,
                    data + event.data,
                    flow + event.flow_controlled_length,
                    event.end_stream,
                )
            else:
                out.append(
                    (
                        "data",
                        event.stream_id,
                        event.data,
                        event.flow_controlled_length,
                        event.end_stream,
                    )
                )
        else:
            out.append(("event", event))
    return out


def _feed_whole(wire: bytes) -> Outcome:
    server = _server()
    try:
        return _canonical(server.receive_data(wire)), None
    except RemoteProtocolError as exc:
        return [], (type(exc).__name__, str(exc))


def _feed_frames(wire: Wire) -> Outcome:
    """One call per frame: the events up to a connection error."""
    server = _server()
    events: list[ev.Event] = []
    try:
        for span in wire.spans:
            events += server.receive_data(wire.data[span.start : span.end])
    except RemoteProtocolError as exc:
        return _canonical(events), (type(exc).__name__, str(exc))
    return _canonical(events), None


def _feed_by_hint(wire: Wire, default: int, rng: random.Random) -> Outcome:
    """Reads sized by the hint, each maybe cut short (as a socket may)."""
    server = _server()
    data = wire.data
    events: list[ev.Event] = []
    pos = 0
    for _ in range(100_000):
        if pos >= len(data):
            break
        ask = server.next_read_size(default)
        assert ask == wire.expected_hint(pos, default), pos
        size = min(ask if rng.random() < 0.5 else rng.randint(1, ask), len(data) - pos)
        read = data[pos : pos + size]
        try:
            got = server.receive_data(read)
        except RemoteProtocolError as exc:
            return _canonical(events), (type(exc).__name__, str(exc))
        if ask != default and ask != FRAME_HEADER_SIZE and size == ask:
            # Exactly the rest of a payload: delivered as the read itself.
            assert all(e.data is read for e in got if isinstance(e, ev.DataReceived))
            hypothesis.event("aligned payload read")
        events += got
        pos += size
    assert pos == len(data)
    return _canonical(events), None


def _is_prefix(short: list[tuple[object, ...]], long: list[tuple[object, ...]]) -> bool:
    """``short`` is ``long`` cut anywhere (a joined DATA item may be cut too)."""
    if len(short) > len(long):
        return False
    if not short:
        return True
    if short[:-1] != long[: len(short) - 1]:
        return False
    last, other = short[-1], long[len(short) - 1]
    if last == other:
        return True
    if last[0] == "data" and other[0] == "data" and last[1] == other[1]:
        data, full = last[2], other[2]
        assert isinstance(data, bytes) and isinstance(full, bytes)
        return full.startswith(data)
    return False


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    wire=wires(),
    default=st.sampled_from([1000, DEFAULT, 65536, 262144]),
    seed=st.integers(0, 2**32 - 1),
)
def test_reads_sized_by_the_hint_give_the_same_events(wire: Wire, default: int, seed: int) -> None:
    """Following the hint (reads cut short at random) yields the events of the
    whole input: DATA joined per stream, END_STREAM, resets, other events in
    order; a connection error is the same error, after a prefix of the events."""
    events, error = _feed_by_hint(wire, default, random.Random(seed))
    hypothesis.event(f"connection error: {error is not None}")
    hypothesis.event(f"bulk frames: {min(3, sum(s.length >= BULK_FRAME for s in wire.spans))}")
    whole_events, whole_error = _feed_whole(wire.data)
    assert error == whole_error
    if error is None:
        assert events == whole_events
    else:
        reference, reference_error = _feed_frames(wire)
        assert reference_error == error
        assert _is_prefix(events, reference)
