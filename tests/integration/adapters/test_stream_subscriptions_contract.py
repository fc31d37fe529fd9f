"""The stream subscriptions and the fan-out's progress, real (Redis) and fake: who
listens to which channel, as the client protocol changes it and the fan-out reads it."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import redis

from chalicelib.adapters.stream_subscriptions import (
    CancelClientIds,
    OrderEventProgress,
    StreamSubscriptions,
)
from chalicelib.service_layer.ports import CancelRequests, EventProgress, Subscriptions
from tests.support.fakes.subscriptions import (
    FakeCancelClientIds,
    FakeEventProgress,
    FakeSubscriptions,
)

TRADES, DEPTH, USER = "btcusdt@trade", "btcusdt@depth", "user:7"


@dataclass(frozen=True)
class Rig:
    subscriptions: Subscriptions
    progress: EventProgress
    cancels: CancelRequests


@pytest.fixture(params=["fake", "redis"])
def rig(request: pytest.FixtureRequest) -> Rig:
    if request.param == "fake":
        return Rig(FakeSubscriptions(), FakeEventProgress(), FakeCancelClientIds())
    client: redis.Redis = request.getfixturevalue("redis_client")
    return Rig(StreamSubscriptions(client), OrderEventProgress(client), CancelClientIds(client))


def test_each_channel_answers_the_connections_subscribed_to_it(rig: Rig) -> None:
    subs = rig.subscriptions
    subs.add("a", [TRADES, DEPTH])
    subs.add("b", [TRADES])
    subs.add("b", [])

    assert subs.subscribers([TRADES, DEPTH, USER]) == {TRADES: {"a", "b"}, DEPTH: {"a"}}
    assert (subs.channels_of("a"), subs.channels_of("b")) == ({TRADES, DEPTH}, {TRADES})
    assert (subs.channels_of("c"), subs.subscribers([])) == (set(), {})


def test_an_unsubscribed_channel_no_longer_lists_the_connection(rig: Rig) -> None:
    subs = rig.subscriptions
    subs.add("a", [TRADES, DEPTH])
    subs.add("b", [DEPTH])

    subs.remove("a", [DEPTH, USER])
    subs.remove("b", [DEPTH])

    assert subs.subscribers([TRADES, DEPTH]) == {TRADES: {"a"}}
    assert (subs.channels_of("a"), subs.channels_of("b")) == ({TRADES}, set())


def test_a_dropped_connection_leaves_every_channel_and_its_combined_flag(rig: Rig) -> None:
    subs = rig.subscriptions
    subs.add("a", [TRADES, USER])
    subs.add("b", [TRADES])
    subs.set_combined("a")
    subs.set_combined("b")

    subs.drop_connection("a")
    subs.drop_connection("never-connected")

    assert subs.subscribers([TRADES, USER]) == {TRADES: {"b"}}
    assert subs.channels_of("a") == set()
    assert subs.combined(["a", "b"]) == {"b"}


def test_combined_answers_only_the_connections_that_asked_for_it(rig: Rig) -> None:
    subs = rig.subscriptions
    subs.set_combined("b")
    subs.set_combined("c")
    subs.set_combined("c", combined=False)

    assert subs.combined(["a", "b", "c"]) == {"b"}
    assert subs.combined([]) == set()


def test_order_progress_starts_at_zero_and_keeps_the_last_recorded_sequence(rig: Rig) -> None:
    progress = rig.progress

    assert progress.last_seq(1) == 0
    progress.record(1, 5)
    progress.record(1, 9)
    progress.record(2, 3)
    assert (progress.last_seq(1), progress.last_seq(2)) == (9, 3)


def test_the_first_mark_of_a_market_stays_its_records_start(rig: Rig) -> None:
    progress = rig.progress
    assert progress.recorded_from("BTCUSDT", 40) == 40
    assert progress.recorded_from("BTCUSDT", 55) == 40
    assert progress.recorded_from("ETHUSDT", 7) == 7


def test_tags_say_how_a_connection_takes_a_channel_and_go_with_it(rig: Rig) -> None:
    subs = rig.subscriptions
    subs.add("a", [USER])
    subs.add("b", [USER, TRADES])
    subs.tag("a", USER, "sub:0")
    subs.tag("a", USER, "sub:1")
    subs.tag("b", USER, "key:abc")
    subs.tag("b", TRADES, "sub:0")

    assert subs.tagged(["a", "b", "c"], USER) == {"a": ["sub:0", "sub:1"], "b": ["key:abc"]}
    subs.untag("a", ["sub:0", "sub:9"])
    assert subs.tags_of("a") == {"sub:1": USER}
    subs.drop_connection("b")
    assert (subs.tags_of("b"), subs.tagged(["b"], TRADES)) == ({}, {})


def test_subscription_ids_count_from_zero_per_connection(rig: Rig) -> None:
    subs = rig.subscriptions

    assert [subs.next_subscription_id("a") for _ in range(3)] == [0, 1, 2]
    assert subs.next_subscription_id("b") == 0
    subs.drop_connection("a")
    assert subs.next_subscription_id("a") == 0


def test_a_session_is_kept_until_logged_out_or_the_connection_drops(rig: Rig) -> None:
    subs = rig.subscriptions
    assert subs.session_of("a") == {}
    subs.set_session("a", {"apiKey": "k1", "authorizedSince": "5"})
    subs.set_session("b", {"apiKey": "k2", "authorizedSince": "6"})
    subs.set_session("a", {"apiKey": "k3", "authorizedSince": "7"})

    assert subs.session_of("a") == {"apiKey": "k3", "authorizedSince": "7"}
    subs.set_session("a", None)
    subs.drop_connection("b")
    assert (subs.session_of("a"), subs.session_of("b")) == ({}, {})


def test_a_cancel_client_id_is_found_by_either_name_of_the_order_once(rig: Rig) -> None:
    cancels = rig.cancels
    cancels.record(7, 5, None, "by-id")
    cancels.record(7, None, "mine", "by-client-id")
    cancels.record(8, 5, None, "another-user")

    assert cancels.take(7, 5, "other") == "by-id"
    assert cancels.take(7, 5, "other") is None
    assert cancels.take(7, 6, "mine") == "by-client-id"
    assert (cancels.take(7, 6, "mine"), cancels.take(8, 5, "x")) == (None, "another-user")
