"""Waiting on state, not on time: poll until what the test needs has happened."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

POLL_INTERVAL_SECONDS = 0.05


def wait_until(
    predicate: Callable[[], T], *, timeout: float, what: str,
    until: Callable[[T], object] = bool,
) -> T:
    """Call ``predicate`` until ``until`` holds for what it returns (by default: until it
    is truthy) and return that value. After ``timeout`` seconds fail with a message that
    says what was awaited and the last value seen (so pass a predicate that returns the
    observed state, with ``until`` saying which state is wanted, for a useful message)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if until(value):
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what};"
                               f" last seen: {value!r}")
        # The backoff between polls: the state changes in another thread or process.
        time.sleep(POLL_INTERVAL_SECONDS)
