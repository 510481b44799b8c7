"""``mux doctor``: will this machine hold N sessions? Read the limits, say which one bites.

Theory of operation
-------------------
A server's concurrency is bound by file descriptors, memory per connection and the
kernel's tables, not by the 65,535 port numbers; a *client* host is bound by its
ephemeral ports per source address. :func:`read_machine` reads everything that decides
this from a root directory (``/`` by default; tests pass a faked tree):

* ``proc/self/limits`` (``RLIMIT_NOFILE`` soft and hard of this process: what a child
  started from the same shell inherits);
* ``proc/sys/fs/{nr_open,file-max,file-nr}``, ``proc/sys/net/core/somaxconn``,
  ``proc/sys/net/ipv4/{tcp_max_syn_backlog,ip_local_port_range,tcp_tw_reuse,tcp_mem}``,
  ``proc/sys/net/netfilter/nf_conntrack_max`` (only when conntrack is loaded);
* ``proc/meminfo`` (``MemAvailable``).

:func:`check` then compares a :class:`Machine` against N sessions and returns one
:class:`Check` per limit: OK, WARN (works, but degraded or needs care) or FAIL (cannot
work as configured), each with the exact command or sysctl line that fixes it. Nothing
here changes the machine. ``mux bench`` refuses impossible runs with the same
arithmetic (:func:`fds_needed`, :func:`ports_per_source`).

Cost per session (server side) is the measured RSS growth of ``mux serve`` per idle
connection (:data:`SERVER_BYTES_PER_SESSION`, from ``bench/RESULTS.md`` (b)) plus the
kernel's cost of one idle TCP socket (:data:`KERNEL_BYTES_PER_SOCKET`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Final, Literal

import attrs

Status = Literal["OK", "WARN", "FAIL"]

#: The listen backlog mux asks for: ``mux/server/server.py`` calls
#: ``trio.open_tcp_listeners(port, host=...)`` without ``backlog``, and trio then asks
#: for 0xFFFF; the kernel silently caps it at ``net.core.somaxconn``.
LISTEN_BACKLOG: Final = 0xFFFF
#: Server RSS growth per idle session, bytes: ``bench/RESULTS.md`` section (b),
#: 10,000 idle connections: mux/msgpack 3.04 KiB, h2c 5.69 KiB (rounded up).
SERVER_BYTES_PER_SESSION: Final[dict[str, int]] = {"mux": 3 * 1024 + 64, "h2": 6 * 1024}
#: Kernel memory per idle TCP socket, bytes: /proc/slabinfo growth while 10,000 idle
#: loopback connections (20,000 sockets) were held, per socket: TCP 2,368 + sock_inode
#: 832 + dentry 192 + filp 192 + ~2.3 eventpoll items x 128 = ~3.9 KiB (rounded up; no
#: buffers while idle). ``bench/RESULTS.md``, section "mux bench --hold".
KERNEL_BYTES_PER_SOCKET: Final = 4 * 1024
#: File descriptors a process keeps for itself (listeners, epoll, pipes, logs, stdio).
FD_RESERVE: Final = 64
#: A session with data in flight holds at least one page of socket buffer (tcp_mem).
PAGES_PER_BUSY_SESSION: Final = 1
#: Above this share of MemAvailable the memory check warns.
MEMORY_WARN_SHARE: Final = 0.8


@attrs.frozen
class Check:
    """One limit compared with what N sessions need."""

    name: str
    status: Status
    value: str
    need: str
    fix: str = ""


@attrs.frozen
class Machine:
    """What :func:`read_machine` found (None: not present on this machine)."""

    fd_soft: int
    fd_hard: int
    nr_open: int | None
    file_max: int | None
    files_allocated: int | None
    somaxconn: int | None
    syn_backlog: int | None
    port_range: tuple[int, int] | None
    tw_reuse: int | None
    conntrack_max: int | None
    tcp_mem: tuple[int, int, int] | None
    mem_available: int | None
    page_size: int = 4096


def _read(root: Path, rel: str) -> str | None:
    try:
        return (root / rel).read_text()
    except OSError:
        return None


def _ints(root: Path, rel: str) -> list[int] | None:
    text = _read(root, rel)
    if text is None:
        return None
    try:
        return [int(word) for word in text.split()]
    except ValueError:
        return None


def _one(root: Path, rel: str) -> int | None:
    values = _ints(root, rel)
    return values[0] if values else None


def _fd_limits(root: Path) -> tuple[int, int]:
    """Soft and hard RLIMIT_NOFILE from ``proc/self/limits`` ("unlimited" → 2**31)."""
    text = _read(root, "proc/self/limits") or ""
    for line in text.splitlines():
        if line.startswith("Max open files"):
            words = line[len("Max open files") :].split()

            def parse(word: str) -> int:
                return 2**31 if word == "unlimited" else int(word)

            return parse(words[0]), parse(words[1])
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft, hard


def read_machine(root: str | Path = "/") -> Machine:
    """Read the limits that bound the number of sessions (see the module docstring)."""
    base = Path(root)
    soft, hard = _fd_limits(base)
    ports = _ints(base, "proc/sys/net/ipv4/ip_local_port_range")
    tcp_mem = _ints(base, "proc/sys/net/ipv4/tcp_mem")
    file_nr = _ints(base, "proc/sys/fs/file-nr")
    available = None
    for line in (_read(base, "proc/meminfo") or "").splitlines():
        if line.startswith("MemAvailable:"):
            available = int(line.split()[1]) * 1024
    return Machine(
        fd_soft=soft,
        fd_hard=hard,
        nr_open=_one(base, "proc/sys/fs/nr_open"),
        file_max=_one(base, "proc/sys/fs/file-max"),
        files_allocated=file_nr[0] if file_nr else None,
        somaxconn=_one(base, "proc/sys/net/core/somaxconn"),
        syn_backlog=_one(base, "proc/sys/net/ipv4/tcp_max_syn_backlog"),
        port_range=(ports[0], ports[1]) if ports and len(ports) == 2 else None,
        tw_reuse=_one(base, "proc/sys/net/ipv4/tcp_tw_reuse"),
        conntrack_max=_one(base, "proc/sys/net/netfilter/nf_conntrack_max"),
        tcp_mem=(tcp_mem[0], tcp_mem[1], tcp_mem[2]) if tcp_mem and len(tcp_mem) == 3 else None,
        mem_available=available,
    )


# ---------------------------------------------------------------- shared arithmetic


def fds_needed(sessions: int) -> int:
    """File descriptors one process needs to hold ``sessions`` connections."""
    return sessions + FD_RESERVE


def sessions_per_process(fd_limit: int) -> int:
    """Connections one process can hold under an fd limit."""
    return max(0, fd_limit - FD_RESERVE)


def workers_needed(sessions: int, fd_limit: int) -> int:
    """Processes needed to hold ``sessions`` at ``fd_limit`` fds each (0: impossible)."""
    per = sessions_per_process(fd_limit)
    return math.ceil(sessions / per) if per else 0


def ports_per_source(machine: Machine) -> int:
    """Ephemeral ports, hence connections, one client source address can have at once.

    A socket bound to ``(address, 0)`` before ``connect`` takes a port unique to that
    address, whatever the destination.
    """
    if machine.port_range is None:
        return 65535 - 1024 + 1
    low, high = machine.port_range
    return max(0, high - low + 1)


def sources_needed(sessions: int, machine: Machine) -> int:
    """Source addresses a load generator needs to open ``sessions`` connections."""
    ports = ports_per_source(machine)
    return math.ceil(sessions / ports) if ports else 0


def bytes_per_session(protocol: str = "mux") -> int:
    """Server memory per idle session, user space (RSS) plus kernel socket."""
    return SERVER_BYTES_PER_SESSION[protocol] + KERNEL_BYTES_PER_SOCKET


def _fmt(number: float) -> str:
    return f"{number:,.0f}"


def _mib(number: float) -> str:
    return f"{number / 2**20:,.0f} MiB"


# ------------------------------------------------------------------------- checks


def check(machine: Machine, sessions: int, protocol: str = "mux") -> list[Check]:
    """Compare ``machine`` with what ``sessions`` server sessions need (never changes it)."""
    need_fds = fds_needed(sessions)
    out: list[Check] = []
    add = out.append

    # ---- file descriptors, per process and system-wide
    if machine.fd_soft >= need_fds:
        add(Check("fd soft limit", "OK", _fmt(machine.fd_soft), _fmt(need_fds)))
    else:
        target = min(machine.fd_hard, need_fds)
        add(
            Check(
                "fd soft limit",
                "WARN",
                _fmt(machine.fd_soft),
                f"{_fmt(need_fds)} in one process",
                f"ulimit -n {target}  (mux serve and mux bench raise their soft limit to the "
                "hard one at start; other programs need this)"
                if machine.fd_soft < target
                else "already at the hard limit: see fd hard limit",
            )
        )
    workers = workers_needed(sessions, machine.fd_hard)
    if machine.fd_hard >= need_fds:
        add(Check("fd hard limit", "OK", _fmt(machine.fd_hard), _fmt(need_fds)))
    else:
        add(
            Check(
                "fd hard limit",
                "WARN",
                _fmt(machine.fd_hard),
                f"{_fmt(need_fds)} in one process",
                f"mux serve --workers {workers}  (or raise it: '* hard nofile {need_fds}' in "
                f"/etc/security/limits.conf, or LimitNOFILE={need_fds} in a systemd unit)",
            )
        )
    add(
        Check(
            "worker processes",
            "OK" if workers == 1 else "WARN",
            f"{_fmt(sessions_per_process(machine.fd_hard))} sessions per process at "
            f"{_fmt(machine.fd_hard)} fds",
            f"{workers} for {_fmt(sessions)} sessions",
            "" if workers == 1 else f"mux serve --workers {workers}",
        )
    )
    if machine.nr_open is not None:
        ok = machine.nr_open >= need_fds
        add(
            Check(
                "fs.nr_open",
                "OK" if ok else "WARN",
                _fmt(machine.nr_open),
                f"{_fmt(need_fds)} to hold them in one process",
                "" if ok else f"sysctl -w fs.nr_open={need_fds}  (or use --workers)",
            )
        )
    if machine.file_max is not None:
        in_use = machine.files_allocated or 0
        need_sys = in_use + sessions
        ok = machine.file_max >= need_sys
        add(
            Check(
                "fs.file-max",
                "OK" if ok else "FAIL",
                _fmt(machine.file_max),
                f"{_fmt(need_sys)} ({_fmt(in_use)} in use + {_fmt(sessions)}; twice the "
                "sessions if the load generator runs here)",
                "" if ok else f"sysctl -w fs.file-max={2 * need_sys}",
            )
        )

    # ---- accept queue
    backlog_need = min(LISTEN_BACKLOG, sessions)
    for name, value in (
        ("net.core.somaxconn", machine.somaxconn),
        ("net.ipv4.tcp_max_syn_backlog", machine.syn_backlog),
    ):
        if value is None:
            continue
        ok = value >= backlog_need
        add(
            Check(
                name,
                "OK" if ok else "WARN",
                _fmt(value),
                f"{_fmt(backlog_need)}: mux asks for backlog {LISTEN_BACKLOG}, the kernel caps "
                "it at somaxconn; a burst beyond it waits a 1 s SYN retry",
                "" if ok else f"sysctl -w {name}={backlog_need}",
            )
        )

    # ---- client side: ports per source address, TIME_WAIT reuse
    ports = ports_per_source(machine)
    sources = sources_needed(sessions, machine)
    range_text = (
        f"{machine.port_range[0]}-{machine.port_range[1]} ({_fmt(ports)} ports per source address)"
        if machine.port_range
        else "unknown"
    )
    add(
        Check(
            "net.ipv4.ip_local_port_range",
            "OK" if sources <= 1 else "WARN",
            range_text,
            f"{sources} client source address(es) for {_fmt(sessions)} connections",
            ""
            if sources <= 1
            else f"mux bench --sources 127.0.0.2-127.0.0.{1 + sources}  (and/or sysctl -w "
            'net.ipv4.ip_local_port_range="1024 65535")',
        )
    )
    if machine.tw_reuse is not None:
        ok = machine.tw_reuse in (1, 2)
        what = {0: "off", 1: "on", 2: "loopback only"}.get(machine.tw_reuse, "?")
        add(
            Check(
                "net.ipv4.tcp_tw_reuse",
                "OK" if ok else "WARN",
                f"{machine.tw_reuse} ({what})",
                "1 or 2 so a load generator can reconnect from ports in TIME_WAIT",
                "" if ok else "sysctl -w net.ipv4.tcp_tw_reuse=1",
            )
        )

    # ---- kernel tables and memory
    if machine.conntrack_max is not None:
        ok = machine.conntrack_max >= sessions
        add(
            Check(
                "net.netfilter.nf_conntrack_max",
                "OK" if ok else "FAIL",
                _fmt(machine.conntrack_max),
                f"{_fmt(sessions)} (conntrack is loaded: one entry per connection; a full "
                "table drops new connections)",
                "" if ok else f"sysctl -w net.netfilter.nf_conntrack_max={2 * sessions}",
            )
        )
    if machine.tcp_mem is not None:
        low, pressure, high = machine.tcp_mem
        busy = sessions * PAGES_PER_BUSY_SESSION
        ok = busy <= pressure
        add(
            Check(
                "net.ipv4.tcp_mem",
                "OK" if ok else "WARN",
                f"{low} {pressure} {high} pages (pressure at {_mib(pressure * machine.page_size)})",
                f"{_fmt(busy)} pages if every session has one page of data in flight",
                ""
                if ok
                else f'sysctl -w net.ipv4.tcp_mem="{busy} {busy * 4 // 3} {busy * 2}"  '
                "(idle sessions hold no buffers)",
            )
        )
    if machine.mem_available is not None:
        per = bytes_per_session(protocol)
        need = sessions * per
        share = need / machine.mem_available if machine.mem_available else math.inf
        status: Status = "OK" if share <= MEMORY_WARN_SHARE else "WARN" if share <= 1 else "FAIL"
        fits = machine.mem_available // per
        add(
            Check(
                "memory available",
                status,
                _mib(machine.mem_available),
                f"{_mib(need)} ({_fmt(sessions)} x {per / 1024:.1f} KiB: "
                f"{SERVER_BYTES_PER_SESSION[protocol] / 1024:.1f} KiB server RSS + "
                f"{KERNEL_BYTES_PER_SOCKET / 1024:.1f} KiB kernel socket, {protocol})",
                ""
                if status == "OK"
                else f"this machine fits about {_fmt(fits)} {protocol} sessions: add memory "
                "or spread them over machines",
            )
        )
    return out


def doctor(sessions: int, root: str | Path = "/", protocol: str = "mux") -> list[Check]:
    """Read the machine under ``root`` and check it for ``sessions`` sessions."""
    return check(read_machine(root), sessions, protocol)


def worst(checks: list[Check]) -> Status:
    """The worst status of a report."""
    statuses = {item.status for item in checks}
    return "FAIL" if "FAIL" in statuses else "WARN" if "WARN" in statuses else "OK"
