"""Conformance tester: check any server against the mux spec or HTTP/2 (h2spec style).

Server mode connects to a target and runs cases over raw frames; see
:mod:`mux.conformance.cli` for the command line and
:func:`mux.conformance.runner.run_cases` for the library entry point. The
HTTP/2 suite covers every case of h2spec 2.6 under h2spec's ids (the table is
``mux/conformance/H2SPEC.md``) plus our own. Client mode
(``mux conformance serve``) reuses the verifiers and reports with the roles
swapped.
"""

from __future__ import annotations

from mux.conformance.case import CaseFailed, CaseResult, CaseSkipped, Group, TestCase
from mux.conformance.cli import main
from mux.conformance.runner import run_cases, select_cases
from mux.conformance.wire import Target

__all__ = [
    "CaseFailed",
    "CaseResult",
    "CaseSkipped",
    "Group",
    "Target",
    "TestCase",
    "main",
    "run_cases",
    "select_cases",
]
