"""CPU a server spends on a peer granting 1-byte WINDOW_UPDATEs (threats.md "Data dribble").

Starts ``python -m mux serve`` in a subprocess, opens one HTTP/2 connection,
asks for a large body, lets the first windows drain, then sends 1-byte
WINDOW_UPDATEs (stream and connection) as fast as the server reads them for
``--seconds``. Prints the server's CPU time over that period (user + system,
from /proc/PID/stat, Linux), the bytes the attacker sent and received, and
whether the server closed the connection.

    python bench/window_dribble.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from hpack import Encoder
from hyperframe.frame import HeadersFrame, SettingsFrame, WindowUpdateFrame

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
ROOT = Path(__file__).resolve().parent.parent


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _update(sid: int, increment: int) -> bytes:
    frame = WindowUpdateFrame(sid)
    frame.window_increment = increment
    return frame.serialize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument(
        "--pingpong",
        action="store_true",
        help="stream window 1 and one 1-byte WINDOW_UPDATE per DATA frame received "
        "(instead of a blind flood over a 64 KiB window)",
    )
    args = parser.parse_args()
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'clients' / 'python'}"}
    server = subprocess.Popen(
        [sys.executable, "-m", "mux", "serve", "--listen", f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    sock: socket.socket | None = None
    try:
        for _ in range(100):
            try:
                sock = socket.create_connection(("127.0.0.1", port))
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise SystemExit("server did not start")
        received = [0]
        closed = threading.Event()

        data_frames = [0]

        def reader() -> None:
            buffer = b""
            try:
                while data := sock.recv(65536):
                    received[0] += len(data)
                    if not args.pingpong:
                        continue
                    buffer += data
                    answer = b""
                    while len(buffer) >= 9 and len(buffer) >= 9 + int.from_bytes(buffer[:3]):
                        length, kind = int.from_bytes(buffer[:3]), buffer[3]
                        if kind == 0 and length:  # DATA: grant one more byte
                            data_frames[0] += 1
                            answer += _update(1, 1) + _update(0, 1)
                        buffer = buffer[9 + length :]
                    if answer:
                        sock.sendall(answer)
            except OSError:
                pass
            closed.set()

        threading.Thread(target=reader, daemon=True).start()
        headers = HeadersFrame(1)
        headers.data = Encoder().encode(
            [(":method", "GET"), (":scheme", "http"), (":authority", "x"),
             (":path", "/bytes/100000000")]
        )  # fmt: skip
        headers.flags.add("END_HEADERS")
        headers.flags.add("END_STREAM")
        ack = SettingsFrame(0)
        ack.flags.add("ACK")
        settings = SettingsFrame(0)
        if args.pingpong:
            settings.settings[SettingsFrame.INITIAL_WINDOW_SIZE] = 1
        start_cpu = _cpu_seconds(server.pid)
        start = time.monotonic()
        sock.sendall(PREFACE + settings.serialize() + ack.serialize() + headers.serialize())
        burst = (_update(1, 1) + _update(0, 1)) * 64
        sent = 0
        if args.pingpong:
            closed.wait(args.seconds)
        else:
            time.sleep(0.5)  # the first 64 KiB windows drain
            try:
                while time.monotonic() - start < args.seconds and not closed.is_set():
                    sock.sendall(burst)
                    sent += len(burst)
            except OSError:
                pass
            closed.wait(max(args.seconds - (time.monotonic() - start), 0))
        elapsed = time.monotonic() - start
        cpu = _cpu_seconds(server.pid) - start_cpu
        sent += 26 * data_frames[0]
        print(
            f"{'ping-pong' if args.pingpong else 'flood'} {elapsed:.1f} s: server CPU {cpu:.2f} s; "
            f"attacker sent {sent / 1024:.0f} KiB of 1-byte WINDOW_UPDATEs, received "
            f"{received[0] / 1024:.0f} KiB ({data_frames[0]} DATA frames counted); "
            f"connection closed by server: {closed.is_set()}"
        )
    finally:
        if sock is not None:
            sock.close()
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


if __name__ == "__main__":
    main()
