"""Non-DATA frames longer than the decoder's ``max_buffered`` are skipped, not buffered.

With MAX_FRAME_SIZE = 1 MiB a peer may announce a 1 MiB HEADERS, SETTINGS,
GOAWAY or unknown frame. The connection's decoder consumes such a payload as it
arrives (mux.core.codec, ``Oversized``) and the handlers reach the outcome the
buffered payload gets (spec Sections 3.3/4). Every test compares the skipping
connection with the same connection whose decoder buffers (``max_buffered =
None``, the behaviour before skipping existed) and checks the outcome itself.
"""

from __future__ import annotations

import itertools
import tracemalloc
from collections.abc import Iterable, Sequence

import attrs
import pytest
from helpers import REQUEST, FrameFactory, parse_frames
from hypothesis import given, settings
from hypothesis import strategies as st

from mux.core import events as ev
from mux.core.codec import KEEP, FrameDecoder, Oversized
from mux.core.connection import MuxConnection
from mux.core.frames import PREFACE, FrameType, encode_goaway, encode_headers
from mux.core.limits import ProtocolLimits
from mux.errors import ErrorCode, RemoteProtocolError

ff = FrameFactory()
KIB = 1024
MIB = 1024 * KIB
#: The size of the big frames: far above 64 KiB, below MAX_FRAME_SIZE.
BIG = 600 * KIB
#: The input chunk the big frames arrive in.
CHUNK = 64 * KIB
#: What the connection's decoder buffers whole (the spec's default frame size).
MAX_BUFFERED = 64 * KIB
#: Debug data kept of a skipped GOAWAY.
KEPT_DEBUG = KEEP - 8
UNKNOWN = 0x42


def handshaken(limits: ProtocolLimits | None = None, *, buffering: bool = False) -> MuxConnection:
    """A server with 1 MiB frames in force (our SETTINGS ACKed), output drained.

    ``buffering`` turns skipping off (today's decoder without ``max_buffered``).
    """
    conn = MuxConnection(client_side=False, limits=limits or ProtocolLimits(max_frame_size=MIB))
    conn.initiate_connection()
    events = conn.receive_data(PREFACE + ff.settings() + ff.settings(ack=True))
    assert events == [ev.SettingsChanged({}), ev.SettingsAcknowledged()]
    conn.data_to_send()
    assert conn._decoder.max_frame_size == conn.limits.max_frame_size
    if buffering:
        conn._decoder.max_buffered = None
    return conn


@attrs.frozen
class Outcome:
    """What a connection made of some input: events, error (code, scope), frames sent."""

    events: tuple[ev.Event, ...]
    error: tuple[str, int] | None
    sent: tuple[tuple[int, int, int, bytes], ...]
    closed: bool


def drive(conn: MuxConnection, chunks: Iterable[bytes]) -> tuple[Outcome, int]:
    """Feed ``chunks`` one ``receive_data`` call each.

    Returns:
        The outcome and the most bytes the decoder held after any call.
    """
    events: list[ev.Event] = []
    error = None
    most = 0
    for chunk in chunks:
        try:
            events += conn.receive_data(chunk)
        except RemoteProtocolError as exc:
            error = (type(exc).__name__, int(exc.code))
            break
        most = max(most, conn._decoder.buffered)
    sent = []
    for frame in parse_frames(conn.data_to_send(), preface=False):
        payload = frame.payload
        if frame.type == FrameType.GOAWAY:
            payload = payload[:8]  # the debug text is our error message
        sent.append((frame.type, frame.flags, frame.stream_id, payload))
    return Outcome(tuple(events), error, tuple(sent), conn.is_closed), most


def cut_debug(outcome: Outcome, keep: int = KEPT_DEBUG) -> Outcome:
    """The outcome with received GOAWAY debug data cut as a skipping decoder cuts it."""
    events = tuple(
        attrs.evolve(e, debug_data=e.debug_data[:keep]) if isinstance(e, ev.GoAwayReceived) else e
        for e in outcome.events
    )
    return attrs.evolve(outcome, events=events)


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def split_at(data: bytes, offsets: Sequence[int]) -> list[bytes]:
    bounds = [0, *sorted(offsets), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]


