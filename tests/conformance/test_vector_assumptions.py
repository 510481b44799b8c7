"""Vectors with ``assumes`` against servers that advertise other settings.

A session vector's ``assumes`` (spec/README.md) names the settings whose
advertised value its outcome depends on: the three 65537-byte frame vectors
hold only under the default MAX_FRAME_SIZE of 65536. The tester reads the
server's first SETTINGS and skips such a case, naming the setting and both
values, when the server advertises something else. These tests run the vector
cases against real in-process ``mux serve`` listeners on loopback: one
advertising MAX_FRAME_SIZE 1 MiB (the assuming cases are skipped, every other
case still passes) and one advertising the spec default (they run and pass).
A guard checks that every vector sending a frame longer than the default
MAX_FRAME_SIZE carries the assumption.
"""

from __future__ import annotations

import json
import struct
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import msgpack
import pytest
import trio

from mux.config import ServerConfig
from mux.conformance.case import CaseResult, CaseSkipped
from mux.conformance.runner import run_cases
from mux.conformance.vectors import VECTOR_DIR, check_assumptions, vector_cases
from mux.conformance.wire import Target
from mux.core.frames import PREFACE
from mux.core.limits import ProtocolLimits
from mux.core.settings import DEFAULTS, SettingId
from mux.server import Server, serve
from mux.server.demo import app

REPLY_TIMEOUT = 2.0
JOBS = 4
MIB = 1 << 20
DEFAULT_FRAME = DEFAULTS[SettingId.MAX_FRAME_SIZE]
#: Vectors whose input is an HTTP/2 or HTTP/1.1 preface: skipped on a sniffing
#: plain-TCP port whatever the settings (see mux.conformance.vectors).
FOREIGN = {"vector/preface/server-bad-magic-h2", "vector/preface/server-bad-magic-http1"}


def _session_vectors() -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"vector/{path.stem}/{vec['id']}", vec)
        for path in sorted(VECTOR_DIR.glob("*.json"))
        for vec in json.loads(path.read_text(encoding="utf-8"))["vectors"]
    ]


def _frame_lengths(vec: dict[str, Any]) -> list[int]:
    """Length fields of the frames a vector's peer sends (none for a preface vector)."""
    buf = b"".join(bytes.fromhex(s["recv"]) for s in vec["steps"] if "recv" in s)
    if not buf.startswith(PREFACE):
        return []
    lengths, i = [], len(PREFACE)
    while i + 10 <= len(buf):
        lengths.append(struct.unpack_from(">I", buf, i)[0])
        i += 10 + lengths[-1]
    return lengths


#: Case ids of the runnable vectors that assume the default MAX_FRAME_SIZE.
FRAME_SIZE_CASES = {
    case.id
    for case in vector_cases()
    if dict(_session_vectors())[case.id].get("assumes", {}).get("MAX_FRAME_SIZE")
}


@asynccontextmanager
async def _server(max_frame_size: int) -> AsyncIterator[Target]:
    """An in-process plain-TCP ``mux serve`` (demo app) advertising ``max_frame_size``."""
    config = ServerConfig(
        host="127.0.0.1",
        port=0,
        drain_timeout=1.0,
        limits=ProtocolLimits(max_frame_size=max_frame_size),
    )
    async with trio.open_nursery() as nursery:
        server: Server = await nursery.start(serve, app, config)
        yield Target("127.0.0.1", server.port, path="/bytes/4096", hold_path="/delay/3000")
        server.shutdown()
        nursery.cancel_scope.cancel()


async def _run(max_frame_size: int, keep: Callable[[str], bool]) -> dict[str, CaseResult]:
    cases = [case for case in vector_cases() if keep(case.id)]
    async with _server(max_frame_size) as target:
        results = await run_cases(
            cases, target, reply_timeout=REPLY_TIMEOUT, strict=True, concurrency=JOBS
        )
    return {r.case.id: r for r in results}


def _by_status(results: dict[str, CaseResult], *statuses: str) -> dict[str, str]:
    return {i: f"{r.expected} / {r.actual}" for i, r in results.items() if r.status in statuses}


def test_frame_size_cases_found() -> None:
    """The runnable vectors assuming MAX_FRAME_SIZE are the two server-role 65537 ones."""
    found = FRAME_SIZE_CASES
    assert found == {
        "vector/frame_size/frame-too-large-header-only",
        "vector/frame_size/frame-too-large-unknown-type",
    }


async def test_assuming_cases_skipped_on_1mib_server() -> None:
    """MAX_FRAME_SIZE 1 MiB: the assuming cases are skipped with the reason; the rest pass."""
    results = await _run(MIB, lambda _: True)
    assert len(results) > 100
    assert _by_status(results, "failed", "error") == {}
    skipped = _by_status(results, "skipped")
    assert set(skipped) == FRAME_SIZE_CASES | FOREIGN
    reason = f"vector assumes MAX_FRAME_SIZE {DEFAULT_FRAME}; the server advertises {MIB}"
    for case_id in FRAME_SIZE_CASES:
        assert results[case_id].actual == reason


