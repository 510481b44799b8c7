"""The bench histogram (error bound, merging) and how a run is spread and checked."""

from __future__ import annotations

import math
from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mux.scale import histogram as hg
from mux.scale.doctor import Machine
from mux.scale.plan import parse_sources, per_source, plan, problems, split

values = st.lists(st.integers(min_value=0, max_value=10**10), min_size=1, max_size=300)


@given(st.integers(min_value=0, max_value=10**12))
def test_buckets_hold_their_values_within_one_64th(value: int) -> None:
    index = hg.bucket_of(value)
    low, high = hg.bucket_low(index), hg.bucket_high(index)
    assert low <= value <= high
    assert high - low <= max(0, low) / 64
    assert hg.bucket_of(low) == index == hg.bucket_of(high)
    assert hg.bucket_of(high + 1) == index + 1  # buckets are contiguous


@given(values, st.sampled_from([50.0, 90.0, 99.0, 99.9, 100.0]))
def test_percentile_is_never_below_the_exact_one_and_within_the_bucket(
    data: list[int], percent: float
) -> None:
    hist = hg.Histogram()
    for value in data:
        hist.record(value)
    exact = sorted(data)[max(1, math.ceil(len(data) * percent / 100)) - 1]
    got = hist.percentile(percent)
    assert exact <= got <= exact + exact / 64 + 1
    assert hist.count == len(data) and hist.max == max(data) and hist.min == min(data)


@given(values, values)
def test_merge_equals_recording_everything_in_one(left: list[int], right: list[int]) -> None:
    a, b, both = hg.Histogram(), hg.Histogram(), hg.Histogram()
    for value in left:
        a.record(value)
        both.record(value)
    for value in right:
        b.record(value)
        both.record(value)
    a.merge(hg.Histogram.from_json(b.to_json()))  # as between processes
    assert (a.buckets, a.count, a.total, a.min, a.max) == (
        both.buckets,
        both.count,
        both.total,
        both.min,
        both.max,
    )


def test_sources_ranges_and_lists() -> None:
    assert parse_sources("127.0.0.2-127.0.0.4,10.0.0.1") == [
        "127.0.0.2",
        "127.0.0.3",
        "127.0.0.4",
        "10.0.0.1",
    ]
    assert parse_sources("") == []
    with pytest.raises(ValueError, match="not an address"):
        parse_sources("127.0.0.1-x")
    with pytest.raises(ValueError, match="too large"):
        parse_sources("10.0.0.0-10.2.0.0")


def test_plan_spreads_connections_requests_and_sources() -> None:
    assert split(10, 3) == [4, 3, 3]
    plans = plan(
        connections=10,
        processes=3,
        sources=["a", "b", "c", "d", "e", "f"],
        requests=100,
        rate=50.0,
        open_rate=0.0,
    )
    assert [p.connections for p in plans] == [4, 3, 3]
    assert [p.requests for p in plans] == [34, 33, 33]
    assert [p.sources for p in plans] == [["a", "d"], ["b", "e"], ["c", "f"]]
    assert math.isclose(sum(p.rate for p in plans), 50.0)
    assert per_source(plans) == {"a": 2, "d": 2, "b": 2, "e": 1, "c": 2, "f": 1}
    shared = plan(connections=4, processes=4, sources=["x", "y"], requests=0, rate=0, open_rate=0)
    assert [p.sources for p in shared] == [["x", "y"], ["y", "x"], ["x", "y"], ["y", "x"]]


MACHINE = Machine(
    fd_soft=1024,
    fd_hard=20000,
    nr_open=None,
    file_max=None,
    files_allocated=None,
    somaxconn=None,
    syn_backlog=None,
    port_range=(32768, 60999),
    tw_reuse=None,
    conntrack_max=None,
    tcp_mem=None,
    mem_available=None,
)


def test_problems_fds_per_process_and_ports_per_source() -> None:
    def check(connections: int, processes: int, sources: list[str]) -> list[str]:
        plans = plan(
            connections=connections,
            processes=processes,
            sources=sources,
            requests=0,
            rate=0,
            open_rate=0,
        )
        return problems(plans, MACHINE, processes)

    assert check(19_936, 1, []) == []
    (fds,) = check(19_937, 1, [])
    assert "need 20,001 file descriptors" in fds and "--processes 2 or more" in fds
    # 50,000 in 3 processes fits fds, but not one source address: 28,232 ports.
    (ports,) = check(50_000, 3, [])
    assert "50,000 connections from the default source address" in ports
    assert "--sources with 2 addresses" in ports
    assert check(50_000, 3, ["127.0.0.2", "127.0.0.3"]) == []
    wide = attrs.evolve(MACHINE, port_range=(1024, 65535))
    assert (
        problems(
            plan(connections=50_000, processes=3, sources=[], requests=0, rate=0, open_rate=0),
            wide,
            3,
        )
        == []
    )


def test_plot_html_is_self_contained_and_png_needs_matplotlib(tmp_path: Path) -> None:
    from mux.scale.plot import write_plot

    latency = hg.Histogram()
    for value in (900, 1_000, 1_100, 50_000):
        latency.record(value)
    summary: dict[str, object] = {
        "mode": "closed-loop",
        "target": "127.0.0.1:1",
        "protocol": "mux",
        "processes": 1,
        "source_addresses": 0,
        "connections": {
            "opened": 1,
            "open_at_end": None,
            "setup_seconds": 0.01,
            "per_second": 100.0,
            "setup_ms": {"p50": 1.0},
        },
        "errors": {},
        "series": [{"t": 1.0, "req_per_s": 4.0, "open": 1}],
    }
    page = tmp_path / "out.html"
    write_plot(str(page), summary, latency)
    text = page.read_text()
    assert text.count("<svg") == 3 and "<script" not in text and "src=" not in text
    try:
        import matplotlib  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        with pytest.raises(OSError, match="matplotlib"):
            write_plot(str(tmp_path / "out.png"), summary, latency)
