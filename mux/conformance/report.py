"""Reports: a table for people, JSON and JUnit XML for machines.

Theory of operation
-------------------
All three render the same list of :class:`~.case.CaseResult`. The text form
groups cases by section (in run order) under a ``§6.7 PING (RFC 9113)``
heading, one line per case with its status and id, and under a failed case
the requirement and *expected* / *actual*. Colour is used only when asked
(the CLI asks when stdout is a terminal). The last line is always the
summary ``N passed, N failed`` (plus skipped when any).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from mux.conformance.case import CaseResult

_COLOURS = {"passed": "32", "failed": "31", "error": "31", "skipped": "33", "head": "1"}
_LABELS = {"passed": "PASS", "failed": "FAIL", "error": "ERROR", "skipped": "SKIP"}


def _paint(text: str, kind: str, colour: bool) -> str:
    return f"\x1b[{_COLOURS[kind]}m{text}\x1b[0m" if colour else text


def summary(results: Sequence[CaseResult]) -> str:
    """``N passed, N failed`` (``, N skipped`` when some were skipped)."""
    passed = sum(r.status == "passed" for r in results)
    failed = sum(r.is_failure for r in results)
    skipped = sum(r.status == "skipped" for r in results)
    line = f"{passed} passed, {failed} failed"
    return line + (f", {skipped} skipped" if skipped else "")


def render_text(results: Sequence[CaseResult], *, colour: bool = False) -> str:
    """The human-readable table, grouped by section, ending in the summary."""
    lines: list[str] = []
    current = None
    order: dict[tuple[str, str], int] = {}
    for result in results:
        order.setdefault((result.case.source, result.case.section), len(order))
    grouped = sorted(results, key=lambda r: order[(r.case.source, r.case.section)])
    for result in grouped:
        case = result.case
        key = (case.source, case.section)
        if key != current:
            current = key
            if lines:
                lines.append("")
            lines.append(_paint(f"§{case.section} {case.title} ({case.source})", "head", colour))
        label = _paint(f"{_LABELS[result.status]:<5}", result.status, colour)
        strict = " [strict]" if case.strict else ""
        lines.append(f"  {label} {case.id:<14} {case.description}{strict}")
        if result.is_failure:
            lines.append(f"          requirement: {case.requirement}")
            lines.append(f"          expected:    {result.expected}")
            lines.append(f"          actual:      {result.actual}")
        elif result.status == "skipped":
            lines.append(f"          skipped:     {result.actual}")
    lines.append("")
    lines.append(
        _paint(
            summary(results), "failed" if any(r.is_failure for r in results) else "passed", colour
        )
    )
    return "\n".join(lines) + "\n"


def to_json(results: Sequence[CaseResult], *, target: str, protocol: str) -> str:
    """Machine-readable results: one object per case plus totals."""
    cases = [
        {
            "id": r.case.id,
            "protocol": r.case.protocol,
            "section": r.case.section,
            "source": r.case.source,
            "title": r.case.title,
            "description": r.case.description,
            "requirement": r.case.requirement,
            "strict": r.case.strict,
            "status": r.status,
            "expected": r.expected,
            "actual": r.actual,
            "duration": round(r.duration, 4),
        }
        for r in results
    ]
    totals = {
        "passed": sum(r.status == "passed" for r in results),
        "failed": sum(r.is_failure for r in results),
        "skipped": sum(r.status == "skipped" for r in results),
    }
    document = {"target": target, "protocol": protocol, "totals": totals, "cases": cases}
    return json.dumps(document, indent=2) + "\n"


def to_junit(results: Sequence[CaseResult], *, name: str) -> str:
    """JUnit XML: one ``testsuite`` per section, one ``testcase`` per case."""
    root = ET.Element("testsuites", name=name)
    suites: dict[tuple[str, str], ET.Element] = {}
    for r in results:
        key = (r.case.source, r.case.section)
        suite = suites.get(key)
        if suite is None:
            suite = ET.SubElement(
                root, "testsuite", name=f"{r.case.source} §{r.case.section} {r.case.title}"
            )
            suites[key] = suite
        element = ET.SubElement(
            suite,
            "testcase",
            classname=f"{r.case.protocol}.{r.case.section}",
            name=f"{r.case.id} {r.case.description}",
            time=f"{r.duration:.3f}",
        )
        if r.status == "failed":
            message = f"expected {r.expected}, got {r.actual}"
            failure = ET.SubElement(element, "failure", message=message)
            failure.text = f"{r.case.requirement}\n{message}"
        elif r.status == "error":
            ET.SubElement(element, "error", message=f"expected {r.expected}, got {r.actual}")
        elif r.status == "skipped":
            ET.SubElement(element, "skipped", message=r.actual)
    for suite in suites.values():
        cases = list(suite)
        suite.set("tests", str(len(cases)))
        suite.set("failures", str(sum(c.find("failure") is not None for c in cases)))
        suite.set("errors", str(sum(c.find("error") is not None for c in cases)))
        suite.set("skipped", str(sum(c.find("skipped") is not None for c in cases)))
    root.set("tests", str(len(results)))
    root.set("failures", str(sum(r.status == "failed" for r in results)))
    root.set("errors", str(sum(r.status == "error" for r in results)))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
