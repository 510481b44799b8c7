"""RSS and open file descriptors of a process tree, read from /proc.

Theory of operation
-------------------
``mux bench --server-pid PID`` reports what the server holds: a supervisor with
worker processes is one tree, so :func:`tree_stats` finds every descendant of PID
(``PPid`` in ``/proc/*/status``), sums ``VmRSS`` and CPU time (``/proc/N/stat``) and
counts the entries of ``/proc/N/fd``. A process that exits while being read is
skipped. The root directory is a parameter, as in :mod:`mux.scale.doctor`. Listing
``/proc/N/fd`` makes the kernel create a proc inode and a dentry per fd (~0.9 KiB of
slab each, until memory pressure reclaims them): sample ``Slab`` before it.
"""

from __future__ import annotations

import os
from pathlib import Path

import attrs


@attrs.frozen
class TreeStats:
    processes: int
    rss_bytes: int
    fds: int
    #: user + system CPU time used so far by the processes now in the tree.
    cpu_seconds: float = 0.0


def _status(proc: Path, pid: int) -> dict[str, str]:
    fields: dict[str, str] = {}
    try:
        text = (proc / str(pid) / "status").read_text()
    except OSError:
        return fields
    for line in text.splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    return fields


def slab_bytes(root: str | Path = "/") -> int | None:
    """The kernel's slab memory (``Slab`` in /proc/meminfo), machine-wide."""
    try:
        text = (Path(root) / "proc" / "meminfo").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("Slab:"):
            return int(line.split()[1]) * 1024
    return None


def descendants(pid: int, root: str | Path = "/") -> list[int]:
    """``pid`` and every process below it."""
    proc = Path(root) / "proc"
    children: dict[int, list[int]] = {}
    for entry in os.listdir(proc):
        if entry.isdigit():
            parent = _status(proc, int(entry)).get("PPid")
            if parent is not None and parent.isdigit():
                children.setdefault(int(parent), []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, []))
    return out


def tree_stats(pid: int, root: str | Path = "/") -> TreeStats | None:
    """RSS (bytes) and fds summed over ``pid``'s tree; None when ``pid`` is gone."""
    proc = Path(root) / "proc"
    if not (proc / str(pid)).exists():
        return None
    rss = fds = count = 0
    ticks = 0
    hertz = os.sysconf("SC_CLK_TCK")
    for member in descendants(pid, root):
        rss_text = _status(proc, member).get("VmRSS")
        if rss_text is None:
            continue
        try:
            fds += len(os.listdir(proc / str(member) / "fd"))
        except OSError:
            continue
        rss += int(rss_text.split()[0]) * 1024
        count += 1
        try:
            stat = (proc / str(member) / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return TreeStats(processes=count, rss_bytes=rss, fds=fds, cpu_seconds=ticks / hertz)
