"""Reading TOML values with collected, path-named errors (the config loader's toolkit).

Theory of operation
-------------------
A :class:`Reader` walks one parsed document for :mod:`mux.gateway.config`: every
typed lookup (:meth:`Reader.get`, :meth:`Reader.enum`, :meth:`Reader.file`,
:meth:`Reader.table`) checks the value and, when it is wrong, records one line
``SOURCE: KEY.PATH: problem`` and returns a default so reading goes on. The
loader raises :class:`ConfigError` with all of them at the end. Pure functions,
no I/O except checking that named files exist.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

NAME = re.compile(r"[A-Za-z0-9_.\-]+\Z")
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_T = TypeVar("_T")


class ConfigError(ValueError):
    """The configuration is invalid; ``errors`` lists every problem, one line each."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class Reader:
    """Collects errors while reading one source."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.errors: list[str] = []

    def error(self, path: str, problem: str) -> None:
        self.errors.append(
            f"{self.source}: {path}: {problem}" if path else f"{self.source}: {problem}"
        )

    def table(self, value: object, path: str, allowed: Iterable[str]) -> dict[str, Any] | None:
        """``value`` as a table whose keys are all in ``allowed`` (unknown keys reported)."""
        if not isinstance(value, dict):
            self.error(path, f"expected a table, got {kind_name(value)}")
            return None
        known = set(allowed)
        for key in value:
            if key not in known:
                self.error(
                    join(path, key), f"unknown key (expected one of {', '.join(sorted(known))})"
                )
        return value

    def get(
        self,
        table: dict[str, Any],
        path: str,
        key: str,
        kind: type[_T] | tuple[type, ...],
        default: _T,
        check: Callable[[Any], str | None] | None = None,
        *,
        optional: bool = False,
    ) -> _T:
        """``table[key]`` checked for type (and ``check``), or ``default``.

        ``optional``: ``false`` means None (a disabled limit or timer).
        """
        if key not in table:
            return default
        value = table[key]
        where = join(path, key)
        if optional and value is False:
            return None  # type: ignore[return-value]
        if not is_type(value, kind):
            expected = (
                kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            )
            extra = " or false" if optional else ""
            self.error(where, f"expected {expected}{extra}, got {kind_name(value)} {value!r}")
            return default
        if isinstance(value, int) and not isinstance(value, bool) and kind is float:
            value = float(value)
        problem = check(value) if check is not None else None
        if problem is not None:
            self.error(where, f"{problem}, got {value!r}")
            return default
        return value  # type: ignore[no-any-return]

    def enum(self, table: dict[str, Any], path: str, key: str, enum_type: Any, default: _T) -> _T:
        raw = self.get(table, path, key, str, None)
        if raw is None:
            return default
        try:
            return enum_type(raw)  # type: ignore[no-any-return]
        except ValueError:
            names = ", ".join(m.value for m in enum_type)
            self.error(join(path, key), f"unknown value {raw!r} (expected one of {names})")
            return default

    def file(self, table: dict[str, Any], path: str, key: str, base: str | None) -> str | None:
        name = self.get(table, path, key, str, None)
        if name is None:
            return None
        full = name if base is None or os.path.isabs(name) else os.path.join(base, name)
        if not os.path.isfile(full):
            self.error(join(path, key), f"file not found: {full}")
        return full


def is_type(value: object, kind: type | tuple[type, ...]) -> bool:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool):
        return bool in kinds
    if float in kinds and isinstance(value, int):
        return True
    return isinstance(value, kinds)


def kind_name(value: object) -> str:
    return {dict: "a table", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def positive(value: float) -> str | None:
    return None if 0 < value < math.inf else "must be a finite number > 0"


def at_least(low: int) -> Callable[[int], str | None]:
    return lambda value: None if value >= low else f"must be >= {low}"


def within(low: float, high: float) -> Callable[[float], str | None]:
    return lambda value: None if low <= value <= high else f"must be in {low:g}..{high:g}"


def parse_address(value: str) -> tuple[str, int] | str:
    """``HOST:PORT`` (``[::1]:80`` for IPv6) as (host, port), or a problem string."""
    host, sep, port = value.rpartition(":")
    if not sep or not host:
        return "expected HOST:PORT"
    if not (port.isascii() and port.isdigit()) or not 0 <= int(port) <= 65535:
        return f"port must be a number in 0..65535, got {port!r}"
    if host.startswith("["):
        if not host.endswith("]"):
            return "unterminated [IPv6] host"
        host = host[1:-1]
    elif ":" in host:
        return "an IPv6 host must be written [addr]:port"
    if not host or any(c.isspace() or c in "/?#@" for c in host):
        return f"invalid host {host!r}"
    return host, int(port)


def read_address(
    r: Reader, t: dict[str, Any], path: str, key: str, *, allow_zero: bool = False
) -> tuple[str, int] | None:
    raw = r.get(t, path, key, str, None)
    if raw is None:
        return None
    parsed = parse_address(raw)
    if isinstance(parsed, str):
        r.error(join(path, key), f"{parsed}, got {raw!r}")
        return None
    if parsed[1] == 0 and not allow_zero:
        r.error(join(path, key), f"port must be in 1..65535, got {raw!r}")
        return None
    return parsed


def token(value: str) -> str | None:
    return None if TOKEN.match(value) else "must be a header name (token characters)"


def nonempty(value: str) -> str | None:
    return None if value.strip() else "must not be empty"
