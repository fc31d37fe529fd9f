"""The subscriptions' generation marker against a real Redis."""

from __future__ import annotations

import redis

from chalicelib.adapters.stream_generation import SubscriptionsGeneration


def test_the_marker_is_written_once_and_goes_with_the_data(
        redis_client: redis.Redis) -> None:
    generation = SubscriptionsGeneration(redis_client)
    assert generation.current() is None
    first = generation.establish()
    assert generation.establish() == first == generation.current()
    assert SubscriptionsGeneration(redis_client).establish() == first  # another process
    assert redis_client.ttl("ws:generation") == -1  # no expiry: only losing the data loses it

    redis_client.flushdb()
    assert generation.current() is None
    second = generation.establish()
    assert second != first
    assert generation.current() == second
