"""In-process cost of the HTTP/2 engine per request (no sockets, no Trio).

A client (h2) sends batches of 100 HEADERS (h2load-like headers, END_STREAM);
the server :class:`mux.core.h2engine.H2Engine` answers each with
``send_headers`` + ``send_data(b"", end_stream=True)``, as ``/echo`` does.
The client's bytes are recorded once, then replayed into fresh engines.

``--pair``: both sides are :class:`H2Engine` (the SDK's and the server's engines), for
the SDK's unary shape: a client engine sends 100 ``POST /echo`` requests with a 64-byte
body, the server engine answers each with headers and the 64 bytes; per request, the cost
of both engines together.

Usage: ``python bench/h2engine_micro.py [--batches 200] [--pair] [--profile]``
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

import h2.config
import h2.connection

from mux.core import events as ev
from mux.core.h2engine import H2Engine

REQUEST = [
    (b":method", b"GET"),
    (b":path", b"/echo"),
    (b":scheme", b"http"),
    (b":authority", b"127.0.0.1:8080"),
    (b"accept-encoding", b"gzip, deflate"),
    (b"user-agent", b"h2load nghttp2/1.52.0"),
]
RESPONSE = [(b":status", b"200"), (b"user-agent", b"h2load nghttp2/1.52.0")]
PER_BATCH = 100


def serve(engine: H2Engine, data: bytes) -> bytes:
    for event in engine.receive_data(data):
        if type(event) is ev.RequestReceived:
            engine.send_headers(event.stream_id, RESPONSE)
            engine.send_data(event.stream_id, b"", end_stream=True)
    return engine.data_to_send()


def record(batches: int) -> list[bytes]:
    """The client's bytes, one chunk per batch (a real round trip)."""
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    client.initiate_connection()
    server = H2Engine(client_side=False)
    server.initiate_connection()
    chunks = [client.data_to_send()]
    client.receive_data(serve(server, chunks[0]))
    for _ in range(batches):
        for _ in range(PER_BATCH):
            sid = client.get_next_available_stream_id()
            client.send_headers(sid, REQUEST, end_stream=True)
        chunk = client.data_to_send()
        chunks.append(chunk)
        client.receive_data(serve(server, chunk))
    return chunks


def replay(chunks: list[bytes]) -> int:
    server = H2Engine(client_side=False)
    server.initiate_connection()
    total = 0
    for chunk in chunks:
        total += len(serve(server, chunk))
    return total


POST = [
    (b":method", b"POST"),
    (b":scheme", b"http"),
    (b":path", b"/echo"),
    (b":authority", b"127.0.0.1:8080"),
    (b"content-type", b"application/octet-stream"),
]
BODY = b"x" * 64


def pair(batches: int) -> int:
    """SDK-shaped unary exchanges between a client and a server engine."""
    client = H2Engine(client_side=True)
    client.initiate_connection()
    server = H2Engine(client_side=False)
    server.initiate_connection()
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    server.receive_data(client.data_to_send())
    total = 0
    for _ in range(batches):
        for _ in range(PER_BATCH):
            sid = client.get_next_available_stream_id()
            client.send_headers(sid, POST)
            client.send_data(sid, BODY, end_stream=True)
        for event in server.receive_data(client.data_to_send()):
            if type(event) is ev.DataReceived:
                server.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif type(event) is ev.StreamEnded:
                server.send_headers(event.stream_id, RESPONSE)
                server.send_data(event.stream_id, BODY, end_stream=True)
        for event in client.receive_data(server.data_to_send()):
            if type(event) is ev.DataReceived:
                total += len(event.data)
                client.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        server.receive_data(client.data_to_send())
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--pair", action="store_true", help="client and server engines")
    args = parser.parse_args()
    if args.pair:
        requests = args.batches * PER_BATCH
        if args.profile:
            profiler = cProfile.Profile()
            profiler.runcall(pair, args.batches)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
            return
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            assert pair(args.batches) == requests * len(BODY)
            best = min(best, time.perf_counter() - start)
        print(
            f"h2 engine pair (client + server): {best * 1e6 / requests:.1f} us/request "
            f"(best of 5, {requests} requests)"
        )
        return
    chunks = record(args.batches)
    requests = args.batches * PER_BATCH
    replay(chunks)  # warm up
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(replay, chunks)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        return
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        replay(chunks)
        best = min(best, time.perf_counter() - start)
    print(f"h2 engine: {best * 1e6 / requests:.1f} us/request (best of 5, {requests} requests)")


if __name__ == "__main__":
    main()
