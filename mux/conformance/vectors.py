"""Spec vectors as server cases: the scripted exchanges in spec/vectors/sessions/.

Theory of operation
-------------------
A session vector (format: spec/README.md) gives the bytes an engine receives
(``recv`` steps), local actions of the engine under test, and the outcome:
an ``error`` (scope and code), ``frames`` the engine must send (matched in
order, by the fields the vector names) and ``absent`` frames it must not
send. Against a live server the tester can only play the peer, so a vector
becomes a case when its role is ``server`` and every step is a ``recv`` (no
local action, no ``local_settings``, not ``heavy``). The case sends the
bytes as they are, preface and SETTINGS included, then reads until every
expected frame has arrived (and, for a connection error, the GOAWAY), failing
on any frame listed as absent.

A vector marked ``mux_only`` (its input does not start with the mux preface
magic: an HTTP/2 or HTTP/1.1 preface, say) assumes an endpoint that speaks only mux; a
multi-protocol listener rightly answers such bytes in the protocol they
belong to. Those cases run only when the endpoint is known to be mux-only:
TLS negotiated ALPN ``mux/1`` (every byte after the handshake is mux), or
the user said so (``--mux-only``, :attr:`Target.mux_only`). Otherwise they
are skipped with that reason.

A vector with ``assumes`` (setting name -> value) holds only when the
endpoint advertises exactly those values; the vectors assume the spec
defaults, while a server may rightly advertise more (a MAX_FRAME_SIZE of
1 MiB makes "a 65537-byte frame is FRAME_SIZE_ERROR" untrue). Such a case
sends the preface and the first SETTINGS frame of the input alone, reads up
to the server's first SETTINGS (a setting it leaves out has its default)
and is skipped, naming the setting and both values, when an assumed value
differs. Otherwise it sends the rest of the input and goes on as above; the
frames read while waiting count as received (a split is harmless: every
vector holds for any split of its input, spec/README.md).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from mux.conformance.case import CaseFailed, CaseSkipped, TestCase
from mux.conformance.context import CaseContext
from mux.conformance.muxwire import MuxPeer, settings_from
from mux.conformance.wire import FrameEvent, WireEvent, negotiated_alpn
from mux.core.frames import PREFACE
from mux.core.settings import DEFAULTS, SettingId
from mux.errors import ErrorCode

#: Where the vectors live, relative to the repository root.
VECTOR_DIR = Path(__file__).resolve().parents[2] / "spec" / "vectors" / "sessions"
_SOURCE = "spec/vectors"
#: The first bytes of the mux client preface (spec §2).
MUX_MAGIC = b"\x89MUX"

Spec = dict[str, Any]


def _code(value: str | int) -> int:
    return int(ErrorCode[value]) if isinstance(value, str) else value


def _field_matches(key: str, value: Any, frame: FrameEvent) -> bool:
    if key == "type":
        return bool(frame.kind == value)
    if key == "stream_id":
        return bool(frame.stream_id == value)
    if key == "error_code":
        return frame.code == _code(value)
    if key in ("ack", "end_stream"):
        return bool(frame.has(key.upper()) == value)
    if key == "data":
        return frame.payload == bytes.fromhex(value)
    if key == "length":
        return bool(len(frame.payload) == value)
    if key == "increment":
        return frame.detail == f"+{value}"
    if key == "last_stream_id":
        return bool(frame.last_stream_id == value)
    if key == "headers":
        status = [v for n, v in value if n == ":status"]
        return not status or frame.detail == f":status {status[0]}"
    return True


def matches(spec: Spec, frame: FrameEvent) -> bool:
    """True when ``frame`` has every field the vector's frame ``spec`` names."""
    return all(_field_matches(key, value, frame) for key, value in spec.items())


def _describe(spec: Spec) -> str:
    fields = ", ".join(f"{k}={v}" for k, v in spec.items() if k != "type")
    return f"{spec.get('type', 'frame')}({fields})"


def _opening_size(data: bytes) -> int:
    """Bytes of ``data`` up to the end of the first frame after the preface (all if none)."""
    if not data.startswith(PREFACE) or len(data) < len(PREFACE) + 10:
        return len(data)
    length: int = struct.unpack_from(">I", data, len(PREFACE))[0]
    return min(len(data), len(PREFACE) + 10 + length)


