"""The two ways a conformance case ends other than passing.

Theory of operation
-------------------
A case's ``run`` coroutine (:class:`mux.conformance.case.TestCase`) returns to
pass, raises :class:`CaseFailed` (what was expected, what arrived) to fail, or
raises :class:`CaseSkipped` when the target cannot be tested for the rule. The
raw-frame peers (:mod:`mux.conformance.wire` and the modules built on it) raise
them too, so they live here, below both the case records and the wire.
"""

from __future__ import annotations


class CaseFailed(Exception):
    """The target broke the rule: carries what was expected and what arrived."""

    def __init__(self, expected: str, actual: str) -> None:
        super().__init__(f"expected {expected}, got {actual}")
        self.expected = expected
        self.actual = actual


class CaseSkipped(Exception):
    """The rule cannot be exercised against this target (the reason says why)."""
