"""Print the fuzz campaign's summary table at the end of the test run (``pytest`` terminal summary)."""
from __future__ import annotations

import pytest

SUMMARY: list[str] = []  # filled through the fuzz_summary fixture (this module object, whatever its import name)


@pytest.fixture
def fuzz_summary() -> list[str]:
    return SUMMARY


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if SUMMARY:
        terminalreporter.section("fuzz campaign")
        for text in SUMMARY:
            terminalreporter.write_line(text)
