"""The matcher's word of settled orders over real Redis pub/sub: who is woken, and a
subscription that survives its connection being dropped (a Lambda container keeps it
across invocations)."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import pytest
import redis

from chalicelib.adapters.settled_orders import (
    SettledOrderNotices,
    decode_settled,
    encode_settled,
    settled_channel,
)
from chalicelib.settings import Settings
from tests.support.polling import wait_until

WAIT_S = 10.0


@pytest.fixture
def client(test_settings: Settings) -> Iterator[redis.Redis]:
    named = redis.Redis.from_url(test_settings.redis_url,
                                 client_name=f"settled-test-{uuid.uuid4().hex}")
    yield named
    named.close()


@pytest.fixture
def notices(client: redis.Redis) -> Iterator[SettledOrderNotices]:
    # A channel of the test's own: other processes on this Redis publish to theirs.
    listening = SettledOrderNotices(client, f"{settled_channel(client)}:{uuid.uuid4().hex}")
    yield listening
    listening.close()


def test_ids_round_trip() -> None:
    assert decode_settled(encode_settled([7, 12, 3])) == [7, 12, 3]
    assert decode_settled(encode_settled([])) == []


def test_the_channel_is_the_redis_databases_own() -> None:
    on_db_3 = redis.Redis(host="localhost", db=3)
    assert settled_channel(on_db_3) == "order-settled:3"
    on_db_3.close()


def test_a_message_naming_a_watched_order_wakes_its_waiter_only(
    client: redis.Redis, notices: SettledOrderNotices
) -> None:
    with notices.watch([41, 42]) as waiting, notices.watch([43]) as other:
        client.publish(notices.channel, encode_settled([1, 42, 2]))

        assert waiting.wait(WAIT_S) is True
        assert other.wait(0) is False


def test_a_message_that_names_no_orders_is_skipped(
    client: redis.Redis, notices: SettledOrderNotices
) -> None:
    with notices.watch([5]) as waiting:
        client.publish(notices.channel, b"not ids")
        client.publish(notices.channel, encode_settled([5]))

        assert waiting.wait(WAIT_S) is True


def test_a_dropped_subscription_comes_back_and_wakes_later_waiters(
    client: redis.Redis, notices: SettledOrderNotices
) -> None:
    channel = notices.channel
    with notices.watch([1]) as first:
        client.publish(channel, encode_settled([1]))
        assert first.wait(WAIT_S)

    name = client.client_getname()
    [subscriber] = [c for c in client.client_list()
                    if c["name"] == name and int(c.get("sub", 0)) > 0]
    client.client_kill_filter(_id=subscriber["id"])

    wait_until(lambda: client.pubsub_numsub(channel), timeout=WAIT_S,
               what="the listener subscribed again",
               until=lambda numsub: any(count == 1 for _, count in numsub))
    with notices.watch([2]) as later:
        client.publish(channel, encode_settled([2]))
        assert later.wait(WAIT_S)


def test_without_a_subscription_a_waiter_is_told_to_look_at_its_order() -> None:
    # Nothing listens on a port just freed: the subscription fails, so no word can come,
    # and the waiter reads its order again (as it did when it polled) instead of waiting
    # out its deadline.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    deaf = SettledOrderNotices(redis.Redis(host="127.0.0.1", port=port,
                                           socket_connect_timeout=0.5), channel="nowhere")
    try:
        with deaf.watch([1]) as notice:
            assert notice.wait(60.0) is True
    finally:
        deaf.close()
