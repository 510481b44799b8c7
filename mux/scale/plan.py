"""How ``mux bench`` spreads a run over processes and source addresses, and whether it fits.

Theory of operation
-------------------
:func:`plan` splits connections, requests and rate over ``--processes`` worker
processes (as evenly as integers allow) and hands each process its source addresses:
with at least as many addresses as processes, process *i* takes every P-th address;
with fewer, every process uses all of them, each starting at a different one.
Connection *n* of a process binds to its ``n % len(sources)``-th address.
:func:`problems` then checks the plan against this machine with the arithmetic of
:mod:`mux.scale.doctor`: file descriptors per process (each worker raises its soft
limit to the hard one, so the hard limit counts) and connections per source address
(ephemeral ports). A non-empty list means the run is refused before anything starts.
"""

from __future__ import annotations

import ipaddress
import math

import attrs

from mux.scale.doctor import FD_RESERVE, Machine, fds_needed, ports_per_source


def parse_sources(text: str) -> list[str]:
    """``127.0.0.2-127.0.0.60`` / ``a,b,c`` / a mix → the list of addresses.

    Raises:
        ValueError: naming the part that is not an address or a range.
    """
    out: list[str] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        low_text, sep, high_text = part.partition("-")
        try:
            low = ipaddress.ip_address(low_text)
            high = ipaddress.ip_address(high_text) if sep else low
        except ValueError:
            raise ValueError(f"not an address or a range A-B: {part!r}") from None
        if type(low) is not type(high) or int(high) < int(low):
            raise ValueError(f"not an increasing range of one family: {part!r}")
        if int(high) - int(low) >= 65536:
            raise ValueError(f"range too large (at most 65,536 addresses): {part!r}")
        out.extend(str(ipaddress.ip_address(n)) for n in range(int(low), int(high) + 1))
    return out


def split(total: int, parts: int) -> list[int]:
    """``total`` as ``parts`` integers differing by at most one."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


@attrs.frozen
class ProcessPlan:
    index: int
    connections: int
    sources: list[str]
    requests: int
    rate: float
    open_rate: float


def plan(
    *,
    connections: int,
    processes: int,
    sources: list[str],
    requests: int,
    rate: float,
    open_rate: float,
) -> list[ProcessPlan]:
    conns = split(connections, processes)
    reqs = split(requests, processes)
    out = []
    for i in range(processes):
        if len(sources) >= processes:
            mine = sources[i::processes]
        elif sources:  # every process uses every address, starting at a different one
            start = i % len(sources)
            mine = sources[start:] + sources[:start]
        else:
            mine = []
        share = conns[i] / connections if connections else 0.0
        out.append(
            ProcessPlan(
                index=i,
                connections=conns[i],
                sources=mine,
                requests=reqs[i],
                rate=rate * share,
                open_rate=open_rate * share,
            )
        )
    return [p for p in out if p.connections > 0]


def per_source(plans: list[ProcessPlan]) -> dict[str, int]:
    """Connections each source address will carry ("" = the kernel's choice)."""
    counts: dict[str, int] = {}
    for item in plans:
        addresses = item.sources or [""]
        for n, count in enumerate(split(item.connections, len(addresses))):
            counts[addresses[n]] = counts.get(addresses[n], 0) + count
    return counts


def problems(plans: list[ProcessPlan], machine: Machine, processes: int) -> list[str]:
    """Why this machine cannot do the run (empty: it can)."""
    out: list[str] = []
    biggest = max((p.connections for p in plans), default=0)
    limit = machine.fd_hard
    if fds_needed(biggest) > limit:
        total = sum(p.connections for p in plans)
        need = math.ceil(total / max(1, limit - FD_RESERVE))
        out.append(
            f"{biggest:,} connections in one process need {fds_needed(biggest):,} file "
            f"descriptors, but a process may hold {limit:,} here (hard RLIMIT_NOFILE): use "
            f"--processes {need} or more (now {processes})"
        )
    ports = ports_per_source(machine)
    counts = per_source(plans)
    worst_source, worst = max(counts.items(), key=lambda kv: kv[1], default=("", 0))
    if worst > ports:
        total = sum(counts.values())
        need = math.ceil(total / ports) if ports else 0
        where = worst_source or "the default source address"
        out.append(
            f"{worst:,} connections from {where}, but one source address has {ports:,} "
            f"ephemeral ports (net.ipv4.ip_local_port_range): give --sources with {need} "
            f"addresses or more (e.g. --sources 127.0.0.2-127.0.0.{1 + need})"
        )
    return out
