"""``mux serve --workers N``: real supervisor and worker processes on loopback.

Each test starts the real command line as a subprocess, reads its log lines
(``worker 2 (pid N) listening on ...``) and talks to it over loopback TCP;
every process it starts (the supervisor and each worker it saw) is killed
when the test ends, whatever happened.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trio

import mux_client
from mux.reuseport import reuseport_balances
from mux.workers import WorkerRole, parse_workers

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'clients' / 'python'}"}
LISTENING = re.compile(r"worker (\d+) \(pid (\d+)\) listening on 127\.0\.0\.1:(\d+)")

pytestmark = pytest.mark.skipif(not reuseport_balances(), reason="SO_REUSEPORT balancing: Linux")


class Supervised:
    """A ``mux serve`` subprocess whose stdout and stderr lines are collected by threads."""

    def __init__(
        self,
        argv: list[str],
        *,
        cwd: Path = ROOT,
        preexec: Callable[[], None] | None = None,
        command: str = "serve",
    ) -> None:
        command_line = [sys.executable, "-m", "mux", command, "--log-level", "INFO", *argv]
        self.proc = subprocess.Popen(
            command_line,
            cwd=cwd,
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=preexec,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        for pipe, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._collect, args=(pipe, lines), daemon=True).start()

    @staticmethod
    def _collect(pipe: object, lines: list[str]) -> None:
        for line in pipe:  # type: ignore[attr-defined]
            lines.append(line)

    async def line(
        self, pattern: str, *, source: str = "err", after: int = 0, nth: int = 1
    ) -> re.Match[str]:
        """The ``nth`` line (from index ``after``) matching ``pattern``; waits up to 30 s."""
        lines = self.err if source == "err" else self.out
        with trio.fail_after(30):
            while True:
                matches = [m for m in (re.search(pattern, line) for line in lines[after:]) if m]
                if len(matches) >= nth:
                    return matches[nth - 1]
                if self.proc.poll() is not None and not self._pending():
                    raise AssertionError(f"exited {self.proc.returncode}:\n{self.log}")
                await trio.sleep(0.05)

    def _pending(self) -> bool:
        return bool(self.proc.stdout and not self.proc.stdout.closed and self.proc.poll() is None)

    async def port(self) -> int:
        """The port from the supervisor's ``mux: serving on`` line."""
        found = await self.line(r"^mux: serving on 127\.0\.0\.1:(\d+)$", source="out")
        await self.line(rf"supervisor \(pid {self.proc.pid}\): \d+ workers ready")
        return int(found[1])

    def workers(self) -> dict[int, int]:
        """Worker slot -> pid, from the latest ``listening`` line of each slot."""
        return {int(m[1]): int(m[2]) for m in map(LISTENING.search, self.err) if m}

    @property
    def log(self) -> str:
        return "".join(self.out + self.err)

    def stop(self) -> None:
        """Kill the supervisor and every worker it logged (still ours, still alive)."""
        self.proc.kill()
        self.proc.wait()
        for pid in {int(m[2]) for m in map(LISTENING.search, self.err) if m}:
            if _is_worker(pid):
                os.kill(pid, signal.SIGKILL)


def _is_worker(pid: int) -> bool:
    """True while ``pid`` is alive and is a ``--worker-of`` process (not a reused pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return b"--worker-of" in cmdline and state != "Z"


@contextlib.contextmanager
def supervised(argv: list[str], **kwargs: object) -> Iterator[Supervised]:
    process = Supervised(argv, **kwargs)  # type: ignore[arg-type]
    try:
        yield process
    finally:
        process.stop()


async def _worker_of_new_connection(port: int) -> str:
    """GET /healthz over a new connection; the ``mux-worker`` header of the answer."""
    async with mux_client.connect(f"127.0.0.1:{port}", timeout=10) as client:
        response = await client.request("GET", "/healthz")
        assert response.status == 200
        return response.headers["mux-worker"]


async def _all_serve(port: int, count: int) -> set[str]:
    """Open connections until every worker answered one (bounded): the workers seen."""
    seen: set[str] = set()
    for _ in range(80):  # the kernel hashes each connection: 2**-79 to miss one of 2
        seen.add(await _worker_of_new_connection(port))
        if len(seen) == count:
            break
    return seen


def _nofile(pid: int) -> tuple[int, int]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError("no 'Max open files' line")


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _low_soft_limit() -> None:
    """preexec_fn: start the command with a soft fd limit below the hard one."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))


