"""Client mode (`mux conformance serve`) against the mux SDK and deliberately broken clients."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Awaitable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest
import trio

import mux_client
from mux.conformance.case import CaseResult
from mux.conformance.clientmode import Scenario, serve
from mux.conformance.muxwire import MuxPeer
from mux.conformance.scenarios_mux import RESET_CODES, SCENARIOS
from mux.conformance.wire import Target
from mux.core.connection import MuxConnection
from mux.errors import ErrorCode, code_name
from tests.conformance.clientrun import Workload, run_scenarios

REPLY = 3.0
_ROOT = Path(__file__).resolve().parents[2]
WAIT = 5.0


async def _post(client: mux_client.Client, path: str) -> None:
    await client.request("POST", path, body=b"x")


async def _swallow(call: Awaitable[object]) -> BaseException | None:
    try:
        await call
    except mux_client.CallError as exc:
        return exc
    return None


async def _goaway(target: str) -> None:
    async with mux_client.connect(target, timeout=5) as client, trio.open_nursery() as n:
        for i in (1, 2, 3):
            n.start_soon(_post, client, f"/goaway/{i}")


async def _max_streams(target: str) -> None:
    async with mux_client.connect(target, timeout=5) as client:
        await client.request("POST", "/max-streams/0", body=b"x")
        async with trio.open_nursery() as n:
            for i in range(1, 5):
                n.start_soon(_post, client, f"/max-streams/{i}")


async def _flow(target: str) -> None:
    async with mux_client.connect(target, timeout=5) as client:
        await client.request("POST", "/flow-control/1", body=b"x" * 16384)


async def _reset(target: str) -> None:
    async with mux_client.connect(target, timeout=5) as client:
        exc = await _swallow(client.request("POST", "/data-after-reset/1", body=b"x"))
        assert isinstance(exc, mux_client.CallReset)
        assert exc.code == ErrorCode.INTERNAL_ERROR
        await client.request("POST", "/data-after-reset/2", body=b"x")


async def _ping(target: str) -> None:
    async with mux_client.connect(target, timeout=5) as client:
        await client.request("POST", "/ping/1", body=b"x")


async def _refused(target: str) -> None:
    async with mux_client.connect(target, timeout=5) as client:
        await client.request("POST", "/reset-refused/1", body=b"x")


async def _codes(target: str) -> None:
    async with mux_client.connect(target, timeout=5) as client:
        for code in RESET_CODES:
            exc = await _swallow(
                client.request("POST", f"/reset-codes/{code_name(code)}", body=b"x")
            )
            assert isinstance(exc, mux_client.CallReset), exc
            assert exc.code == code
            assert exc.processed is not mux_client.Processed.NOT_PROCESSED


async def _close(target: str) -> None:
    async with mux_client.connect(target, timeout=5) as client:
        exc = await _swallow(client.request("POST", "/close-mid-frame/1", body=b"x"))
        assert isinstance(exc, mux_client.ConnectionLost), exc
        assert exc.processed is mux_client.Processed.PROCESSED


async def _settings(target: str) -> None:
    async with mux_client.connect(target, timeout=5) as client:
        await client.request("POST", "/settings-ack/1", body=b"x")


SDK_WORKLOADS: dict[str, Workload] = {
    "goaway": _goaway,
    "max-streams": _max_streams,
    "flow-control": _flow,
    "data-after-reset": _reset,
    "ping": _ping,
    "reset-refused": _refused,
    "reset-codes": _codes,
    "close-mid-frame": _close,
    "settings-ack": _settings,
}


async def _run(scenarios: list[Scenario], workloads: dict[str, Workload]) -> list[CaseResult]:
    """Serve ``scenarios`` and drive each with its workload (see :mod:`clientrun`)."""
    return await run_scenarios(scenarios, workloads, reply=REPLY, wait=WAIT, limit=20)


def _verdicts(results: list[CaseResult]) -> dict[str, str]:
    return {r.case.description: f"{r.status}: {r.expected} / {r.actual}" for r in results}


async def test_sdk_passes_every_scenario() -> None:
    """The mux SDK, driven by each scenario's workload, passes every scenario."""
    results = await _run(SCENARIOS, SDK_WORKLOADS)
    assert len(results) == len(SCENARIOS) == 9
    failed = {r.case.id: f"{r.expected} / {r.actual}" for r in results if r.status != "passed"}
    assert failed == {}


