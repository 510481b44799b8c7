"""The help layout both conformance commands share (``mux-conformance`` and its
``serve`` subcommand).

Theory of operation
-------------------
:class:`HelpFormatter` keeps each parser's hand-laid description and appends
an option's default to its help line unless the text already names it or the
default is a non-value. It sits below :mod:`mux.conformance.cli` and
:mod:`mux.conformance.servecli`, which both use it (the first hands over to
the second), so neither imports the other for it.
"""

from __future__ import annotations

import argparse


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description's layout and shows each option's default.

    A default already named in the help text, and the non-values None, False
    and [], are not repeated.
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "default" in text or default in (None, False, [], argparse.SUPPRESS):
            return text
        return f"{text} (default: %(default)s)"
