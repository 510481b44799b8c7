"""Window-tuner backoff (mux.core.flow.WindowTuner.settle) on two real cores back to back.

A server core streams one response to a client core whose application consumes
and acknowledges everything at once. One "round trip" is: the server sends a
batch of DATA frames (as its windows allow), the client takes them, and the
client's answer (WINDOW_UPDATEs, BDP PINGs) goes back to the server, whose
PING ACK leads the next batch. We count the BDP PINGs the receiver sends.

Without the backoff the receiver starts a sample (one PING) every round trip
while a window is below its cap, whether or not samples ever grow anything:
``test_without_backoff_every_round_trip_pings`` shows it on the very scenario
the other tests bound.
"""

from __future__ import annotations

import itertools

import pytest
from helpers import RESPONSE, EnginePair, parse_frames

from mux.core import events as ev
from mux.core.flow import BDP_PING, MAX_SAMPLE_GAP, WindowTuner
from mux.core.frames import FrameType
from mux.core.limits import ProtocolLimits

KIB = 1024
MIB = 2**20
FRAME = 256 * KIB
#: 256 KiB DATA frames need a larger MAX_FRAME_SIZE than the default.
LIMITS = ProtocolLimits(max_frame_size=MIB)
#: The default connection receive window: the first backoff distance.
CONN_WINDOW = LIMITS.connection_window
_PAYLOAD = b"d" * FRAME


def _is_bdp_ping(frame_type: int, flags: int, payload: bytes) -> bool:
    return frame_type == FrameType.PING and not flags and payload == BDP_PING


class Download:
    """One response streamed server -> client; the client application keeps up.

    Attributes:
        received: DATA bytes the client received so far.
        pings: ``received`` at the moment each BDP PING was queued by the client.
        ping_targets: the client's (stream, connection) targets at each PING.
    """

    def __init__(self, limits: ProtocolLimits = LIMITS) -> None:
        self.pair = EnginePair(client_limits=limits, server_limits=limits)
        self.sid = self.pair.request()
        self.pair.server.send_headers(self.sid, RESPONSE)
        assert self.pair.to_client() == [ev.ResponseReceived(self.sid, RESPONSE, False)]
        self.received = 0
        self.pings: list[int] = []
        self.ping_targets: list[tuple[int, int]] = []
        self.round_trips = 0

    @property
    def tuner(self) -> WindowTuner:
        tuner = self.pair.client._tuner
        assert tuner is not None
        return tuner

    def targets(self) -> tuple[int, int]:
        """The client's (stream, connection) receive-window targets."""
        client = self.pair.client
        return client._stream_target(self.sid), client._connection_target()

    def round_trip(self, pace: int) -> int:
        """The server sends up to ``pace`` bytes (windows permitting) in frames of
        at most FRAME, each delivered and acknowledged at once; then the client's
        answer goes back. Returns the bytes sent."""
        server, client = self.pair.server, self.pair.client
        answer = bytearray()
        sent = 0
        while sent < pace:
            size = min(server.local_flow_control_window(self.sid), FRAME, pace - sent)
            if size <= 0:
                break
            server.send_data(self.sid, _PAYLOAD if size == FRAME else _PAYLOAD[:size])
            sent += size
            for event in client.receive_data(server.data_to_send()):
                if isinstance(event, ev.DataReceived):
                    self.received += event.flow_controlled_length
                    client.acknowledge_received_data(event.flow_controlled_length, self.sid)
            out = client.data_to_send()
            for frame in parse_frames(out, preface=False):
                if _is_bdp_ping(frame.type, frame.flags, frame.payload):
                    self.pings.append(self.received)
                    self.ping_targets.append(self.targets())
            answer += out
        if answer:
            server.receive_data(bytes(answer))
        self.round_trips += 1
        return sent

    def run(self, total: int, pace: int) -> None:
        """Round trips until ``total`` more bytes arrived (bounded in count)."""
        goal = self.received + total
        for _ in range(100_000):
            if self.received >= goal:
                return
            assert self.round_trip(min(pace, goal - self.received)) > 0, "the sender stalled"
        raise AssertionError("transfer did not finish")


def test_gap_doubles_from_the_connection_window_up_to_the_cap() -> None:
    """settle(): a fruitless sample doubles the gap (at least the window, at most
    MAX_SAMPLE_GAP) and makes it the quiet distance; a growing sample resets both."""
    tuner = WindowTuner()
    tuner.sampling = True
    tuner.settle(False, MIB)
    assert (tuner.sampling, tuner.gap, tuner.quiet) == (False, MIB, MIB)
    tuner.settle(False, MIB)
    assert (tuner.gap, tuner.quiet) == (2 * MIB, 2 * MIB)
    tuner.settle(False, 8 * MIB)  # the window grew meanwhile: at least one window
    assert tuner.gap == 8 * MIB
    for _ in range(40):
        tuner.settle(False, 8 * MIB)
    assert tuner.gap == tuner.quiet == MAX_SAMPLE_GAP
    tuner.settle(True, 8 * MIB)
    assert (tuner.gap, tuner.quiet) == (0, 0)
    tuner.settle(False, 8 * MIB)  # doubling starts over from one window
    assert tuner.gap == 8 * MIB


