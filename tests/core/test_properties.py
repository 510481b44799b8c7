"""Property tests: garbage never crashes the core; two cores always deliver everything."""

from __future__ import annotations

import random

from helpers import REQUEST, RESPONSE, FrameFactory, handshaken_server
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mux.core import events as ev
from mux.core.connection import MuxConnection
from mux.core.frames import PREFACE
from mux.errors import RemoteProtocolError

ff = FrameFactory()

FRAME_PARTS = st.one_of(
    st.binary(max_size=40),
    st.sampled_from(
        [
            ff.headers(1),
            ff.headers(3, end_stream=True),
            ff.data(1, b"abc"),
            ff.data(1, b"", end_stream=True),
            ff.rst(1),
            ff.ping(),
            ff.ping(ack=True),
            ff.settings(),
            ff.settings(ack=True),
            ff.window_update(0, 10),
            ff.window_update(1, 10),
            ff.goaway(1),
            ff.raw(0x20, 0, 0, b"x"),
        ]
    ),
)


def feed(conn: MuxConnection, data: bytes, chunk: int) -> None:
    try:
        for i in range(0, len(data), chunk):
            conn.receive_data(data[i : i + chunk])
            conn.data_to_send()
    except RemoteProtocolError:
        assert conn.is_closed
        assert conn.receive_data(b"more") == []


@settings(max_examples=300, deadline=None)
@given(garbage=st.binary(max_size=300), chunk=st.integers(1, 64))
def test_random_bytes_never_crash(garbage: bytes, chunk: int) -> None:
    """Random bytes (with or without a preface) give events or RemoteProtocolError only."""
    feed(MuxConnection(client_side=False), garbage, chunk)
    feed(MuxConnection(client_side=True), PREFACE + garbage, chunk)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=st.lists(FRAME_PARTS, max_size=20), chunk=st.integers(1, 97))
def test_random_frames_never_crash(parts: list[bytes], chunk: int) -> None:
    """Random sequences of valid-looking frames and garbage never raise anything else."""
    server = handshaken_server()
    feed(server, b"".join(parts), chunk)
    feed(server, b"".join(parts), 1)


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(0, 300_000), min_size=1, max_size=6), seed=st.integers(0, 2**32))
def test_two_cores_deliver_everything(sizes: list[int], seed: int) -> None:
    """Under random chunking, pumping order and acknowledgement timing, every byte of
    every stream arrives in order and the exchange never deadlocks."""
    rnd = random.Random(seed)
    client = MuxConnection(client_side=True)
    server = MuxConnection(client_side=False)
    client.initiate_connection()
    server.initiate_connection()
    bodies = {2 * i + 1: bytes([i + 1]) * size for i, size in enumerate(sizes)}
    sent = dict.fromkeys(bodies, 0)
    received: dict[int, bytearray] = {sid: bytearray() for sid in bodies}
    unacked = dict.fromkeys(bodies, 0)
    wires = {"c2s": bytearray(), "s2c": bytearray()}
    for sid in bodies:
        client.send_headers(sid, REQUEST)
    for _ in range(20000):
        for sid, body in bodies.items():
            if sent[sid] > len(body):
                continue
            window = client.local_flow_control_window(sid)
            chunk = body[sent[sid] : sent[sid] + window]
            done = sent[sid] + len(chunk) == len(body)
            if chunk or done:
                client.send_data(sid, chunk, end_stream=done)
                sent[sid] += len(chunk) + done  # past len(body) once ended
        wires["c2s"] += client.data_to_send()
        wires["s2c"] += server.data_to_send()
        direction = rnd.choice(["c2s", "s2c"])
        wire = wires[direction]
        take = rnd.randint(0, len(wire))
        piece, wires[direction] = bytes(wire[:take]), wire[take:]
        sink = server if direction == "c2s" else client
        for event in sink.receive_data(piece) if piece else []:
            if isinstance(event, ev.DataReceived):
                received[event.stream_id] += event.data
                unacked[event.stream_id] += event.flow_controlled_length
            elif isinstance(event, ev.StreamEnded) and sink is server:
                server.send_headers(event.stream_id, RESPONSE, end_stream=True)
        for sid in bodies:
            if unacked[sid] and rnd.random() < 0.5:
                server.acknowledge_received_data(unacked[sid], sid)
                unacked[sid] = 0
        if client.open_outbound_streams == 0:
            break
    else:
        raise AssertionError(
            f"deadlock: sent {sent}, received {[len(r) for r in received.values()]}"
        )
    for sid, body in bodies.items():
        assert bytes(received[sid]) == body