async def test_workers_share_the_port_all_serve_and_raise_the_fd_limit() -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    argv = ["--listen", "127.0.0.1:0", "--workers", "2"]
    with supervised(argv, preexec=_low_soft_limit) as sup:
        port = await sup.port()
        workers = sup.workers()
        assert sorted(workers) == [1, 2]
        assert all(f"listening on 127.0.0.1:{port}" in sup.log for _ in workers)
        assert {_parent(pid) for pid in workers.values()} == {sup.proc.pid}
        assert await _all_serve(port, 2) == {"1", "2"}
        if hard > 256:
            assert "supervisor: file descriptor limit raised from 256 to" in sup.log
        for pid in [sup.proc.pid, *workers.values()]:
            assert _nofile(pid) == (hard, hard)
        for index, pid in workers.items():
            logged = f"worker {index} (pid {pid}): file descriptor limit {hard} (the hard limit)"
            assert logged in sup.log


async def test_a_killed_worker_is_replaced() -> None:
    with supervised(["--listen", "127.0.0.1:0", "--workers", "2"]) as sup:
        port = await sup.port()
        old = sup.workers()[2]
        mark = len(sup.err)
        os.kill(old, signal.SIGKILL)
        await sup.line(rf"worker 2 \(pid {old}\) killed by SIGKILL; restarting it in", after=mark)
        new = int((await sup.line(r"worker 2 \(pid (\d+)\) listening on", after=mark))[1])
        assert new != old
        assert _parent(new) == sup.proc.pid
        assert not _is_worker(old)
        assert await _all_serve(port, 2) == {"1", "2"}  # slot 2 is the new process
        sup.proc.send_signal(signal.SIGINT)  # Ctrl-C: the supervisor drains every worker
        with trio.fail_after(30):
            assert await trio.to_thread.run_sync(sup.proc.wait) == 0
        assert "supervisor: SIGINT: draining 2 worker(s)" in sup.log
        assert not _is_worker(new) and not _is_worker(sup.workers()[1])


async def test_sigterm_drains_every_worker() -> None:
    argv = ["--listen", "127.0.0.1:0", "--workers", "2", "--drain-timeout", "10"]
    with supervised(argv) as sup:
        port = await sup.port()
        workers = sup.workers()
        results: dict[str, tuple[int, bytes]] = {}
        async with contextlib.AsyncExitStack() as stack:
            clients: dict[str, mux_client.Client] = {}
            for _ in range(80):  # one connection to each worker
                client = await stack.enter_async_context(
                    mux_client.connect(f"127.0.0.1:{port}", timeout=20)
                )
                worker = (await client.request("GET", "/healthz")).headers["mux-worker"]
                clients.setdefault(worker, client)
                if len(clients) == 2:
                    break
            assert sorted(clients) == ["1", "2"]

            async def slow(worker: str, client: mux_client.Client) -> None:
                response = await client.request("GET", "/delay/1500")
                results[worker] = (response.status, response.body)

            async with trio.open_nursery() as nursery:
                for worker, client in clients.items():
                    nursery.start_soon(slow, worker, client)
                await trio.sleep(0.5)  # both requests are in flight
                sup.proc.send_signal(signal.SIGTERM)
        assert results == {w: (200, b'{"delay_ms": 1500}\n') for w in ("1", "2")}, sup.log
        with trio.fail_after(30):
            code = await trio.to_thread.run_sync(sup.proc.wait)
        assert code == 0, sup.log
        assert "supervisor: SIGTERM: draining 2 worker(s)" in sup.log
        assert sup.log.count("mux.server SIGTERM: graceful shutdown") == 2
        assert not any(_is_worker(pid) for pid in workers.values())


async def test_workers_stop_when_the_supervisor_is_killed() -> None:
    with supervised(["--listen", "127.0.0.1:0", "--workers", "2"]) as sup:
        await sup.port()
        workers = sup.workers()
        exits = [os.pidfd_open(pid) for pid in workers.values()]
        try:
            sup.proc.kill()
            with trio.fail_after(20):
                for pidfd in exits:  # readable once that process exited
                    await trio.lowlevel.wait_readable(pidfd)
        finally:
            for pidfd in exits:
                os.close(pidfd)
        assert not any(_is_worker(pid) for pid in workers.values())
        assert sup.log.count("the supervisor is gone; shutting down") == 2