def check_assumptions(assumes: dict[str, int], advertised: dict[int, int]) -> None:
    """Skip unless the server's first SETTINGS (``advertised``) has every assumed value.

    Raises:
        CaseSkipped: naming each assumed setting the server advertises differently.
    """
    problems: list[str] = []
    for name, value in sorted(assumes.items()):
        if name not in SettingId.__members__:
            problems.append(f"vector assumes {name} {value}, a setting this tester does not know")
            continue
        setting = SettingId[name]
        actual = advertised.get(setting, DEFAULTS[setting])
        if actual != value:
            problems.append(f"vector assumes {name} {value}; the server advertises {actual}")
    if problems:
        raise CaseSkipped("; ".join(problems))


async def _send_checking(peer: MuxPeer, data: bytes, assumes: dict[str, int]) -> list[WireEvent]:
    """Send ``data``; with ``assumes``, check the server's SETTINGS first (module docstring).

    Returns:
        The events read before the rest of ``data`` went out, oldest first.
    """
    if not assumes:
        await peer.send_raw(data)
        return []
    opening = _opening_size(data)
    await peer.send_raw(data[:opening])
    early: list[WireEvent] = []
    while True:
        event = await peer.next_event()
        if not isinstance(event, FrameEvent):
            wanted = "the server's SETTINGS (to check the vector's assumes)"
            raise CaseFailed(wanted, event.describe())
        early.append(event)
        if event.kind == "SETTINGS" and not event.has("ACK"):
            break
    check_assumptions(assumes, settings_from(event))
    if opening < len(data):
        await peer.send_raw(data[opening:])
    return early


def _runner(vector: Spec) -> Any:
    data = b"".join(bytes.fromhex(step["recv"]) for step in vector["steps"])
    expect: Spec = vector["expect"]
    wanted: list[Spec] = list(expect.get("frames", []))
    error: Spec | None = expect.get("error")
    if error is not None and error["scope"] == "connection":
        wanted.append({"type": "GOAWAY", "error_code": error["code"]})
    absent: list[Spec] = list(expect.get("absent", []))
    # Vectors say so themselves since spec revision 1.1 (``mux_only``); the input
    # check covers vector files from before.
    foreign = bool(vector.get("mux_only")) or not data.startswith(MUX_MAGIC)
    assumes: dict[str, int] = dict(vector.get("assumes", {}))

    async def run(ctx: CaseContext) -> None:
        peer = await ctx.mux(handshake=False)
        if foreign:
            _require_mux_only(ctx, negotiated_alpn(peer.stream))
        early = await _send_checking(peer, data, assumes)
        pending = list(wanted)
        seen: list[FrameEvent] = []
        while pending:
            event = early.pop(0) if early else await peer.next_event()
            if isinstance(event, FrameEvent):
                for spec in absent:
                    if matches(spec, event):
                        raise CaseFailed(f"no {_describe(spec)}", event.describe())
                if matches(pending[0], event):
                    pending.pop(0)
                else:
                    seen.append(event)
                continue
            actual = event.describe()
            if seen:
                actual += " (received only " + ", ".join(f.describe() for f in seen[-4:]) + ")"
            raise CaseFailed(_describe(pending[0]), actual)

    return run


def _require_mux_only(ctx: CaseContext, alpn: str | None) -> None:
    """Skip unless the endpoint must read every byte as mux (see the module docstring)."""
    if ctx.target.mux_only or alpn == "mux/1":
        return
    how = f"ALPN negotiated {alpn!r}" if ctx.target.tls else "no TLS"
    raise CaseSkipped(
        "input is not a mux preface and the endpoint may speak other protocols on this port "
        f"({how}); run over TLS with ALPN mux/1 or pass --mux-only"
    )


def _usable(vector: Spec) -> bool:
    return (
        vector.get("role") == "server"
        and not vector.get("local_settings")
        and not vector.get("heavy")
        and all(set(step) <= {"note", "recv"} for step in vector["steps"])
    )


def vector_cases(directory: Path = VECTOR_DIR) -> list[TestCase]:
    """One case per usable server vector in ``directory`` (none when it does not exist)."""
    if not directory.is_dir():
        return []
    cases: list[TestCase] = []
    for path in sorted(directory.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        for vector in document.get("vectors", []):
            if not _usable(vector):
                continue
            cases.append(
                TestCase(
                    id=f"vector/{path.stem}/{vector['id']}",
                    protocol="mux",
                    section=str(vector["section"]),
                    source=_SOURCE,
                    title=f"{path.stem}.json",
                    description=vector["description"],
                    requirement=f"spec §{vector['section']}: {vector['description']}",
                    run=_runner(vector),
                )
            )
    return cases
