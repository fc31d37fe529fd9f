"""A producer/consumer round trip through the local broker, as the spine uses it:
idempotent producer with acks=all, keyed by market; a consumer group that commits
offsets by hand after processing, so a new member resumes exactly where the last
commit left off."""

from __future__ import annotations

import json
from collections import defaultdict

from confluent_kafka import KafkaError, Message, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from chalicelib.adapters.kafka import make_consumer, make_producer

MESSAGES = 300
MARKETS = [f"MKT{i}USDT" for i in range(5)]


def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1)])
    futures[name].result(timeout=30)


def produce_all(bootstrap: str, topic: str) -> list[Message]:
    delivered: list[Message] = []
    errors: list[KafkaError] = []

    def on_delivery(error: KafkaError | None, message: Message) -> None:
        if error is not None:
            errors.append(error)
        else:
            delivered.append(message)

    producer = make_producer(bootstrap)
    for seq in range(MESSAGES):
        market = MARKETS[seq % len(MARKETS)]
        producer.produce(topic, key=market, value=json.dumps({"seq": seq}),
                         on_delivery=on_delivery)
        producer.poll(0)
    assert producer.flush(30) == 0
    assert errors == []
    return delivered


def consume(
    bootstrap: str, topic: str, group: str, limit: int, max_idle_polls: int = 20
) -> list[tuple[str, int]]:
    """Process up to `limit` messages, committing each one's offset after processing."""
    consumer = make_consumer(bootstrap, group)
    consumer.subscribe([topic])
    processed: list[tuple[str, int]] = []
    idle_polls = 0
    try:
        while len(processed) < limit and idle_polls < max_idle_polls:
            message = consumer.poll(0.5)
            if message is None:
                idle_polls += 1
                continue
            assert message.error() is None, message.error()
            key, value = message.key(), message.value()
            assert key is not None
            assert value is not None
            processed.append((key.decode(), json.loads(value)["seq"]))
            consumer.store_offsets(message=message)
        if processed:
            consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    return processed


def test_every_message_is_consumed_once_across_group_members(
    kafka_bootstrap: str, topic_name: str
) -> None:
    create_topic(kafka_bootstrap, topic_name, partitions=3)
    delivered = produce_all(kafka_bootstrap, topic_name)

    partitions_by_key: dict[bytes | None, set[int | None]] = defaultdict(set)
    for message in delivered:
        partitions_by_key[message.key()].add(message.partition())
    assert all(len(parts) == 1 for parts in partitions_by_key.values())

    group = f"{topic_name}-group"
    first = consume(kafka_bootstrap, topic_name, group, limit=120)
    second = consume(kafka_bootstrap, topic_name, group, limit=MESSAGES - len(first))
    leftover = consume(kafka_bootstrap, topic_name, group, limit=MESSAGES, max_idle_polls=6)

    assert len(first) == 120
    assert leftover == []
    seqs = [seq for _key, seq in first + second]
    assert sorted(seqs) == list(range(MESSAGES)), "lost or duplicated messages"
    for market in MARKETS:
        in_order = [seq for key, seq in first + second if key == market]
        assert in_order == sorted(in_order), f"{market} reordered"


def test_committed_offsets_are_where_processing_stopped(
    kafka_bootstrap: str, topic_name: str
) -> None:
    create_topic(kafka_bootstrap, topic_name, partitions=1)
    produce_all(kafka_bootstrap, topic_name)
    group = f"{topic_name}-group"

    consume(kafka_bootstrap, topic_name, group, limit=50)

    probe = make_consumer(kafka_bootstrap, group)
    try:
        committed = probe.committed([TopicPartition(topic_name, 0)], timeout=10)
    finally:
        probe.close()
    assert committed[0].offset == 50