async def test_a_worker_failing_at_start_stops_the_supervisor(tmp_path: Path) -> None:
    # Imports in the supervisor (which checks --app), fails in a worker.
    (tmp_path / "onlyonce.py").write_text(
        "import sys\n"
        "if '--worker-of' in sys.argv:\n"
        "    raise SystemExit(7)\n"
        "from mux.server.demo import app\n"
    )
    argv = ["--listen", "127.0.0.1:0", "--workers", "2", "--app", "onlyonce:app"]
    with supervised(argv, cwd=tmp_path) as sup:
        with trio.fail_after(30):
            code = await trio.to_thread.run_sync(sup.proc.wait)
        assert code == 1
        assert re.search(
            r"worker \d \(pid \d+\) exited with status 7 before it was listening", sup.log
        )
        assert "mux: serving on" not in sup.log


async def test_a_port_in_use_is_refused_before_any_worker_starts() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with supervised(["--listen", f"127.0.0.1:{port}", "--workers", "2"]) as sup:
            with trio.fail_after(30):
                code = await trio.to_thread.run_sync(sup.proc.wait)
            assert code == 1
            assert (
                f"mux serve: cannot listen on 127.0.0.1:{port}: Address already in use" in sup.log
            )
            assert not sup.workers()


async def test_one_process_raises_its_fd_limit_and_can_name_itself() -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    argv = ["--listen", "127.0.0.1:0", "--worker-header"]
    with supervised(argv, preexec=_low_soft_limit) as sup:
        found = await sup.line(r"^mux: serving on 127\.0\.0\.1:(\d+)$", source="out")
        assert await _worker_of_new_connection(int(found[1])) == "1"
        assert _nofile(sup.proc.pid) == (hard, hard)
        assert "mux serve: file descriptor limit" in sup.log


def test_parse_workers_and_role() -> None:
    assert parse_workers("3") == 3
    assert parse_workers("auto") >= 1
    for bad in ("0", "-1", "many", "100000"):
        with pytest.raises(Exception, match=r"1\.\.256 or 'auto'"):
            parse_workers(bad)
    role = WorkerRole(2, 4, 0, 1)
    assert WorkerRole.parse(role.spec) == role
    with pytest.raises(ValueError, match="internal to --workers"):
        WorkerRole.parse("nonsense")


async def test_gateway_workers_share_the_port_and_drain() -> None:
    argv = ["--listen", "127.0.0.1:0", "--admin", "off", "--workers", "2", "--drain-timeout", "5"]
    with supervised(argv, command="gateway") as sup:
        found = await sup.line(r"^mux gateway: listening on 127\.0\.0\.1:(\d+)$", source="out")
        port = int(found[1])
        await sup.line(rf"supervisor \(pid {sup.proc.pid}\): 2 workers ready")
        workers = sup.workers()
        assert sorted(workers) == [1, 2]
        ports = [int(m[3]) for m in map(LISTENING.search, sup.err) if m]
        assert ports == [port, port]
        for _ in range(4):  # through the gateway to its demo upstream, new connections
            async with mux_client.connect(f"127.0.0.1:{port}", timeout=10) as client:
                response = await client.request("POST", "/echo", body=b"via a worker")
                assert (response.status, response.body) == (200, b"via a worker")
        sup.proc.send_signal(signal.SIGTERM)
        with trio.fail_after(30):
            assert await trio.to_thread.run_sync(sup.proc.wait) == 0
        assert sup.log.count("mux.gateway SIGTERM: graceful shutdown") == 2
        assert not any(_is_worker(pid) for pid in workers.values())


async def test_a_second_signal_stops_the_workers_at_once() -> None:
    argv = ["--listen", "127.0.0.1:0", "--workers", "2", "--drain-timeout", "60"]
    with supervised(argv) as sup:
        port = await sup.port()
        workers = sup.workers()
        async with mux_client.connect(f"127.0.0.1:{port}", timeout=30) as client:
            failed: list[BaseException] = []

            async def stuck() -> None:  # would hold the drain for 30 s
                try:
                    await client.request("GET", "/delay/30000")
                except Exception as exc:
                    failed.append(exc)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(stuck)
                await trio.sleep(0.5)
                sup.proc.send_signal(signal.SIGTERM)
                await sup.line("supervisor: SIGTERM: draining 2 worker")
                await sup.line(r"connection\(s\) to drain", nth=2)  # both workers draining
                sup.proc.send_signal(signal.SIGTERM)
                with trio.fail_after(20):  # far below the 30 s request and 60 s drain
                    assert await trio.to_thread.run_sync(sup.proc.wait) == 0
        assert failed, "the stuck request was cut short"
        assert "supervisor: second signal (SIGTERM): stopping workers now" in sup.log
        assert not any(_is_worker(pid) for pid in workers.values())
