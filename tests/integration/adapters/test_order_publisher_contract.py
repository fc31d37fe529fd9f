"""The order publisher, real (Kafka) and fake: what it answers is exactly what the
broker holds, each command keyed by its market and in order per market; a broker out
of reach acknowledges nothing (intake then leaves the command to the sweeper).

The Kafka publisher, once it knows the brokers are out of reach, answers at once
instead of waiting out its timeout, publishes again once they answer, and never
refuses while they are up."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from confluent_kafka.admin import AdminClient

from chalicelib.adapters.order_publisher import CommandPublisher as KafkaPublisher
from chalicelib.domain.order_commands import OrderCommand
from chalicelib.domain.orders import CommandKind
from chalicelib.service_layer.ports import CommandPublisher
from tests.integration.adapters import closed_port
from tests.integration.matching.support import create_topic, read_topic
from tests.support.fakes.publisher import FakePublisher
from tests.support.polling import wait_until

UNREACHABLE_TIMEOUT_S = 0.5
PATIENT_TIMEOUT_S = 30.0
"""A publish timeout far longer than ANSWER_WITHIN_S: a publish that ends within the
latter did not wait the timeout out."""
ANSWER_WITHIN_S = 10.0


@dataclass(frozen=True)
class PublisherRig:
    publisher: CommandPublisher
    held: Callable[[], list[tuple[str, OrderCommand]]]
    """What the broker holds: each command with its key, in order per key."""
    out_of_reach: Callable[[], CommandPublisher]
    close: Callable[[], None] = lambda: None
    """Let go of the publishers made (a Kafka one out of reach goes on probing)."""


def fake_rig() -> PublisherRig:
    fake = FakePublisher()

    def out_of_reach() -> CommandPublisher:
        down = FakePublisher()
        down.up = False
        return down

    return PublisherRig(fake, lambda: [(c.market, c) for c in fake.published], out_of_reach)


def kafka_rig(bootstrap: str, topic: str) -> PublisherRig:
    def held() -> list[tuple[str, OrderCommand]]:
        return [(bytes(m.key() or b"").decode(), OrderCommand.decode(bytes(m.value() or b"")))
                for m in read_topic(bootstrap, topic)]

    made = [KafkaPublisher(bootstrap, topic)]

    def out_of_reach() -> CommandPublisher:
        made.append(KafkaPublisher(f"127.0.0.1:{closed_port()}", topic,
                                   timeout_s=UNREACHABLE_TIMEOUT_S))
        return made[-1]

    def close() -> None:
        for publisher in made:
            publisher.close()

    return PublisherRig(made[0], held, out_of_reach, close)


@pytest.fixture
def orders_topic(kafka_bootstrap: str, topic_name: str) -> Iterator[str]:
    """A topic of three partitions, deleted after the test."""
    create_topic(kafka_bootstrap, topic_name, partitions=3)
    yield topic_name
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.delete_topics([topic_name], operation_timeout=10)[topic_name].result(timeout=30)


@pytest.fixture(params=["fake", "kafka"])
def rig(request: pytest.FixtureRequest) -> Iterator[PublisherRig]:
    made = fake_rig() if request.param == "fake" else kafka_rig(
        request.getfixturevalue("kafka_bootstrap"), request.getfixturevalue("orders_topic"))
    yield made
    made.close()


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


def publish_within(publisher: KafkaPublisher, commands: list[OrderCommand],
                   seconds: float) -> list[int] | None:
    """What ``publish`` answered, or None when it had not answered after ``seconds``."""
    answers: list[list[int]] = []
    publishing = threading.Thread(target=lambda: answers.append(publisher.publish(commands)),
                                  daemon=True)
    publishing.start()
    publishing.join(seconds)
    return answers[0] if answers else None


def test_once_the_brokers_are_known_out_of_reach_a_publish_answers_without_waiting(
        orders_topic: str) -> None:
    publisher = KafkaPublisher(f"127.0.0.1:{closed_port()}", orders_topic,
                               timeout_s=PATIENT_TIMEOUT_S)
    try:
        # The first publish learns it (librdkafka reports all brokers down, a probe
        # confirms it) and stops waiting; the next ones send nothing.
        assert publish_within(publisher, [cancel(1, "BTCUSDT")], ANSWER_WITHIN_S) == []
        assert publisher.reachability.out_of_reach
        assert publish_within(publisher, [cancel(2, "BTCUSDT")], ANSWER_WITHIN_S) == []
    finally:
        publisher.close()


class Forwarder(socketserver.ThreadingTCPServer):
    """Relays each connection to ``target``: a broker's address appearing later."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, target: tuple[str, int]) -> None:
        self.target = target
        super().__init__(("127.0.0.1", port), Relay)


class Relay(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        assert isinstance(self.server, Forwarder)
        with socket.create_connection(self.server.target, timeout=10) as upstream:
            pipes = [threading.Thread(target=pipe, args=ends, daemon=True)
                     for ends in ((self.request, upstream), (upstream, self.request))]
            for each in pipes:
                each.start()
            for each in pipes:
                each.join()


def pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        return


def test_a_publisher_that_found_the_brokers_out_of_reach_publishes_once_they_answer(
        kafka_bootstrap: str, orders_topic: str) -> None:
    host, port = kafka_bootstrap.rsplit(":", 1)
    bootstrap_port = closed_port()
    publisher = KafkaPublisher(f"127.0.0.1:{bootstrap_port}", orders_topic,
                               timeout_s=PATIENT_TIMEOUT_S)
    try:
        assert publish_within(publisher, [cancel(1, "BTCUSDT")], ANSWER_WITHIN_S) == []
        assert publisher.reachability.out_of_reach
        # The bootstrap address starts answering (the broker it advertises then
        # takes over): the probe finds it, and publishing resumes.
        with Forwarder(bootstrap_port, (host, int(port))) as forwarder:
            threading.Thread(target=forwarder.serve_forever, daemon=True).start()
            try:
                wait_until(lambda: not publisher.reachability.out_of_reach, timeout=30,
                           what="the publisher finding the broker back")
                assert publisher.publish([cancel(2, "BTCUSDT")]) == [2]
            finally:
                forwarder.shutdown()
    finally:
        publisher.close()
    assert 2 in [OrderCommand.decode(bytes(m.value() or b"")).command_id
                 for m in read_topic(kafka_bootstrap, orders_topic)]


def test_a_publisher_to_brokers_that_are_up_never_refuses(
        kafka_bootstrap: str, orders_topic: str) -> None:
    publisher = KafkaPublisher(kafka_bootstrap, orders_topic, timeout_s=PATIENT_TIMEOUT_S)
    try:
        assert publisher.publish([cancel(1, "BTCUSDT")]) == [1]
        # A suspicion (librdkafka also reports all brokers down when idle connections
        # are closed) starts a probe; it finds the broker up, and nothing is refused.
        publisher.reachability.suspect()
        for command_id in range(2, 40):
            assert publisher.publish([cancel(command_id, "ETHUSDT")]) == [command_id]
        wait_until(lambda: not publisher.reachability.probing, timeout=30,
                   what="the probe ending")
        assert not publisher.reachability.out_of_reach
        assert publisher.publish([cancel(40, "BTCUSDT")]) == [40]
    finally:
        publisher.close()
