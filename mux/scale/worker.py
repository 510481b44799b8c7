"""One load-generating process of ``mux bench``: connections, requests, held sessions.

Theory of operation
-------------------
``mux bench`` starts ``--processes`` copies of ``python -m mux.scale.worker CONFIG``
(CONFIG is a :class:`WorkerConfig` as JSON) and reads their stdout, one JSON object a
line: ``progress`` every :data:`PROGRESS_EVERY` seconds (connections open, requests
done, errors), ``held`` (hold mode: every connection attempted) and finally ``result``
(histograms and counts, merged by the parent).

Each connection is a real client :class:`~mux.driver.ConnectionDriver` over a TCP
socket bound to one of the worker's source addresses, with the SDK's engine for the
protocol (:func:`mux_client.transport.make_engine`): the engine answers the server's
PINGs and SETTINGS, as an application's client would. Its ``run`` is the only task a
held connection costs.

Requests: ``connections x streams`` request tasks pull jobs from one queue. Closed
loop (no ``rate``): a task issues its next request as soon as the last one finished,
and latency runs from the moment the request is opened. Open loop (``rate``): a pacer
puts job *i* in the queue at ``t0 + i / rate`` and latency runs from that *scheduled*
time, so a slow server that makes requests queue up shows the waiting in the latency
(no coordinated omission). ``requests`` bounds the jobs, ``duration`` the time.

An established connection that ends before we close it is counted as an error
(``lost: GOAWAY <code>`` or ``lost: closed``).

Hold mode opens ``connections`` at ``open_rate`` per second (job *i* starts at
``i / open_rate``, at most :data:`MAX_CONNECTING` handshakes at once), reports ``held``
and keeps them until stdin closes (the parent decides when to let go, after sampling
the server), then closes them.
"""

from __future__ import annotations

import json
import math
import resource
import socket
import sys
from collections.abc import Callable

import attrs
import trio

from mux.driver.connection import ConnectionDriver
from mux.errors import ErrorCode
from mux.scale.histogram import Histogram
from mux_client.transport import make_engine

#: Seconds between progress lines.
PROGRESS_EVERY = 0.5
#: Handshakes in flight at once per process (stays well under listen backlogs).
MAX_CONNECTING = 256
#: Seconds a connection (TCP + the server's SETTINGS) may take.
CONNECT_TIMEOUT = 10.0


@attrs.frozen
class WorkerConfig:
    host: str
    port: int
    protocol: str
    path: str
    connections: int
    streams: int
    sources: list[str]
    requests: int = 0
    duration: float = 0.0
    rate: float = 0.0
    hold: bool = False
    open_rate: float = 0.0
    index: int = 0


def error_kind(exc: BaseException) -> str:
    """A short, stable name for a failure (``errors by kind`` in the summary)."""
    if isinstance(exc, OSError) and exc.errno is not None:
        import errno as errno_mod

        return errno_mod.errorcode.get(exc.errno, type(exc).__name__)
    if isinstance(exc, trio.TooSlowError):
        return "timeout"
    return type(exc).__name__


def lost_reason(driver: ConnectionDriver) -> str:
    """Why an established connection ended: the server's GOAWAY code, or ``closed``."""
    goaway = driver.goaway
    if goaway is None:
        return "closed"
    try:
        return "GOAWAY " + ErrorCode(goaway.error_code).name
    except ValueError:
        return f"GOAWAY {goaway.error_code}"


@attrs.define
class Stats:
    latency: Histogram = attrs.Factory(Histogram)
    setup: Histogram = attrs.Factory(Histogram)
    errors: dict[str, int] = attrs.Factory(dict)
    done: int = 0
    issued: int = 0
    open: int = 0
    opened: int = 0
    body_bytes: int = 0
    first_connect: float | None = None
    last_connect: float | None = None
    load_started: float | None = None
    load_ended: float | None = None

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


def emit(kind: str, **fields: object) -> None:
    sys.stdout.write(json.dumps({"type": kind, **fields}) + "\n")
    sys.stdout.flush()


