"""Prints how many hostile calls the properties made, and how they ended."""

from __future__ import annotations

import pytest

from ._state import TALLY


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TALLY["tried"]:  # 0 under xdist's controller: the workers made the calls
        terminalreporter.write_line(
            f"hostile calls: {TALLY['tried']} tried, {TALLY['typed']} refused with an "
            f"AffiliateError, {TALLY['tried'] - TALLY['typed'] - TALLY['outside']} succeeded, "
            f"{TALLY['outside']} raised outside the AffiliateError tree"
        )
