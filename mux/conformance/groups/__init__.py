"""The case registry: one module per spec section, collected in declaration order.

HTTP/2 groups (``h2_*``) depend only on hyperframe and hpack; mux groups
(``mux_*``) and the spec vectors need the mux codec and are imported only
when mux cases are asked for.
"""

from __future__ import annotations

import importlib

from mux.conformance.case import Group, TestCase

#: HTTP/2 group modules, in RFC order.
H2_MODULES = (
    "h2_3_preface",
    "h2_4_frames",
    "h2_5_streams",
    "h2_6_frame_definitions",
    "h2_6_settings",
    "h2_6_flow_control",
    "h2_6_continuation",
    "h2_7_error_codes",
    "h2_8_http",
    "h2_10_security",
    "hpack",
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
