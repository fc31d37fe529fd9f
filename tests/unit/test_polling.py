"""The tests' polling helper: what it returns and how it fails."""

from __future__ import annotations

import itertools

import pytest

from tests.support.polling import wait_until


def test_returns_the_first_value_that_satisfies_the_wait() -> None:
    counter = itertools.count()

    assert wait_until(lambda: next(counter), until=lambda seen: seen >= 2, timeout=5,
                      what="the counter at 2") == 2


def test_a_timeout_says_what_was_awaited_and_what_was_seen_last() -> None:
    with pytest.raises(TimeoutError, match=r"waiting for the queue to drain; last seen: \[3\]"):
        wait_until(lambda: [3], until=lambda seen: seen == [], timeout=0,
                   what="the queue to drain")
