"""``mux doctor``: the checks over a faked /proc tree, the CLI, and one real-machine smoke test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mux import cli as mux_cli
from mux.scale import doctor as dr
from mux.scale.cli import main as doctor_main

LIMITS = """Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            {soft}                {hard}                files
Max locked memory         8388608              8388608              bytes
"""


def fake_tree(
    root: Path,
    *,
    soft: int = 1024,
    hard: int = 4096,
    nr_open: int = 1048576,
    file_max: int = 100000,
    somaxconn: int = 4096,
    syn_backlog: int = 2048,
    ports: str = "32768\t60999",
    tw_reuse: int = 2,
    conntrack_max: int | None = 262144,
    tcp_mem: str = "1000\t2000\t3000",
    mem_kib: int = 1024 * 1024,
) -> Path:
    """Write a /proc tree under ``root`` the way Linux shows it."""
    files = {
        "proc/self/limits": LIMITS.format(soft=soft, hard=hard),
        "proc/sys/fs/nr_open": f"{nr_open}\n",
        "proc/sys/fs/file-max": f"{file_max}\n",
        "proc/sys/fs/file-nr": "3000\t0\t100000\n",
        "proc/sys/net/core/somaxconn": f"{somaxconn}\n",
        "proc/sys/net/ipv4/tcp_max_syn_backlog": f"{syn_backlog}\n",
        "proc/sys/net/ipv4/ip_local_port_range": f"{ports}\n",
        "proc/sys/net/ipv4/tcp_tw_reuse": f"{tw_reuse}\n",
        "proc/sys/net/ipv4/tcp_mem": f"{tcp_mem}\n",
        "proc/meminfo": f"MemTotal:       99999999 kB\nMemFree:          1234 kB\n"
        f"MemAvailable:   {mem_kib} kB\nBuffers:            10 kB\n",
    }
    if conntrack_max is not None:
        files["proc/sys/net/netfilter/nf_conntrack_max"] = f"{conntrack_max}\n"
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def by_name(checks: list[dr.Check]) -> dict[str, dr.Check]:
    return {item.name: item for item in checks}


def test_reads_every_value_from_the_tree(tmp_path: Path) -> None:
    machine = dr.read_machine(fake_tree(tmp_path, soft=1000, hard=5000, ports="1024 65535"))
    assert (machine.fd_soft, machine.fd_hard) == (1000, 5000)
    assert machine.nr_open == 1048576 and machine.file_max == 100000
    assert machine.files_allocated == 3000
    assert (machine.somaxconn, machine.syn_backlog) == (4096, 2048)
    assert machine.port_range == (1024, 65535) and dr.ports_per_source(machine) == 64512
    assert machine.tw_reuse == 2 and machine.conntrack_max == 262144
    assert machine.tcp_mem == (1000, 2000, 3000)
    assert machine.mem_available == 1024 * 1024 * 1024


def test_small_run_is_all_ok(tmp_path: Path) -> None:
    checks = dr.doctor(500, fake_tree(tmp_path))
    assert dr.worst(checks) == "OK", [c for c in checks if c.status != "OK"]
    assert all(c.fix == "" for c in checks)


def test_fd_limits_name_the_command_and_the_workers(tmp_path: Path) -> None:
    checks = by_name(dr.doctor(10_000, fake_tree(tmp_path, soft=1024, hard=4096)))
    soft = checks["fd soft limit"]
    assert soft.status == "WARN" and soft.fix.startswith("ulimit -n 4096")
    hard = checks["fd hard limit"]
    # 4096 - 64 reserved = 4032 per process: 10,000 sessions need 3 processes.
    assert hard.status == "WARN" and "mux serve --workers 3" in hard.fix
    assert "hard nofile 10064" in hard.fix
    assert checks["worker processes"].need.startswith("3 for 10,000")


def test_soft_limit_already_at_hard_points_to_the_hard_limit(tmp_path: Path) -> None:
    checks = by_name(dr.doctor(30_000, fake_tree(tmp_path, soft=20000, hard=20000)))
    assert "hard limit" in checks["fd soft limit"].fix
    assert "--workers 2" in checks["worker processes"].fix


def test_accept_queue_against_the_backlog(tmp_path: Path) -> None:
    checks = by_name(dr.doctor(10_000, fake_tree(tmp_path, somaxconn=128, syn_backlog=512)))
    assert checks["net.core.somaxconn"].fix == "sysctl -w net.core.somaxconn=10000"
    assert checks["net.ipv4.tcp_max_syn_backlog"].fix == (
        "sysctl -w net.ipv4.tcp_max_syn_backlog=10000"
    )
    # The backlog mux asks for caps what is worth asking of the kernel.
    big = by_name(dr.doctor(10**6, fake_tree(tmp_path, somaxconn=128)))
    assert big["net.core.somaxconn"].fix.endswith(f"={dr.LISTEN_BACKLOG}")


def test_ports_per_source_address(tmp_path: Path) -> None:
    checks = by_name(dr.doctor(100_000, fake_tree(tmp_path, ports="32768 60999", hard=10**6)))
    ports = checks["net.ipv4.ip_local_port_range"]
    # 28,232 ports per address: 100,000 connections need 4 source addresses.
    assert ports.status == "WARN" and "28,232 ports" in ports.value
    assert ports.need.startswith("4 client source")
    assert "--sources 127.0.0.2-127.0.0.5" in ports.fix


def test_tw_reuse_off_warns(tmp_path: Path) -> None:
    checks = by_name(dr.doctor(10, fake_tree(tmp_path, tw_reuse=0)))
    assert checks["net.ipv4.tcp_tw_reuse"].fix == "sysctl -w net.ipv4.tcp_tw_reuse=1"


def test_conntrack_only_when_loaded_and_fails_when_full(tmp_path: Path) -> None:
    unloaded = by_name(dr.doctor(10, fake_tree(tmp_path / "a", conntrack_max=None)))
    assert "net.netfilter.nf_conntrack_max" not in unloaded
    full = by_name(dr.doctor(70_000, fake_tree(tmp_path / "b", conntrack_max=65536)))
    item = full["net.netfilter.nf_conntrack_max"]
    assert item.status == "FAIL"
    assert item.fix == "sysctl -w net.netfilter.nf_conntrack_max=140000"


def test_tcp_mem_in_pages(tmp_path: Path) -> None:
    checks = by_name(dr.doctor(5_000, fake_tree(tmp_path, tcp_mem="1000 2000 3000")))
    item = checks["net.ipv4.tcp_mem"]
    assert item.status == "WARN" and "pages" in item.value
    assert item.fix.startswith('sysctl -w net.ipv4.tcp_mem="5000 ')


def test_memory_against_measured_bytes_per_session(tmp_path: Path) -> None:
    per = dr.bytes_per_session("mux")
    assert per == dr.SERVER_BYTES_PER_SESSION["mux"] + dr.KERNEL_BYTES_PER_SOCKET
    mem_kib = 100 * per // 1024  # room for exactly ~100 sessions
    tree = fake_tree(tmp_path, mem_kib=mem_kib)
    assert by_name(dr.doctor(50, tree))["memory available"].status == "OK"
    assert by_name(dr.doctor(95, tree))["memory available"].status == "WARN"
    failed = by_name(dr.doctor(1000, tree))["memory available"]
    assert failed.status == "FAIL" and "fits about 99 mux sessions" in failed.fix
    # HTTP/2 sessions cost more than mux ones.
    assert dr.bytes_per_session("h2") > per


def test_file_max_counts_files_in_use(tmp_path: Path) -> None:
    checks = by_name(dr.doctor(98_000, fake_tree(tmp_path, file_max=100000, hard=10**6)))
    item = checks["fs.file-max"]
    assert item.status == "FAIL" and item.fix == "sysctl -w fs.file-max=202000"


def test_cli_text_json_and_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = fake_tree(tmp_path, conntrack_max=1000)
    assert doctor_main(["--sessions", "5000", "--root", str(tree)]) == 1  # conntrack FAILs
    text = capsys.readouterr().out
    assert "FAIL  net.netfilter.nf_conntrack_max" in text
    assert "fix: sysctl -w net.netfilter.nf_conntrack_max=10000" in text
    assert text.rstrip().endswith("overall: FAIL")
    assert doctor_main(["--sessions", "10", "--root", str(tree), "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["status"] == "OK" and body["sessions"] == 10
    assert {c["name"] for c in body["checks"]} >= {"fd soft limit", "memory available"}


def test_cli_rejects_a_bad_count(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        doctor_main(["--sessions", "many"])
    assert info.value.code == 2
    assert "positive integer" in capsys.readouterr().err


def test_real_machine_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    """The real /proc: every value this Linux machine has is read, the CLI runs."""
    machine = dr.read_machine("/")
    assert machine.fd_soft > 0 and machine.fd_hard >= machine.fd_soft
    assert machine.port_range is not None and machine.mem_available is not None
    assert mux_cli.main(["doctor", "--sessions", "1000", "--json"]) in (0, 1)
    body = json.loads(capsys.readouterr().out)
    assert body["checks"] and all(c["status"] in ("OK", "WARN", "FAIL") for c in body["checks"])
