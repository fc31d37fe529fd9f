"""The ORDERS counter in Redis: several orders counted at once (an order list), each
window on its own clock boundary, and reading the counts changes nothing."""

from __future__ import annotations

import redis

from chalicelib.adapters.redis_store import OrderCounter
from chalicelib.domain.clock import ManualClock

WINDOWS_S = (10, 86_400)
A_DAY_START_MS = 1_700_006_400_000  # a UTC midnight, and a 10 s boundary


def test_orders_are_counted_per_window_and_peeking_counts_nothing(
        redis_client: redis.Redis) -> None:
    clock = ManualClock(A_DAY_START_MS)
    counter = OrderCounter(redis_client, clock)

    first = counter.count("user:1", WINDOWS_S)
    listed = counter.count("user:1", WINDOWS_S, orders=2)
    peeked = counter.peek("user:1", WINDOWS_S)
    clock.advance(10_000)
    next_window = counter.count("user:1", WINDOWS_S)
    other = counter.peek("user:2", WINDOWS_S)

    assert (first, listed, peeked) == ([1, 1], [3, 3], [3, 3])
    assert next_window == [1, 4]
    assert other == [0, 0]
    assert 0 < redis_client.ttl(f"orders:user:1:10:{A_DAY_START_MS // 10_000 + 1}") <= 11
