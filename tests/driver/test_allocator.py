"""mux.allocator: glibc malloc keeps bulk payload buffers between bursts.

The effect is measured in child processes (mallopt is process-wide and cannot
be undone): the same alloc/free pattern as a read burst of payloads, counted
in minor page faults. The parameter handling is checked against a recording
stand-in for ``mallopt``.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from mux import allocator, cli

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc mallopt only")

#: Eight 256 KiB payloads alive at once, then freed together, 50 times; prints
#: the minor page faults of the repeated bursts (the first one warms up).
BURSTS = """
import resource, sys
from mux.allocator import tune_allocator
if sys.argv[1] == "tuned":
    assert tune_allocator()
def burst():
    payloads = [b"x" * (256 * 1024) for _ in range(8)]
    del payloads
burst()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    burst()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _burst_faults(mode: str) -> int:
    # Without the user's malloc settings, which tune_allocator would respect.
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"
    }
    out = subprocess.run(
        [sys.executable, "-c", BURSTS, mode], capture_output=True, text=True, check=True, env=env
    )
    return int(out.stdout)


@glibc
def test_tuned_heap_keeps_payload_buffers_between_bursts() -> None:
    plain = _burst_faults("plain")
    tuned = _burst_faults("tuned")
    # Untuned glibc returns the 2 MiB of each burst to the kernel and faults
    # it back in (64 pages per payload); tuned, the heap keeps it.
    assert plain >= 50 * 8 * 32, plain
    assert tuned < plain // 20, (tuned, plain)


def _record(monkeypatch: pytest.MonkeyPatch, answer: int = 1) -> list[tuple[int, int]]:
    calls: list[tuple[int, int]] = []

    def mallopt(param: int, value: int) -> int:
        calls.append((param, value))
        return answer

    monkeypatch.setattr(allocator, "_glibc_mallopt", lambda: mallopt)
    for name in ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES"):
        monkeypatch.delenv(name, raising=False)
    return calls


def test_sets_both_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _record(monkeypatch)
    assert allocator.tune_allocator(trim_threshold=3 << 20, mmap_threshold=1 << 20)
    assert calls == [(allocator.M_MMAP_THRESHOLD, 1 << 20), (allocator.M_TRIM_THRESHOLD, 3 << 20)]


def test_what_the_user_set_in_the_environment_stands(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _record(monkeypatch)
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1")
    assert allocator.tune_allocator()
    assert calls == [(allocator.M_MMAP_THRESHOLD, allocator.MMAP_THRESHOLD)]
    calls.clear()
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=4096")
    assert allocator.tune_allocator()
    assert calls == []


def test_refused_value_or_no_glibc_reports_false(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _record(monkeypatch, answer=0)
    assert not allocator.tune_allocator()
    assert len(calls) == 2
    monkeypatch.undo()  # the real _glibc_mallopt, on a libc that is not glibc:
    monkeypatch.setattr(allocator.platform, "libc_ver", lambda: ("musl", "1.2"))
    assert allocator._glibc_mallopt() is None
    assert not allocator.tune_allocator()


def test_negative_threshold_is_refused() -> None:
    with pytest.raises(ValueError, match="thresholds must be >= 0"):
        allocator.tune_allocator(trim_threshold=-1)


@pytest.mark.parametrize(("argv", "tuned"), [([], True), (["--no-tune-allocator"], False)])
def test_serve_tunes_unless_told_not_to(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], tuned: bool
) -> None:
    called: list[bool] = []
    monkeypatch.setattr(allocator, "tune_allocator", lambda: called.append(True) or True)
    monkeypatch.setattr(cli.trio, "run", lambda *args: None)  # parse and set up only
    assert cli.main(["serve", "--listen", "127.0.0.1:0", *argv]) == 0
    assert called == ([True] if tuned else [])