# ------------------------------------------------------------------ the cases

OPEN = ff.headers(1, REQUEST)  # opens stream 1 (remote half stays open)
FOLLOW = ff.ping(b"followup")  # proves the framing is still in sync


def big_headers(sid: int, size: int) -> bytes:
    """A well-formed request header list of about ``size`` bytes (one long value)."""
    return ff.raw(FrameType.HEADERS, 0, sid, encode_headers([*REQUEST, (b"x-big", b"v" * size)]))


def case_frames(size: int) -> dict[str, tuple[bytes, bytes, Outcome]]:
    """Name -> (setup input, big frame, the outcome of the big frame + FOLLOW)."""
    blob = bytes(range(256)) * (size // 256 + 1)
    pong = (ev.PingReceived(b"followup"),)
    ping_ack = ((FrameType.PING, 1, 0, b"followup"),)

    def rst(sid: int, code: ErrorCode) -> tuple[int, int, int, bytes]:
        return (FrameType.RST_STREAM, 0, sid, int(code).to_bytes(4, "big"))

    def conn_error(code: ErrorCode, name: str = "RemoteProtocolError", last: int = 0) -> Outcome:
        goaway = (FrameType.GOAWAY, 0, 0, encode_goaway(last, code))
        return Outcome((), (name, int(code)), (goaway,), True)

    frame_size = ErrorCode.FRAME_SIZE_ERROR
    too_large = ErrorCode.HEADER_LIST_TOO_LARGE
    debug = blob[: size - 8]
    return {
        "headers_new_stream": (
            b"",
            big_headers(1, size),
            Outcome(pong, None, (rst(1, too_large), *ping_ack), False),
        ),
        "headers_open_stream": (
            OPEN,
            big_headers(1, size),
            Outcome(
                (ev.StreamReset(1, too_large, False), *pong),
                None,
                (rst(1, too_large), *ping_ack),
                False,
            ),
        ),
        "headers_even_stream": (b"", big_headers(2, size), conn_error(ErrorCode.PROTOCOL_ERROR)),
        "settings": (
            b"",
            ff.raw(FrameType.SETTINGS, 0, 0, b"\x81" + blob[: size - 1]),
            conn_error(ErrorCode.PROTOCOL_ERROR),
        ),
        "settings_on_stream_1": (
            b"",
            ff.raw(FrameType.SETTINGS, 0, 1, blob[:size]),
            conn_error(ErrorCode.PROTOCOL_ERROR),
        ),
        "settings_ack": (
            b"",
            ff.raw(FrameType.SETTINGS, 1, 0, blob[:size]),
            conn_error(frame_size, "FrameSizeError"),
        ),
        "ping": (
            b"",
            ff.raw(FrameType.PING, 0, 0, blob[:size]),
            conn_error(frame_size, "FrameSizeError"),
        ),
        "ping_on_stream_3": (
            b"",
            ff.raw(FrameType.PING, 0, 3, blob[:size]),
            conn_error(ErrorCode.PROTOCOL_ERROR),
        ),
        "rst_stream": (
            OPEN,
            ff.raw(FrameType.RST_STREAM, 0, 1, blob[:size]),
            conn_error(frame_size, "FrameSizeError", last=1),
        ),
        "window_update": (
            b"",
            ff.raw(FrameType.WINDOW_UPDATE, 0, 0, blob[:size]),
            conn_error(frame_size, "FrameSizeError"),
        ),
        "goaway": (
            OPEN,
            ff.goaway(1, ErrorCode.NO_ERROR, debug),
            Outcome(
                (ev.GoAwayReceived(ErrorCode.NO_ERROR, 1, debug[:KEPT_DEBUG]), *pong),
                None,
                ping_ack,
                False,
            ),
        ),
        "goaway_error": (
            b"",
            ff.goaway(0, ErrorCode.INTERNAL_ERROR, debug),
            Outcome(
                (ev.GoAwayReceived(ErrorCode.INTERNAL_ERROR, 0, debug[:KEPT_DEBUG]),),
                None,
                (),
                True,
            ),
        ),
        "unknown_type": (
            b"",
            ff.raw(UNKNOWN, 0xFF, 7, blob[:size]),
            Outcome(pong, None, ping_ack, False),
        ),
    }


BIG_CASES = case_frames(BIG)


def run_case(
    name: str, cases: dict[str, tuple[bytes, bytes, Outcome]], conn: MuxConnection, chunks_of: int
) -> tuple[Outcome, int]:
    setup, frame, _ = cases[name]
    if setup:
        assert isinstance(conn.receive_data(setup)[0], ev.RequestReceived)
        conn.data_to_send()
    return drive(conn, chunked(frame + FOLLOW, chunks_of))


@pytest.mark.parametrize("name", list(BIG_CASES))
def test_big_frame_outcome_is_unchanged_and_never_buffered(name: str) -> None:
    """~600 KiB arriving in 64 KiB reads: the spec outcome, the buffering decoder's
    outcome (GOAWAY debug cut), and the decoder never holds more than one read."""
    expected = BIG_CASES[name][2]
    skipping, most = run_case(name, BIG_CASES, handshaken(), CHUNK)
    assert skipping == expected
    assert most <= MAX_BUFFERED + CHUNK
    assert most <= KEEP  # every read is consumed as it arrives
    buffering, most_buffered = run_case(name, BIG_CASES, handshaken(buffering=True), CHUNK)
    assert cut_debug(buffering) == skipping
    # The observable can fail: the buffering decoder holds nearly the whole frame.
    assert most_buffered > BIG - CHUNK


@pytest.mark.parametrize("name", ["headers_new_stream", "settings", "goaway", "unknown_type"])
def test_big_frame_memory_peak_is_one_read(name: str) -> None:
    """Traced allocations while a 600 KiB frame arrives stay near one 64 KiB read
    when skipping and reach the frame size when buffering (independent of
    ``buffered``)."""
    peaks = []
    for buffering in (False, True):
        conn = handshaken(buffering=buffering)
        chunks = chunked(BIG_CASES[name][1], CHUNK)
        tracemalloc.start()
        try:
            for chunk in chunks[:-1]:  # the last read completes the frame
                conn.receive_data(chunk)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    skipping, buffering_peak = peaks
    assert skipping < MAX_BUFFERED + CHUNK
    assert buffering_peak > BIG - 2 * CHUNK


def test_max_buffered_follows_max_header_list_size() -> None:
    """A larger MAX_HEADER_LIST_SIZE is buffered (and decoded); the floor is 64 KiB."""
    conn = handshaken(ProtocolLimits(max_frame_size=MIB, max_header_list_size=200 * KIB))
    assert conn._decoder.max_buffered == 200 * KIB
    outcome, _ = drive(conn, [big_headers(1, 150 * KIB)])
    assert outcome.error is None and isinstance(outcome.events[0], ev.RequestReceived)
    assert len(outcome.events[0].headers[-1][1]) > 140 * KIB
    conn = handshaken(ProtocolLimits(max_frame_size=MIB, max_header_list_size=1024))
    assert conn._decoder.max_buffered == MAX_BUFFERED


def test_frame_of_exactly_max_buffered_is_buffered() -> None:
    """The bound is inclusive: a 64 KiB GOAWAY keeps all its debug data."""
    debug = b"d" * (MAX_BUFFERED - 8)
    outcome, _ = drive(handshaken(), [ff.goaway(0, ErrorCode.NO_ERROR, debug)])
    assert outcome.events == (ev.GoAwayReceived(ErrorCode.NO_ERROR, 0, debug),)
    outcome, _ = drive(handshaken(), [ff.goaway(0, ErrorCode.NO_ERROR, debug + b"!")])
    assert outcome.events == (ev.GoAwayReceived(ErrorCode.NO_ERROR, 0, debug[:KEPT_DEBUG]),)


def test_length_over_max_frame_size_is_still_frame_size_error_on_header() -> None:
    """MAX_FRAME_SIZE + 1 announced: FRAME_SIZE_ERROR on the 10 header bytes alone."""
    header = (MIB + 1).to_bytes(4, "big") + bytes([FrameType.HEADERS, 0]) + (1).to_bytes(4, "big")
    outcome, _ = drive(handshaken(), [header])
    assert outcome.error == ("FrameSizeError", ErrorCode.FRAME_SIZE_ERROR)


# ------------------------------------------- split points, with a small max_buffered

SMALL = 2000
#: Set on the decoder directly; MAX_HEADER_LIST_SIZE is lowered below it, as
#: the connection keeps it (max_buffered >= MAX_HEADER_LIST_SIZE).
SMALL_BUFFERED = 300
SMALL_LIMITS = ProtocolLimits(max_frame_size=MIB, max_header_list_size=256)
SMALL_CASES = case_frames(SMALL)


def small_conn(*, buffering: bool = False) -> MuxConnection:
    conn = handshaken(SMALL_LIMITS, buffering=buffering)
    if not buffering:
        conn._decoder.max_buffered = SMALL_BUFFERED
    return conn


def run_chunks(name: str, chunks: Sequence[bytes], *, buffering: bool = False) -> Outcome:
    setup = SMALL_CASES[name][0]
    conn = small_conn(buffering=buffering)
    if setup:
        assert isinstance(conn.receive_data(setup)[0], ev.RequestReceived)
        conn.data_to_send()
    return drive(conn, chunks)[0]


@pytest.mark.parametrize("name", list(SMALL_CASES))
def test_split_anywhere_same_outcome(name: str) -> None:
    """Whole, split at a few offsets (inside the header, around KEEP, at the end)
    and one byte at a time: identical outcomes, equal to the buffering decoder's."""
    frame = SMALL_CASES[name][1] + FOLLOW
    whole = run_chunks(name, [frame])
    assert whole == SMALL_CASES[name][2]
    assert cut_debug(run_chunks(name, [frame], buffering=True)) == whole
    for offsets in (
        [1],
        [5],
        [10],
        [11],
        [10 + KEEP],
        [11 + KEEP],
        [SMALL + 9],
        [SMALL + 10],
        [3, 10, 500, SMALL + 12],
    ):
        assert run_chunks(name, split_at(frame, offsets)) == whole, offsets
    assert run_chunks(name, chunked(frame, 1)) == whole


def test_decoder_skip_alone() -> None:
    """The decoder by itself: the skip starts when the header is read; reads fed
    then without draining are dropped too; Oversized(length, prefix) comes out
    once the payload is in; DATA is never skipped; next_frame refuses a skipped frame."""
    payload = bytes(range(256)) * 8
    skipped = ff.raw(UNKNOWN, 3, 5, payload)
    data = skipped + ff.data(1, payload) + ff.ping()
    decoder = FrameDecoder(MIB, expect_preface=False)
    decoder.max_buffered = 100
    decoder.receive_data(data[:20])
    assert decoder.next_raw() is None  # header read: skipping from here on
    assert decoder.buffered == 10  # the kept payload bytes
    assert decoder.next_read_size(4096) == 4096
    for i in range(20, len(data), 7):  # several reads before the next drain
        decoder.receive_data(data[i : i + 7])
        if i + 7 <= len(skipped):
            assert decoder.buffered <= KEEP + 7
    assert decoder.next_raw() == (UNKNOWN, 3, 5, Oversized(len(payload), payload[:KEEP]))
    assert decoder.next_raw() == (FrameType.DATA, 0, 1, payload)
    assert decoder.next_raw() == (FrameType.PING, 0, 0, b"12345678")
    assert decoder.next_raw() is None and decoder.buffered == 0
    decoder.receive_data(skipped)
    with pytest.raises(TypeError, match="next_raw"):
        decoder.next_frame()
    oversized = Oversized(5000, b"abc")
    assert len(oversized) == 5000 and oversized


def test_skip_then_bulk_data_hint() -> None:
    """While skipping, the read-size hint is the caller's default (no 10-byte reads
    after a bulk DATA frame, no SO_RCVLOWAT wait for a payload that is dropped)."""
    decoder = FrameDecoder(MIB, expect_preface=False)
    decoder.max_buffered = MAX_BUFFERED
    decoder.partial_data = True
    decoder.receive_data(ff.data(1, b"x" * 200 * KIB))
    while decoder.next_view() is not None:
        pass
    assert decoder.next_read_size(4096) == 10  # after a bulk DATA frame: header alone
    decoder.receive_data(ff.raw(UNKNOWN, 0, 0, b"u" * BIG)[:10])  # the header alone
    assert decoder.next_view() is None and decoder.buffered == 0
    assert decoder.next_read_size(4096) == 4096
    decoder.receive_data(b"u" * (BIG - 1))
    assert decoder.next_view() is None and decoder.buffered == KEEP
    assert decoder.next_read_size(4096) == 4096
    decoder.receive_data(b"u")
    assert decoder.next_view() == (UNKNOWN, 0, 0, Oversized(BIG, b"u" * KEEP))
    assert decoder.buffered == 0


# ----------------------------------------------------------------- hypothesis

_SID_STREAM = 1
_SIZE = st.integers(SMALL_BUFFERED + 1, 3000)

#: Oversized frames the connection survives: unknown types, GOAWAY(NO_ERROR),
#: HEADERS (stream error HEADER_LIST_TOO_LARGE on new, open or closed streams).
_survivable = st.one_of(
    st.builds(
        lambda n, t, s: ff.raw(t, 0, s, b"u" * n), _SIZE, st.integers(7, 255), st.integers(0, 9)
    ),
    st.builds(lambda n: ff.goaway(2**31 - 1, 0, b"g" * (n - 8)), _SIZE),
    st.builds(
        lambda n, s: ff.raw(FrameType.HEADERS, 0, s, b"\x90" * n),
        _SIZE,
        st.sampled_from([1, 3, 5, 9]),
    ),
)
#: Oversized frames that end the connection (at most one per sequence).
_fatal = st.one_of(
    st.builds(lambda n: ff.raw(FrameType.PING, 0, 0, b"p" * n), _SIZE),
    st.builds(lambda n: ff.raw(FrameType.SETTINGS, 0, 0, b"\x80" * n), _SIZE),
    st.builds(lambda n: ff.raw(FrameType.SETTINGS, 1, 0, b"\x80" * n), _SIZE),
    st.builds(lambda n: ff.raw(FrameType.WINDOW_UPDATE, 0, 0, b"w" * n), _SIZE),
    st.builds(lambda n: ff.goaway(0, ErrorCode.CANCEL, b"g" * (n - 8)), _SIZE),
)
_frames = st.one_of(
    st.builds(
        lambda n, end: ff.data(_SID_STREAM, b"d" * n, end_stream=end),
        st.integers(0, 4000),
        st.sampled_from([False, False, False, True]),
    ),
    _survivable,
    st.just(ff.ping()),
    st.builds(lambda n: ff.window_update(0, n), st.integers(1, 1000)),
)


@settings(max_examples=150, deadline=None)
@given(
    frames=st.lists(_frames, min_size=1, max_size=12),
    fatal=st.none() | st.tuples(_fatal, st.integers(0, 12)),
    cuts=st.lists(st.integers(0, 40000), max_size=8),
)
def test_random_sequences_same_events_as_buffering(
    frames: list[bytes], fatal: tuple[bytes, int] | None, cuts: list[int]
) -> None:
    """Oversized non-DATA frames among DATA, fed split at random points: the same
    events, error and frames sent as with a buffering decoder (GOAWAY debug cut)."""
    if fatal is not None:
        frames.insert(fatal[1], fatal[0])
    data = ff.headers(_SID_STREAM, REQUEST) + b"".join(frames)
    chunks = split_at(data, [c for c in cuts if 0 < c < len(data)])
    skipping = drive(small_conn(), chunks)[0]
    buffering = drive(small_conn(buffering=True), chunks)[0]
    assert skipping == cut_debug(buffering)