class _IgnoresStreamLimit(MuxConnection):
    """A client engine that believes the server allows 1000 concurrent streams."""

    @property
    def max_outbound_streams(self) -> int:
        return 1000

    def _check_can_open(self, stream_id: int) -> None:
        real = self._remote
        self._remote = real.with_changes({0x1: 1000})
        try:
            super()._check_can_open(stream_id)
        finally:
            self._remote = real


def _tolerant(workload: Workload) -> Workload:
    async def run(target: str) -> None:
        try:
            await workload(target)
        except (mux_client.CallError, AssertionError, ExceptionGroup):
            pass  # the broken client may fail its calls; the verdict is what counts

    return run


async def test_client_ignoring_stream_limit_fails_only_max_streams(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A client that ignores a lowered MAX_CONCURRENT_STREAMS fails exactly that scenario."""
    options = mux_client.ChannelOptions(
        engine_factory=lambda: _IgnoresStreamLimit(client_side=True)
    )
    real = mux_client.connect

    def broken_connect(target: str, **_: object) -> AbstractAsyncContextManager[mux_client.Client]:
        return real(target, options=options, timeout=5)

    monkeypatch.setattr(mux_client, "connect", broken_connect)
    workloads = {name: _tolerant(w) for name, w in SDK_WORKLOADS.items()}
    results = await _run(SCENARIOS, workloads)
    failed = {r.case.id for r in results if r.status != "passed"}
    assert failed == {"client-mux/7.4/1"}, _verdicts(results)
    (bad,) = [r for r in results if r.is_failure]
    assert "at most 2 open streams" in bad.expected
    assert "opened while" in bad.actual


async def _window_breaker(target: str) -> None:
    """A raw client that sends its whole 16384-byte body at once, whatever the window."""
    host, port = target.rsplit(":", 1)
    stream = await trio.open_tcp_stream(host, int(port))
    peer = MuxPeer(stream, 2.0, Target(host, int(port), path="/flow-control/1"))
    try:
        await peer.handshake()
        await peer.send_headers(1, peer.request_headers("POST"), end_stream=False)
        await peer.send_data(1, b"x" * 16384, end_stream=True)
        await peer.next_event()
    finally:
        await peer.aclose()


async def test_client_ignoring_window_fails_flow_control() -> None:
    """A client that sends beyond the stream window fails the flow-control scenario."""
    (flow,) = [s for s in SCENARIOS if s.name == "flow-control"]
    (result,) = await _run([flow], {"flow-control": _window_breaker})
    assert result.status == "failed"
    assert result.expected == "at most 4096 bytes of DATA on stream 1 (its window)"
    assert result.actual.endswith(" bytes") and int(result.actual.split()[0]) > 4096


async def test_no_client_is_an_error() -> None:
    """A scenario nobody drives is an error (a failure), not a pass."""
    (ack,) = [s for s in SCENARIOS if s.name == "settings-ack"]
    with trio.fail_after(5):
        results = await serve([ack], reply_timeout=0.1, wait_timeout=0.2)
    assert [r.status for r in results] == ["error"]
    assert "no connection opened /settings-ack/" in results[0].actual


def test_cli_serve_json_and_exit_status(tmp_path: Path) -> None:
    """`mux conformance serve` prints the workload, judges the SDK, reports JSON and JUnit."""
    junit = tmp_path / "client.xml"
    command = [sys.executable, "-m", "mux", "conformance", "serve", "--listen", "127.0.0.1:0",
               "--scenario", "settings-ack", "--json", "--junit", str(junit),
               "--timeout", "10"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": f"{_ROOT}:{_ROOT / 'clients' / 'python'}"}
    with subprocess.Popen(
        command, cwd=_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stderr is not None
            banner = ""
            for _ in range(20):
                banner = process.stderr.readline()
                if "listening on" in banner:
                    break
            port = int(banner.split("listening on 127.0.0.1:")[1].split(";")[0])
            assert "/settings-ack/" in process.stderr.readline()
            trio.run(_settings, f"127.0.0.1:{port}")
            out, _ = process.communicate(timeout=15)
        finally:
            process.kill()
    assert process.returncode == 0
    document = json.loads(out)
    assert document["totals"] == {"passed": 1, "failed": 0, "skipped": 0}
    assert document["cases"][0]["id"] == "client-mux/6.2/1"
    assert "client-mux/6.2/1" in junit.read_text()
