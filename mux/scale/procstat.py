"""RSS and open file descriptors of a process tree, read from /proc.

Theory of operation
-------------------
``mux bench --server-pid PID`` reports what the server holds: a supervisor with
worker processes is one tree, so :func:`tree_stats` finds every descendant of PID
(``PPid`` in ``/proc/*/status``), sums ``VmRSS`` and counts the entries of
``/proc/N/fd``. A process that exits while being read is skipped. The root directory
is a parameter, as in :mod:`mux.scale.doctor`.
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
    return TreeStats(processes=count, rss_bytes=rss, fds=fds)
