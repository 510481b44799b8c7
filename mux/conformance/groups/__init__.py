"""The case registry: one module per spec section, collected in declaration order.

HTTP/2 groups (h2spec's ``generic``, ``http2``, ``hpack`` and our ``h2``)
depend only on hyperframe and hpack; mux groups
(``mux_*``) and the spec vectors need the mux codec and are imported only
when mux cases are asked for.
"""

from __future__ import annotations

import importlib

from mux.conformance.case import Group, TestCase

#: HTTP/2 group modules: h2spec 2.6's suites under its ids (generic, http2, hpack),
#: then ours (h2/<RFC 9113 section>/<n>). The table is mux/conformance/H2SPEC.md.
H2_MODULES = (
    "generic",
    "http2_3_5",
    "http2_6",
    "http2_7_8",
    "hpack",
    "h2_ours",
    "h2_behaviour",
)
#: mux group modules, in spec order.
MUX_MODULES: tuple[str, ...] = (
    "mux_2_connection",
    "mux_3_frames",
    "mux_7_streams",
    "mux_11_limits",
)


def _groups(module_names: tuple[str, ...]) -> list[Group]:
    groups: list[Group] = []
    for name in module_names:
        module = importlib.import_module(f"mux.conformance.groups.{name}")
        groups.extend(module.GROUPS)
    return groups


def all_cases(protocol: str) -> list[TestCase]:
    """Every case of ``protocol`` (``"h2"`` or ``"mux"``), strict ones included."""
    if protocol == "h2":
        return [case for group in _groups(H2_MODULES) for case in group.cases]
    cases = [case for group in _groups(MUX_MODULES) for case in group.cases]
    from mux.conformance.vectors import vector_cases

    return cases + vector_cases()
