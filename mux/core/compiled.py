"""Markers for the optional mypyc build of the protocol core (``scripts/build_fast.py``).

Theory of operation
-------------------
The package is pure Python; ``scripts/build_fast.py`` can compile some ``mux/core``
modules with mypyc. Two things differ in compiled code and are handled here, at no cost to
the pure-Python package:

* a compiled class cannot be subclassed by interpreted code unless it says so:
  :func:`mypyc_attr` (``mypy_extensions``'s, which mypyc reads; a no-op decorator when
  ``mypy_extensions`` is not installed, as in a plain install);
* a value typed ``ErrorCode | int`` is held as a plain ``int`` in compiled code (the union
  simplifies to ``int``), so an ``ErrorCode`` would lose its name on the way to an event:
  :data:`error_code` is :func:`mux.errors.code_from_int` typed as returning an object.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mux.errors import code_from_int

if TYPE_CHECKING:
    from mypy_extensions import mypyc_attr
else:
    try:
        from mypy_extensions import mypyc_attr
    except ImportError:  # a plain install: only mypyc reads the marker

        def mypyc_attr(*_names: str, **_flags: object) -> Callable[[type], type]:
            return lambda cls: cls


#: :func:`mux.errors.code_from_int`, its result kept as an object (see above).
error_code: Callable[[int], Any] = code_from_int

__all__ = ["error_code", "mypyc_attr"]
