"""Rate-limit counters in Redis: the ORDERS windows, each on its own clock boundary,
several orders counted at once (an order list), reading the counts changes nothing, and
counters charged together stop after the first one over its limit."""

from __future__ import annotations

import redis

from chalicelib.adapters.redis_store import Counters, OrderCounter
from chalicelib.domain.clock import ManualClock
from chalicelib.domain.rate_limits import Counter

WINDOWS_S = (10, 86_400)
A_DAY_START_MS = 1_700_006_400_000  # a UTC midnight, and a 10 s boundary


def count(redis_client: redis.Redis, counter: OrderCounter, bucket: str,
          orders: int = 1) -> list[int]:
    return Counters(redis_client).charge(counter.counters(bucket, WINDOWS_S, orders))


def test_orders_are_counted_per_window_and_peeking_counts_nothing(
        redis_client: redis.Redis) -> None:
    clock = ManualClock(A_DAY_START_MS)
    counter = OrderCounter(redis_client, clock)

    first = count(redis_client, counter, "user:1")
    listed = count(redis_client, counter, "user:1", orders=2)
    peeked = counter.peek("user:1", WINDOWS_S)
    clock.advance(10_000)
    next_window = count(redis_client, counter, "user:1")
    other = counter.peek("user:2", WINDOWS_S)

    assert (first, listed, peeked) == ([1, 1], [3, 3], [3, 3])
    assert next_window == [1, 4]
    assert other == [0, 0]
    assert 0 < redis_client.ttl(f"orders:user:1:10:{A_DAY_START_MS // 10_000 + 1}") <= 11


def test_counters_after_one_over_its_limit_are_not_charged(redis_client: redis.Redis) -> None:
    counters = Counters(redis_client)
    ip, key, orders = (Counter("t:ip", 2, 61, limit=5), Counter("t:key", 1, 61, limit=1),
                       Counter("t:orders", 1, 11))

    charged = [counters.charge([ip, key, orders]) for _ in range(3)]

    # Under both limits; over the key's (no order counted); over the IP's (nor the key).
    assert charged == [[2, 1, 1], [4, 2], [6]]
    assert [int(redis_client.get(k) or 0) for k in ("t:ip", "t:key", "t:orders")] == [6, 2, 1]
    assert 0 < redis_client.ttl("t:ip") <= 61
