"""mux/conformance/H2SPEC.md lists every h2spec 2.6 case, and each is a case of ours."""

from __future__ import annotations

import re
from pathlib import Path

from mux.conformance.groups import all_cases

_TABLE = Path(__file__).resolve().parents[2] / "mux" / "conformance" / "H2SPEC.md"
_H2SPEC_FAMILIES = ("generic", "http2", "hpack")


def _catalogue() -> dict[str, str]:
    """h2spec id -> its table row, from the section listing h2spec's cases."""
    text = _TABLE.read_text(encoding="utf-8")
    section = text.split("## h2spec's cases", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([^`]+)` \|(.*)$", section, flags=re.MULTILINE)
    return dict(rows)


def test_every_h2spec_case_is_ours_and_every_mirror_is_listed() -> None:
    """Same ids both ways: none of h2spec's cases is missing, none of ours is unlisted."""
    catalogue = _catalogue()
    assert len(catalogue) == 148  # h2spec 2.6: 146 cases, plus 2 only with --strict
    ours = {c.id: c for c in all_cases("h2") if c.family in _H2SPEC_FAMILIES}
    assert set(catalogue) == set(ours)
    strict = {cid for cid, row in catalogue.items() if "(strict)" in row}
    assert (
        strict
        == {cid for cid, c in ours.items() if c.strict}
        == {
            "http2/5.4.1/2",
            "http2/6.3/3",
        }
    )


def test_our_own_cases_are_listed_and_apart() -> None:
    """Our other HTTP/2 cases are h2/<RFC 9113 section> and appear in the second table."""
    text = _TABLE.read_text(encoding="utf-8")
    own = [c for c in all_cases("h2") if c.family not in _H2SPEC_FAMILIES]
    assert own and all(c.family == "h2" and c.source == "RFC 9113" for c in own)
    for case in own:
        assert f"| `{case.id}` |" in text
    ids = {c.id for c in own}
    assert {"h2/5.1/1", "h2/8.1/1", "h2/8.1/2"} <= ids  # after RST_STREAM, HEAD, early response
