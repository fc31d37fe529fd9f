"""The matcher's clock follows the database's time and the monotonic clock, never the
host's wall clock."""

from __future__ import annotations

from matching_cluster.service.clock import DatabaseClock


def test_the_database_time_is_read_once_and_carried_forward_by_the_monotonic_clock() -> None:
    reads = []
    monotonic = [500.0]

    def read_database_ms() -> int:
        reads.append(1)
        return 1_700_000_000_000

    clock = DatabaseClock(read_database_ms, monotonic=lambda: monotonic[0])
    assert clock.now_ms() == 1_700_000_000_000
    monotonic[0] += 2.5
    assert clock.now_ms() == 1_700_000_002_500
    assert len(reads) == 1