class Worker:
    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self.stats = Stats()
        self.drivers: list[ConnectionDriver] = []
        self._established: set[ConnectionDriver] = set()
        #: Set once we close the connections ourselves (their ends are not errors).
        self.releasing = False
        self._family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
        self._headers = [
            (b":method", b"GET"),
            (b":path", config.path.encode()),
            (b":scheme", b"http"),
            (b":authority", f"{config.host}:{config.port}".encode()),
        ]

    # ---------------------------------------------------------------- connect

    async def connect(self, number: int, nursery: trio.Nursery) -> ConnectionDriver | None:
        config, stats = self.config, self.stats
        started = trio.current_time()
        if stats.first_connect is None:
            stats.first_connect = started
        sock = trio.socket.socket(self._family, socket.SOCK_STREAM)
        try:
            with trio.fail_after(CONNECT_TIMEOUT):
                if config.sources:
                    await sock.bind((config.sources[number % len(config.sources)], 0))
                await sock.connect((config.host, config.port))
                stream = trio.SocketStream(sock)
                driver = ConnectionDriver(stream, make_engine(config.protocol))  # type: ignore[arg-type]
                nursery.start_soon(self._run, driver)
                await driver.wait_ready()
            if driver.is_closed:
                raise ConnectionError(str(driver.error or "closed during the handshake"))
        except (OSError, trio.TooSlowError) as exc:
            sock.close()
            stats.error("connect: " + error_kind(exc))
            return None
        now = trio.current_time()
        stats.last_connect = now
        stats.setup.record(int((now - started) * 1e6))
        stats.opened += 1
        self.drivers.append(driver)
        self._established.add(driver)
        return driver

    async def _run(self, driver: ConnectionDriver) -> None:
        self.stats.open += 1
        try:
            await driver.run()
        finally:
            self.stats.open -= 1
            if driver in self._established and not self.releasing:
                self.stats.error("lost: " + lost_reason(driver))

    async def open_all(self, nursery: trio.Nursery, rate: float) -> None:
        limiter = trio.CapacityLimiter(MAX_CONNECTING)
        t0 = trio.current_time()

        async def one(number: int) -> None:
            async with limiter:
                await self.connect(number, nursery)

        async with trio.open_nursery() as openers:
            for number in range(self.config.connections):
                if rate > 0:
                    await trio.sleep_until(t0 + number / rate)
                openers.start_soon(one, number)

    # --------------------------------------------------------------- requests

    async def request(self, driver: ConnectionDriver, scheduled: float | None) -> None:
        stats = self.stats
        started = trio.current_time() if scheduled is None else scheduled
        try:
            stream = await driver.open_stream(self._headers, end_stream=True)
            headers = await stream.receive_headers()
            async for chunk in stream:
                stats.body_bytes += len(chunk)
        except Exception as exc:  # every failure is counted by kind
            stats.error(error_kind(exc))
            return
        status = next((v for k, v in headers if k == b":status"), b"?")
        if not status.startswith(b"2"):
            stats.error("status " + status.decode("ascii", "replace"))
            return
        stats.done += 1
        stats.latency.record(int((trio.current_time() - started) * 1e6))

    async def run_load(self) -> None:
        config, stats = self.config, self.stats
        send, receive = trio.open_memory_channel[float | None](math.inf)
        budget = config.requests or math.inf

        async def runner(
            driver: ConnectionDriver, jobs: trio.MemoryReceiveChannel[float | None]
        ) -> None:
            async with jobs:
                async for scheduled in jobs:
                    if driver.is_closed:
                        stats.error("connection lost")
                        return
                    await self.request(driver, scheduled)

        async def closed_loop(driver: ConnectionDriver) -> None:
            while stats.issued < budget and not driver.is_closed:
                stats.issued += 1
                await self.request(driver, None)

        stats.load_started = trio.current_time()
        end = stats.load_started + config.duration if config.duration else math.inf
        with trio.move_on_at(end):
            async with trio.open_nursery() as nursery:
                live = [d for d in self.drivers if not d.is_closed]
                if not config.rate:
                    send.close()
                    for driver in live:
                        for _ in range(config.streams):
                            nursery.start_soon(closed_loop, driver)
                else:
                    async with send:
                        for driver in live:
                            for _ in range(config.streams):
                                nursery.start_soon(runner, driver, receive.clone())
                        receive.close()
                        number = 0
                        while number < budget and live:
                            scheduled = stats.load_started + number / config.rate
                            await trio.sleep_until(scheduled)
                            send.send_nowait(scheduled)
                            stats.issued += 1
                            number += 1
        stats.load_ended = trio.current_time()

    # ----------------------------------------------------------------- report

    async def progress(self, stop: trio.Event) -> None:
        while not stop.is_set():
            with trio.move_on_after(PROGRESS_EVERY):
                await stop.wait()
            emit(
                "progress",
                open=self.stats.open,
                done=self.stats.done,
                errors=sum(self.stats.errors.values()),
            )

    def result(self) -> dict[str, object]:
        stats = self.stats
        return {
            "index": self.config.index,
            "opened": stats.opened,
            "done": stats.done,
            "errors": stats.errors,
            "latency": stats.latency.to_json(),
            "setup": stats.setup.to_json(),
            "setup_seconds": (
                stats.last_connect - stats.first_connect
                if stats.last_connect is not None and stats.first_connect is not None
                else 0.0
            ),
            "load_seconds": (stats.load_ended or 0.0) - (stats.load_started or 0.0),
            "body_bytes": stats.body_bytes,
        }


async def _wait_stdin_closed() -> None:
    await trio.to_thread.run_sync(sys.stdin.read, abandon_on_cancel=True)


async def main_async(config: WorkerConfig) -> None:
    worker = Worker(config)
    stop = trio.Event()
    async with trio.open_nursery() as outer:
        outer.start_soon(worker.progress, stop)
        async with trio.open_nursery() as conns:
            await worker.open_all(conns, config.open_rate)
            if config.hold:
                emit("held", open=worker.stats.open, opened=worker.stats.opened)
                await _wait_stdin_closed()
            else:
                await worker.run_load()
            worker.releasing = True
            for driver in worker.drivers:
                conns.start_soon(driver.aclose)
        stop.set()
    emit("result", **worker.result())


def raise_fd_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to the hard limit; return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def main(argv: list[str] | None = None, run: Callable[..., object] = trio.run) -> int:
    args = sys.argv[1:] if argv is None else argv
    config = WorkerConfig(**json.loads(args[0]))
    raise_fd_limit()
    run(main_async, config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
