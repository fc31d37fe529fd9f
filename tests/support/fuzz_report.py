"""A pytest plugin that prints the fuzzers' figures in the terminal summary.

Tests add lines with `report(...)`; they are printed at the end of the session even
when the test failed, so a red run still shows how many requests found what.
Test modules import `report` before pytest registers them as a plugin, hence
PYTEST_DONT_REWRITE (there are no asserts here to rewrite).
"""

from __future__ import annotations

from typing import Any

_LINES: list[str] = []


def report(line: str) -> None:
    _LINES.append(line)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _LINES:
        terminalreporter.section("fuzzing figures")
        for line in _LINES:
            terminalreporter.write_line(line)