def test_paced_download_sends_few_pings() -> None:
    """64 MiB at 512 KiB per round trip: the windows settle at 1 MiB within a few
    samples, then every sample is fruitless. The distances 1, 2, 4, 8, 16, 32 MiB
    add up to 63 MiB, so besides the growing samples (and the one fruitless
    sample each growth is followed by) only about six more PINGs fit; the
    pre-backoff code sent one per round trip (129)."""
    download = Download()
    download.run(64 * MIB, 512 * KIB)
    assert download.targets() == (MIB, MIB)  # grew as the pace needs, no further
    assert download.round_trips >= 128
    assert len(download.pings) <= 20


def test_window_limited_download_grows_to_the_caps_with_few_pings() -> None:
    """A sender that fills every window it gets within one round trip: the windows
    still grow up to the stream cap (the connection window to twice that, which
    one stream cannot fill further), and 256 MiB cost few PINGs (pre-backoff: 70)."""
    download = Download()
    download.run(256 * MIB, 256 * MIB)
    assert download.targets() == (LIMITS.max_stream_window, 2 * LIMITS.max_stream_window)
    assert len(download.pings) <= 20


def test_fruitless_samples_are_spaced_by_a_doubling_distance() -> None:
    """Once the windows fit the pace, the i-th PING of the fruitless run comes
    1, 2, 4 ... connection windows of DATA after the previous sample ended (a
    sample lasts one round trip: ``pace`` bytes here)."""
    pace = 512 * KIB
    download = Download()
    download.run(64 * MIB, pace)
    final = download.targets()
    assert final == (MIB, MIB)
    # The first sample taken with the final windows starts the fruitless run.
    first = download.ping_targets.index(final)
    positions = download.pings[first:]
    distances = [b - a for a, b in itertools.pairwise(positions)]
    assert len(distances) >= 4
    for i, distance in enumerate(distances):
        gap = CONN_WINDOW << i
        assert gap <= distance - pace <= gap + FRAME, (i, distances)


def test_a_growing_sample_lets_the_next_sample_start_at_once() -> None:
    """After a sample that grows a window the gap is 0: the very next DATA frame
    (still a burst) starts a new sample; after a fruitless one, no PING until a
    connection window of DATA more has arrived."""
    download = Download()
    download.round_trip(FRAME)  # fills the 256 KiB stream window: sample 1 starts
    assert download.pings == [FRAME]
    download.round_trip(FRAME)  # ACK first: sample 1 grew the stream window ...
    assert download.targets() == (2 * FRAME, CONN_WINDOW)
    assert (download.tuner.gap, download.tuner.quiet) == (0, 0)
    assert download.pings == [FRAME, 2 * FRAME]  # ... and this frame started sample 2
    # Sample 2 counted one frame of a 512 KiB window: fruitless, back off.
    download.round_trip(FRAME)
    assert download.targets() == (2 * FRAME, CONN_WINDOW)
    assert download.tuner.gap == CONN_WINDOW
    assert download.pings == [FRAME, 2 * FRAME]
    download.run(CONN_WINDOW - FRAME, FRAME)  # quiet: exactly one connection window
    assert download.pings == [FRAME, 2 * FRAME]
    download.round_trip(FRAME)  # the first frame after the quiet distance samples
    assert download.pings == [FRAME, 2 * FRAME, 3 * FRAME + CONN_WINDOW]


def test_growth_resumes_after_a_long_backoff() -> None:
    """A slow phase backs the tuner off by many windows; when the sender then
    fills its windows, growth still comes, reaches the caps, and the whole
    transfer stays cheap in PINGs.

    Not bounded tighter: in this model a sample that starts in the middle of a
    window-limited burst counts only the rest of it (the PING ACK comes back
    ahead of the next burst) and is fruitless, doubling the gap once more;
    here the first growth comes 36 MiB after the switch (see the report).
    """
    download = Download()
    download.run(32 * MIB, 512 * KIB)
    assert download.targets() == (MIB, MIB)
    assert download.tuner.gap >= 8 * MIB
    for _ in range(1000):
        download.round_trip(64 * MIB)
        if download.targets() == (4 * MIB, 8 * MIB) or download.received > 160 * MIB:
            break
    assert download.targets() == (4 * MIB, 8 * MIB)
    assert len(download.pings) <= 20


def test_without_backoff_every_round_trip_pings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Control: with settle() reduced to the pre-backoff behaviour (a sample just
    ends, no quiet distance) the paced download above sends a PING every round
    trip, so the bounds above do tell the two apart."""

    def settle(self: WindowTuner, grew: bool, window: int) -> None:
        self.sampling = False

    monkeypatch.setattr(WindowTuner, "settle", settle)
    download = Download()
    download.run(64 * MIB, 512 * KIB)
    assert len(download.pings) >= download.round_trips - 1 >= 100
