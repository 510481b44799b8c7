"""Conformance cases: the record every check is, and how a group declares them.

Theory of operation
-------------------
A :class:`TestCase` is one requirement of one spec section, checked over one
fresh connection. Its ``run`` coroutine drives a raw-frame peer (see
:mod:`mux.conformance.wire`) and either returns (pass), raises
:class:`CaseFailed` with *expected* and *actual* (fail), or raises
:class:`CaseSkipped` when the target cannot be tested for this rule (for
example it advertises no stream limit, so "streams beyond the limit" has
nothing to exceed).

Each module in :mod:`mux.conformance.groups` builds one :class:`Group` per
spec section and declares cases on it with the :meth:`Group.case` decorator,
so the id (``http2/6.7/2``), section and protocol come from one place and the
numbering follows declaration order, like h2spec. The HTTP/2 cases h2spec 2.6
has carry its ids (families ``generic``, ``http2``, ``hpack``; see
``mux/conformance/H2SPEC.md``); our others are ``h2/<RFC 9113 section>/<n>``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, ClassVar, Literal

import attrs

from mux.conformance.verdicts import CaseFailed, CaseSkipped

if TYPE_CHECKING:
    from mux.conformance.context import CaseContext

Protocol = Literal["mux", "h2"]
Run = Callable[["CaseContext"], Awaitable[None]]

#: The verdicts live in :mod:`mux.conformance.verdicts` (below the wire, which raises them);
#: re-exported here, where the case modules import them.
__all__ = ["CaseFailed", "CaseResult", "CaseSkipped", "Group", "Protocol", "Run", "TestCase"]


@attrs.frozen
class TestCase:
    """One checked requirement.

    Attributes:
        id: stable identifier ``<family>/<section>/<n>``: h2spec's ids for its cases
            (``http2/6.5/1``, ``generic/3.1/1``, ``hpack/2.3.3/1``), ``h2/...`` for
            our other HTTP/2 cases (RFC 9113 sections), ``mux/...`` for mux.
        protocol: ``"mux"`` or ``"h2"``.
        section: section number in ``source`` (``"6.5.2"``).
        source: the document the section belongs to (``RFC 9113``, ``RFC 7541``,
            ``spec/mux-protocol.md``, ``spec/vectors``).
        title: the section's title.
        description: what the case sends, in a few words.
        requirement: the rule it checks, in one sentence.
        run: the coroutine that drives the wire.
        strict: True for SHOULD-level rules, only run with ``--strict``.
    """

    __test__: ClassVar[bool] = False  # not a pytest test class

    id: str
    protocol: Protocol
    section: str
    source: str
    title: str
    description: str
    requirement: str
    run: Run = attrs.field(eq=False, repr=False)
    strict: bool = False

    @property
    def family(self) -> str:
        """The first part of the id: ``http2``, ``generic``, ``hpack``, ``h2``, ``mux`` ..."""
        return self.id.split("/", 1)[0]

    def in_section(self, wanted: str) -> bool:
        """True when ``wanted`` names this case, its section or a parent section.

        ``wanted`` is a case id (``http2/6.7/2``), a family (``generic``), a
        family and section (``hpack/4.2``: that family only), or a bare section
        number (``6.5``), which names RFC-numbered sections only: h2spec's
        ``http2`` and our ``h2`` and ``mux`` families, not ``generic`` (h2spec's
        own outline) nor ``hpack`` (RFC 7541).
        """
        wanted = wanted.strip().removeprefix("§")
        family = self.family
        if wanted in (self.id, family):
            return True
        head, sep, rest = wanted.partition("/")
        if sep and not head[:1].isdigit():
            if head != family:
                return False
            wanted = rest
        elif family in _OWN_NUMBERING:
            return False
        return self.section == wanted or self.section.startswith(wanted + ".")


#: Families whose sections are not RFC 9113's (a bare "4.2" does not select them).
_OWN_NUMBERING = frozenset({"generic", "hpack"})


@attrs.define
class Group:
    """The cases of one spec section, in declaration order."""

    protocol: Protocol
    section: str
    title: str
    source: str
    #: First part of case ids (defaults to the protocol; ``hpack`` for RFC 7541).
    prefix: str = ""
    cases: list[TestCase] = attrs.Factory(list)

    def case(
        self, description: str, requirement: str, *, strict: bool = False
    ) -> Callable[[Run], Run]:
        """Decorator: declare ``run`` as the next case of this section."""

        def register(run: Run) -> Run:
            number = len(self.cases) + 1
            self.cases.append(
                TestCase(
                    id=f"{self.prefix or self.protocol}/{self.section}/{number}",
                    protocol=self.protocol,
                    section=self.section,
                    source=self.source,
                    title=self.title,
                    description=description,
                    requirement=requirement,
                    run=run,
                    strict=strict,
                )
            )
            return run

        return register


Status = Literal["passed", "failed", "skipped", "error"]


@attrs.frozen
class CaseResult:
    """What happened when one case ran.

    ``error`` means the tester itself could not complete the case (for example
    it could not connect); it counts as a failure for the exit code.
    """

    case: TestCase
    status: Status
    expected: str = ""
    actual: str = ""
    duration: float = 0.0

    @property
    def is_failure(self) -> bool:
        """True for ``failed`` and ``error``."""
        return self.status in ("failed", "error")
