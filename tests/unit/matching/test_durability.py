"""Which batches a publishing thread may still send after its durability barrier failed."""

from __future__ import annotations

from matching_cluster.service.durability import survived

STORED = {0: (3, 100), 1: (2, 50)}  # partition: (owner epoch, next offset)


def test_a_batch_at_or_before_the_stored_offset_of_its_own_epoch_survived() -> None:
    assert survived(((0, 3, 90),), STORED)
    assert survived(((0, 3, 100), (1, 2, 50)), STORED)


def test_a_batch_past_the_stored_offset_was_lost_and_is_settled_again() -> None:
    assert not survived(((0, 3, 101),), STORED)
    assert not survived(((0, 3, 100), (1, 2, 51)), STORED)


def test_a_batch_of_an_epoch_fenced_since_is_not_known_to_have_survived() -> None:
    assert not survived(((1, 1, 40),), STORED)
    assert not survived(((2, 1, 1),), STORED)  # a partition with no stored row


def test_time_marks_stand_nowhere_and_always_go_out() -> None:
    assert survived((), {})
