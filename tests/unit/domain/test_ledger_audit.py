"""What a ledger break is, how it is recorded, and when a pass reads the whole ledger."""

from __future__ import annotations

import pytest

from chalicelib.domain.errors import ErrorCode
from chalicelib.domain.ledger_audit import (
    Break,
    Invariant,
    PassResult,
    needs_full_pass,
    withdrawals_halted,
)


def test_a_break_survives_its_json_record_with_amounts_beyond_a_json_number() -> None:
    found = Break(Invariant.BALANCE_ENTRIES, "BTC", 10**37 + 1, -5, balance_id=7, user_id=3,
                  bucket="LOCKED")

    record = found.as_record()

    assert record == {"invariant": "balance_entries", "asset": "BTC",
                      "expected": "10000000000000000000000000000000000001", "actual": "-5",
                      "balance_id": 7, "user_id": 3, "bucket": "LOCKED"}
    assert Break.from_record(record) == found


def test_a_pass_counts_its_breaks_by_invariant() -> None:
    result = PassResult(False, 4, (Break(Invariant.ASSET_SUM, "BTC", 0, 1),
                                   Break(Invariant.ASSET_SUM, "ETH", 0, 2)), halted=True)

    assert not result.ok
    assert result.counts() == {Invariant.ASSET_SUM: 2, Invariant.BALANCE_ENTRIES: 0,
                               Invariant.LOCKS: 0}


@pytest.mark.parametrize(("passes", "full_every", "last_broken", "full"), [
    (1, 20, False, False),
    (20, 20, False, True),
    (21, 20, True, True),
    (40, 0, False, False),
])
def test_a_full_pass_is_due_every_nth_pass_and_while_broken(
        passes: int, full_every: int, last_broken: bool, full: bool) -> None:
    assert needs_full_pass(passes=passes, full_every=full_every,
                           last_broken=last_broken) is full


def test_a_halted_withdrawal_is_a_refusal_not_an_unknown_outcome() -> None:
    error = withdrawals_halted()

    assert (error.status, error.code) == (400, ErrorCode.WITHDRAWALS_HALTED)
    assert error.body()["code"] == -5010