async def test_assuming_cases_pass_on_default_server() -> None:
    """MAX_FRAME_SIZE 65536 (the default): the assuming cases run and pass."""
    results = await _run(DEFAULT_FRAME, FRAME_SIZE_CASES.__contains__)
    assert set(results) == FRAME_SIZE_CASES
    assert _by_status(results, "failed", "error", "skipped") == {}


def test_check_assumptions() -> None:
    """A setting the server leaves out has its default; a different value skips."""
    check_assumptions({"MAX_FRAME_SIZE": DEFAULT_FRAME}, {})
    check_assumptions({"MAX_FRAME_SIZE": DEFAULT_FRAME}, {SettingId.MAX_FRAME_SIZE: DEFAULT_FRAME})
    check_assumptions({"MAX_FRAME_SIZE": DEFAULT_FRAME}, {SettingId.MAX_CONCURRENT_STREAMS: 7})
    with pytest.raises(
        CaseSkipped, match="assumes MAX_FRAME_SIZE 65536; the server advertises 1048576"
    ):
        check_assumptions({"MAX_FRAME_SIZE": DEFAULT_FRAME}, {SettingId.MAX_FRAME_SIZE: MIB})
    with pytest.raises(CaseSkipped, match="MAX_CONCURRENT_STREAMS 100; the server advertises 0"):
        check_assumptions({"MAX_CONCURRENT_STREAMS": 100}, {SettingId.MAX_CONCURRENT_STREAMS: 0})
    with pytest.raises(CaseSkipped, match="NO_SUCH_SETTING 1, a setting this tester does not know"):
        check_assumptions({"NO_SUCH_SETTING": 1}, {})


def test_vectors_above_default_frame_size_assume_it() -> None:
    """Guard for future vectors: a frame longer than 65536 (and within the setting's range),
    or a FRAME_SIZE_ERROR outcome that names 65536/65537, needs ``assumes`` MAX_FRAME_SIZE."""
    flagged = []
    for vid, vec in _session_vectors():
        if "MAX_FRAME_SIZE" in vec.get("local_settings", {}):
            continue
        above = any(DEFAULT_FRAME < n <= 16777215 for n in _frame_lengths(vec))
        text = json.dumps([vec["description"], [s.get("note", "") for s in vec["steps"]]])
        names_default = "65536" in text or "65537" in text
        frame_size_error = vec["expect"].get("error", {}).get("code") == "FRAME_SIZE_ERROR"
        if above or (names_default and frame_size_error):
            flagged.append(vid)
            assert vec.get("assumes") == {"MAX_FRAME_SIZE": DEFAULT_FRAME}, vid
    assert len(flagged) == 3, flagged  # the guard sees the known ones


def test_assumed_values_are_the_spec_defaults() -> None:
    """Every ``assumes`` names a known setting, at its spec default, not set locally."""
    for vid, vec in _session_vectors():
        for name, value in vec.get("assumes", {}).items():
            assert name not in vec.get("local_settings", {}), vid
            assert value == DEFAULTS[SettingId[name]], vid


def test_mux_only_vectors_say_so() -> None:
    """The vectors whose input is not mux (so a sniffing listener rightly picks another
    protocol) carry ``mux_only``, and they are exactly the ones skipped on a sniffing port."""
    marked = {vid for vid, vec in _session_vectors() if vec.get("mux_only")}
    not_mux = {
        vid
        for vid, vec in _session_vectors()
        if vec["role"] == "server"
        and not bytes.fromhex(vec["steps"][0]["recv"]).startswith(PREFACE[:4])
    }
    assert marked == not_mux == FOREIGN


def test_server_vectors_request_the_sink() -> None:
    """Server-role vectors send their requests to ``/sink`` (spec/README.md: the handler
    reads the whole body and answers only after it), never to a path that answers early."""
    paths = set()
    for _vid, vec in _session_vectors():
        if vec["role"] != "server":
            continue
        buf = b"".join(bytes.fromhex(s["recv"]) for s in vec["steps"] if "recv" in s)
        i = len(PREFACE) if buf.startswith(PREFACE) else len(buf)
        while i + 10 <= len(buf):
            length, ftype = struct.unpack_from(">IB", buf, i)
            payload = buf[i + 10 : i + 10 + length]
            i += 10 + length
            if ftype != 1 or len(payload) != length:
                continue
            try:
                items = msgpack.unpackb(payload, raw=True)
            except Exception:  # malformed on purpose
                continue
            if isinstance(items, list) and b":path" in items[:-1:2]:
                at = items.index(b":path")
                if at % 2 == 0 and isinstance(items[at + 1], bytes):
                    paths.add(items[at + 1])
    assert b"/sink" in paths
    # Other paths appear only in the vectors about :path itself (mostly malformed).
    assert b"/" not in paths and b"/upload" not in paths
