"""Worker processes: N copies of a server accepting on one port (``--workers N``).

Theory of operation
-------------------
One Python process runs one Trio loop on one core. ``mux serve --workers N``
(and ``mux gateway --workers N``) scales out instead: a *supervisor* process
starts N *worker* processes, each a complete server, and the Linux kernel
spreads incoming connections over them because every worker's listening
socket sets ``SO_REUSEPORT`` before ``bind`` (:mod:`mux.reuseport`;
the kernel hashes each connection's address pair to one listener of the
group). A connection lives and dies in the worker that accepted it; workers
share nothing. Elsewhere than Linux, ``SO_REUSEPORT`` does not balance (or does
not exist), so :func:`effective_workers` says so and one process serves.

Each worker is the same command line run again (``python -m mux serve ...``)
with the hidden flag ``--worker-of INDEX/COUNT,ALIVE_FD,READY_FD``
(:class:`WorkerRole`). The supervisor validated the configuration before
spawning anything, so a worker only fails to start for a reason of its own.

The supervisor (:func:`run_supervisor`) is one Trio nursery that owns every
child: one task per worker slot spawns the worker, waits for it to say it is
listening, then waits for it to exit. Two pipes tie a worker to its supervisor:

* *ready*: a pipe per worker; once its listeners are open, the worker writes
  on it the stdout lines one process would print (``mux: serving on
  HOST:PORT``) and closes it. When every worker of the first generation is
  ready, the supervisor prints the first one's lines: the output is the same
  with one process or many. A first-generation worker that exits before it
  is ready stops the whole start (exit status 1): a configuration error would
  otherwise restart forever.
* *alive*: one pipe whose write end only the supervisor holds (close-on-exec,
  never passed on). Each worker watches the read end; it becomes readable
  (end of file) when the supervisor is gone, however it died, even by
  SIGKILL, and the worker then shuts down gracefully (bounded by its drain
  timeout). ``PR_SET_PDEATHSIG`` would not do: it fires when the *thread*
  that forked exits, and Trio forks from a worker thread that it retires.

A worker that exits while the supervisor is not stopping is logged and
started again in the same slot after a back-off (0.1 s, doubling to 10 s;
reset when the worker had stayed up :data:`STABLE_AFTER` seconds).

SIGTERM or SIGINT make the supervisor stop restarting and send SIGTERM to
every worker: each runs the graceful shutdown of one process (GOAWAY, in-flight
streams finish within the drain timeout). A worker still alive
:data:`KILL_GRACE` seconds after its drain timeout is killed. The supervisor
then exits 0. A second signal is forwarded as a second SIGTERM, which a
worker takes as "stop now". Workers run in their own process group, so a
Ctrl-C in a terminal reaches the supervisor only, which forwards it once. If
the supervisor's own loop fails or is cancelled, every child still running is
killed before it returns: nothing it started outlives it.

Port 0 with several workers: the supervisor binds once to choose the port
(:func:`mux.reuseport.reserve_port`) and keeps that socket (``SO_REUSEPORT``, bound, never
listening, so it receives no connections) for its lifetime, so a restarted
worker always finds the same port free to join; every worker is given that
port. A port held by another program, including another supervisor's
workers, is refused before any worker starts, with the usual one-line
"cannot listen" error.

Every process (supervisor, worker, or the only process with ``--workers 1``)
raises its soft ``RLIMIT_NOFILE`` to the hard limit at start
(:func:`raise_nofile_limit`) and logs what it got.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import attrs
import trio

from mux.reuseport import reserve_port, reuseport_balances

logger = logging.getLogger("mux.workers")

#: Most workers ``--workers`` accepts.
MAX_WORKERS = 256
#: First restart delay of a worker that died (seconds); doubles up to RESTART_DELAY_MAX.
RESTART_DELAY_MIN = 0.1
RESTART_DELAY_MAX = 10.0
#: A worker up at least this long (seconds) restarts after RESTART_DELAY_MIN again.
STABLE_AFTER = 10.0
#: Seconds a worker may outlive its drain timeout after SIGTERM before SIGKILL.
KILL_GRACE = 10.0
#: Name of the response header naming the worker (see :mod:`mux.server.workertag`).
WORKER_HEADER = b"mux-worker"
#: Most bytes of announcement a worker may send on its ready pipe.
_MAX_ANNOUNCEMENT = 65536


def parse_workers(value: str) -> int:
    """An argparse type for ``--workers``: 1..MAX_WORKERS, or ``auto`` (usable cores)."""
    if value == "auto":
        return available_cores()
    try:
        number = int(value, 10)
    except ValueError:
        number = 0
    if not 1 <= number <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(
            f"expected an integer in 1..{MAX_WORKERS} or 'auto', got {value!r}"
        )
    return number


def add_worker_arguments(parser: argparse.ArgumentParser, *, header: bool = True) -> None:
    """``--workers``, ``--worker-header`` (if ``header``) and the internal ``--worker-of``."""
    parser.add_argument(
        "--workers",
        type=parse_workers,
        default=1,
        metavar="N",
        help="worker processes sharing the port through SO_REUSEPORT (Linux), under a "
        "supervisor that restarts them and drains them all on SIGTERM; 'auto': one per core "
        "(default: 1)",
    )
    if header:
        parser.add_argument(
            "--worker-header",
            action="store_true",
            help="name the worker in a mux-worker response header (always on with --workers > 1)",
        )
    parser.add_argument("--worker-of", help=argparse.SUPPRESS)  # internal: WorkerRole


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where known)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def effective_workers(requested: int, prog: str) -> int:
    """``requested``, or 1 with a message on stderr where SO_REUSEPORT does not balance."""
    if requested > 1 and not reuseport_balances():
        print(
            f"{prog}: --workers {requested} needs Linux (SO_REUSEPORT spreads connections over "
            f"processes there; {sys.platform} does not): running one process",
            file=sys.stderr,
        )
        return 1
    return requested


@attrs.frozen
class NofileLimit:
    """What :func:`raise_nofile_limit` did: the soft limit before and after, the hard one."""

    before: int
    after: int
    hard: int
    #: Why the soft limit could not be raised (None: it could, or it already was).
    error: str | None = None

    def log(self, who: str) -> None:
        """Log the outcome (at start-up, once listening: a refused port stays one line)."""
        if self.error is not None:
            logger.warning(
                "%s: file descriptor limit stays %s (cannot raise it to %s: %s)",
                who,
                _limit(self.before),
                _limit(self.hard),
                self.error,
            )
        elif self.before == self.after:
            logger.info("%s: file descriptor limit %s (the hard limit)", who, _limit(self.after))
        else:
            logger.info(
                "%s: file descriptor limit raised from %s to %s (the hard limit)",
                who,
                _limit(self.before),
                _limit(self.after),
            )


def raise_nofile_limit() -> NofileLimit:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit (log it with ``.log``)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard
    if hard == resource.RLIM_INFINITY:  # macOS: the kernel's own cap applies
        target = min(os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 10240, 1 << 20)
    if soft == target:
        return NofileLimit(soft, soft, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as exc:
        return NofileLimit(soft, soft, hard, str(exc))
    return NofileLimit(soft, target, hard)


def _limit(value: int) -> str:
    return "unlimited" if value == resource.RLIM_INFINITY else str(value)


@attrs.frozen
class WorkerRole:
    """What a worker process is told by its supervisor (``--worker-of``).

    Attributes:
        index: this worker's slot, 1..count (a restarted worker keeps its slot).
        count: how many workers the supervisor runs.
        alive_fd: read end of the pipe that reaches end of file when the
            supervisor is gone.
        ready_fd: write end of the pipe on which this worker says it listens.
    """

    index: int
    count: int
    alive_fd: int
    ready_fd: int

    @classmethod
    def parse(cls, spec: str) -> WorkerRole:
        """Read ``INDEX/COUNT,ALIVE_FD,READY_FD`` (raises ValueError)."""
        try:
            slot, alive, ready = spec.split(",")
            index, count = slot.split("/")
            role = cls(int(index), int(count), int(alive), int(ready))
        except ValueError:
            raise ValueError(f"--worker-of is internal to --workers, got {spec!r}") from None
        if not 1 <= role.index <= role.count:
            raise ValueError(f"--worker-of: worker {role.index} of {role.count}?")
        for fd in (role.alive_fd, role.ready_fd):
            try:
                os.fstat(fd)
            except OSError:
                raise ValueError(f"--worker-of is internal to --workers (fd {fd}?)") from None
        return role

    @property
    def spec(self) -> str:
        """The ``--worker-of`` value that :meth:`parse` reads back."""
        return f"{self.index}/{self.count},{self.alive_fd},{self.ready_fd}"

    @property
    def name(self) -> str:
        """``worker 2 (pid 1234)``, as log lines name this process."""
        return f"worker {self.index} (pid {os.getpid()})"

    def ready(
        self, addresses: Sequence[str], announce: Sequence[str], nofile: NofileLimit | None = None
    ) -> None:
        """Log that this worker listens and tell the supervisor (once).

        ``announce`` are the stdout lines one process would print now
        (``mux: serving on ...``): the supervisor prints the first worker's
        once every worker is ready, so the output is the same either way.
        """
        if nofile is not None:
            nofile.log(self.name)
        logger.info("%s listening on %s", self.name, ", ".join(addresses))
        try:
            payload = "".join(f"{line}\n" for line in announce).encode()
            os.write(self.ready_fd, payload or b"\n")  # any byte means "ready"
            os.close(self.ready_fd)
        except OSError as exc:  # the supervisor is gone: watch_supervisor acts on it
            logger.warning("%s: cannot report to the supervisor (%s)", self.name, exc)

    async def watch_supervisor(self, on_gone: Callable[[], None]) -> None:
        """Call ``on_gone`` when the supervisor process is gone (then return)."""
        await trio.lowlevel.wait_readable(self.alive_fd)
        logger.warning("%s: the supervisor is gone; shutting down", self.name)
        on_gone()


def run_supervisor(
    command: Sequence[str],
    workers: int,
    *,
    listen: tuple[str, int] | None,
    drain_timeout: float,
    prog: str,
    tasks: Sequence[Callable[[], Awaitable[None]]] = (),
    on_exit: Callable[[int], None] | None = None,
    forward: Sequence[signal.Signals] = (),
) -> int:
    """Run ``workers`` copies of ``python -m mux COMMAND`` until SIGTERM/SIGINT; exit status.

    Args:
        command: the ``mux`` arguments of one worker (e.g. ``["serve", ...]``);
            ``--worker-of`` is appended, and ``--listen HOST:PORT`` too when
            ``listen`` is given (the last ``--listen`` wins).
        workers: how many worker processes (>= 1).
        listen: the address the workers will share, checked and held here
            (port 0: chosen here); None when the command names its own.
        drain_timeout: the workers' drain timeout (bounds the wait at shutdown).
        prog: the program name used in messages (``mux serve``).
        tasks: more tasks of the supervisor (its admin listener), cancelled
            once every worker stopped.
        on_exit: called with the pid of each worker that exited.
        forward: signals passed on to every worker (the gateway's SIGHUP: reload).
    """
    nofile = raise_nofile_limit()
    hold: socket.socket | None = None
    argv = [sys.executable, "-m", "mux", *command]
    if listen is not None:
        host, port = listen
        try:
            hold, port = reserve_port(host, port)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            print(f"{prog}: cannot listen on {host}:{port}: {reason}", file=sys.stderr)
            return 1
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        argv += ["--listen", address]
    nofile.log("supervisor")
    supervisor = _Supervisor(argv, workers, drain_timeout, prog, tasks, on_exit, forward)
    try:
        return trio.run(supervisor.run)
    finally:
        supervisor.close()
        if hold is not None:
            hold.close()


def describe_exit(returncode: int) -> str:
    """``exited with status 2`` or ``killed by SIGKILL``."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with status {returncode}"


class _Supervisor:
    """The supervisor's state; :meth:`run` is its Trio main (see the module docstring)."""

    def __init__(
        self,
        argv: list[str],
        count: int,
        drain_timeout: float,
        prog: str,
        tasks: Sequence[Callable[[], Awaitable[None]]] = (),
        on_exit: Callable[[int], None] | None = None,
        forward: Sequence[signal.Signals] = (),
    ) -> None:
        self._forward = frozenset(forward)
        self._tasks = tasks
        self._on_exit = on_exit
        self._argv = argv
        self._count = count
        self._drain_timeout = drain_timeout
        self._prog = prog
        self._announcement = b""
        self._alive_read, self._alive_write = os.pipe()
        self._procs: dict[int, trio.Process] = {}
        self._stopping = trio.Event()
        self._first_ready = 0
        self._failure: str | None = None
        self._nursery: trio.Nursery | None = None

    def close(self) -> None:
        """Close the alive pipe: every worker still running starts shutting down."""
        for fd in (self._alive_write, self._alive_read):
            try:
                os.close(fd)
            except OSError:
                pass

    async def run(self) -> int:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, *self._forward) as signals:
            async with trio.open_nursery() as outer:
                self._nursery = outer
                outer.start_soon(self._watch_signals, signals)
                for task in self._tasks:
                    outer.start_soon(task)
                async with trio.open_nursery() as slots:
                    for index in range(1, self._count + 1):
                        slots.start_soon(self._keep, index)
                outer.cancel_scope.cancel()
        if self._failure is not None:
            print(f"{self._prog}: {self._failure}", file=sys.stderr)
            return 1
        logger.info("supervisor: every worker stopped")
        return 0

    async def _watch_signals(self, signals: AsyncIterator[int]) -> None:
        async for signum in signals:
            name = signal.Signals(signum).name
            if signum in self._forward:
                logger.info("supervisor: %s: passed on to every worker", name)
                self._signal_all(signum)
                continue
            if not self._stopping.is_set():
                logger.info("supervisor: %s: draining %d worker(s)", name, len(self._procs))
                self._stop()
            else:
                logger.warning("supervisor: second signal (%s): stopping workers now", name)
                self._signal_all(signal.SIGTERM)

    def _stop(self) -> None:
        """Stop restarting; SIGTERM every worker; SIGKILL those left after the deadline."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._signal_all(signal.SIGTERM)
        assert self._nursery is not None
        self._nursery.start_soon(self._kill_after_deadline)

    def _signal_all(self, signum: int) -> None:
        for proc in list(self._procs.values()):
            if proc.returncode is None:
                proc.send_signal(signum)

    async def _kill_after_deadline(self) -> None:
        await trio.sleep(self._drain_timeout + KILL_GRACE)
        for index, proc in list(self._procs.items()):
            if proc.returncode is None:
                logger.error("worker %d (pid %d) did not stop in time: killed", index, proc.pid)
                proc.kill()

    async def _keep(self, index: int) -> None:
        """Run slot ``index``: start its worker, restart it when it dies."""
        delay = RESTART_DELAY_MIN
        generation = 0
        while not self._stopping.is_set():
            started = trio.current_time()
            try:
                pid, returncode, was_ready = await self._run_worker(index, first=generation == 0)
                what = f"worker {index} (pid {pid}) {describe_exit(returncode)}"
            except OSError as exc:  # fork or exec failed (EAGAIN, ENOMEM, ...)
                was_ready, what = False, f"worker {index} cannot start ({exc})"
            if self._stopping.is_set():
                return
            if generation == 0 and not was_ready:
                self._failure = f"{what} before it was listening; stopping"
                self._stop()
                return
            generation += 1
            if trio.current_time() - started >= STABLE_AFTER:
                delay = RESTART_DELAY_MIN
            logger.warning("%s; restarting it in %.1f s", what, delay)
            with trio.move_on_after(delay):
                await self._stopping.wait()
            delay = min(delay * 2, RESTART_DELAY_MAX)

    async def _run_worker(self, index: int, *, first: bool) -> tuple[int, int, bool]:
        """Start the worker of slot ``index`` and wait for it to exit: (pid, status, was ready)."""
        ready_read, ready_write = os.pipe()
        role = WorkerRole(index, self._count, self._alive_read, ready_write)
        try:
            proc = await trio.lowlevel.open_process(
                [*self._argv, "--worker-of", role.spec],
                pass_fds=(self._alive_read, ready_write),
                process_group=0,  # a terminal's Ctrl-C reaches the supervisor only
            )
        except BaseException:
            os.close(ready_read)
            raise
        finally:
            os.close(ready_write)
        self._procs[index] = proc
        ready = False
        try:
            if self._stopping.is_set():
                proc.send_signal(signal.SIGTERM)
            async with trio.lowlevel.FdStream(ready_read) as pipe:
                announcement = await _read_all(pipe)
            ready = bool(announcement)
            if ready and first:
                self._first_ready += 1
                self._announcement = self._announcement or announcement
                if self._first_ready == self._count:
                    sys.stdout.write(self._announcement.decode(errors="replace"))
                    sys.stdout.flush()
                    logger.info("supervisor (pid %d): %d workers ready", os.getpid(), self._count)
            await proc.wait()
        finally:
            del self._procs[index]
            if proc.returncode is None:  # the supervisor is failing or cancelled
                proc.kill()
                with trio.CancelScope(shield=True):
                    await proc.wait()
            if self._on_exit is not None:
                self._on_exit(proc.pid)
        returncode = proc.returncode
        assert returncode is not None  # waited for above
        return proc.pid, returncode, ready


async def _read_all(stream: trio.lowlevel.FdStream) -> bytes:
    """Everything until end of file (at most _MAX_ANNOUNCEMENT bytes)."""
    data = b""
    while len(data) < _MAX_ANNOUNCEMENT:
        chunk = await stream.receive_some(_MAX_ANNOUNCEMENT - len(data))
        if not chunk:
            break
        data += chunk
    return data
