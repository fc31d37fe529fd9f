"""The order publisher, real (Kafka) and fake: what it answers is exactly what the
broker holds, each command keyed by its market and in order per market; a broker out
of reach acknowledges nothing (intake then leaves the command to the sweeper)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from chalicelib.adapters.order_publisher import CommandPublisher as KafkaPublisher
from chalicelib.domain.order_commands import OrderCommand
from chalicelib.domain.orders import CommandKind
from chalicelib.service_layer.ports import CommandPublisher
from tests.integration.adapters import closed_port
from tests.integration.matching.support import create_topic, read_topic
from tests.support.fakes.publisher import FakePublisher

UNREACHABLE_TIMEOUT_S = 0.5


@dataclass(frozen=True)
class PublisherRig:
    publisher: CommandPublisher
    held: Callable[[], list[tuple[str, OrderCommand]]]
    """What the broker holds: each command with its key, in order per key."""
    out_of_reach: Callable[[], CommandPublisher]


def fake_rig() -> PublisherRig:
    fake = FakePublisher()

    def out_of_reach() -> CommandPublisher:
        down = FakePublisher()
        down.up = False
        return down

    return PublisherRig(fake, lambda: [(c.market, c) for c in fake.published], out_of_reach)


def kafka_rig(bootstrap: str, topic: str) -> PublisherRig:
    create_topic(bootstrap, topic, partitions=3)

    def held() -> list[tuple[str, OrderCommand]]:
        return [(bytes(m.key() or b"").decode(), OrderCommand.decode(bytes(m.value() or b"")))
                for m in read_topic(bootstrap, topic)]

    def out_of_reach() -> CommandPublisher:
        return KafkaPublisher(f"127.0.0.1:{closed_port()}", topic,
                              timeout_s=UNREACHABLE_TIMEOUT_S)

    return PublisherRig(KafkaPublisher(bootstrap, topic), held, out_of_reach)


@pytest.fixture(params=["fake", "kafka"])
def rig(request: pytest.FixtureRequest) -> PublisherRig:
    if request.param == "fake":
        return fake_rig()
    return kafka_rig(request.getfixturevalue("kafka_bootstrap"),
                     request.getfixturevalue("topic_name"))


def cancel(command_id: int, market: str) -> OrderCommand:
    return OrderCommand(command_id=command_id, kind=CommandKind.CANCEL, market=market,
                        user_id=7, order_id=100 + command_id)


def by_market(held: list[tuple[str, OrderCommand]]) -> dict[str, list[OrderCommand]]:
    markets: dict[str, list[OrderCommand]] = {}
    for key, command in held:
        markets.setdefault(key, []).append(command)
    return markets


def test_acknowledged_commands_are_held_keyed_by_market_in_order(rig: PublisherRig) -> None:
    commands = [cancel(i, "BTCUSDT" if i % 3 else "ETHUSDT") for i in range(1, 10)]

    assert rig.publisher.publish(commands[:4]) == [1, 2, 3, 4]
    assert rig.publisher.publish(commands[4:]) == [5, 6, 7, 8, 9]
    assert rig.publisher.publish([]) == []

    assert by_market(rig.held()) == {
        "BTCUSDT": [c for c in commands if c.market == "BTCUSDT"],
        "ETHUSDT": [c for c in commands if c.market == "ETHUSDT"]}


def test_a_broker_out_of_reach_acknowledges_nothing(rig: PublisherRig) -> None:
    assert rig.out_of_reach().publish([cancel(1, "BTCUSDT")]) == []
