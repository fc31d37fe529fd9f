"""The local MSK runner: Lambda's event shape, partial failures and redelivery."""

from __future__ import annotations

import json
import threading
import uuid
from collections import defaultdict
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.kafka_event import KafkaEvent
from confluent_kafka import TopicPartition

from chalicelib.adapters.kafka import make_consumer
from lambdas.msk_runner import first_failures, msk_event
from tests.integration.matching.support import create_topic, read_topic
from tests.support.polling import wait_until

from .conftest import RunRunner, produce

PER_PARTITION = 10
EVERY_RECORD = {0: list(range(PER_PARTITION)), 1: list(range(PER_PARTITION))}


def records(topic_partitions: int) -> list[tuple[int, str, bytes]]:
    return [(p, f"key-{p}", json.dumps({"p": p, "n": n}).encode())
            for n in range(PER_PARTITION) for p in range(topic_partitions)]


def committed(bootstrap: str, group: str, topic: str, partitions: int) -> list[int]:
    consumer = make_consumer(bootstrap, group)
    try:
        offsets = consumer.committed([TopicPartition(topic, p) for p in range(partitions)],
                                     timeout=30)
        return [tp.offset for tp in offsets]
    finally:
        consumer.close()


def wait_committed(bootstrap: str, group: str, topic: str, offsets: list[int]) -> None:
    wait_until(lambda: committed(bootstrap, group, topic, len(offsets)),
               until=lambda seen: seen == offsets, timeout=60, what=f"offsets {offsets} committed")


@pytest.fixture
def filled_topic(kafka_bootstrap: str, topic_name: str) -> str:
    """A topic of two partitions holding ``records(2)``."""
    create_topic(kafka_bootstrap, topic_name, 2)
    produce(kafka_bootstrap, topic_name, records(2))
    return topic_name


class RecordingHandler:
    """Applies each batch's records in order, except that a record of ``fail_once`` (the
    first time it comes) or ``fail_always`` is reported failed, with every later record
    of its partition in the batch; ``raise_once`` makes the first call raise."""

    def __init__(self, *, fail_once: set[tuple[int, int]] | None = None,
                 fail_always: set[tuple[int, int]] | None = None,
                 raise_once: bool = False) -> None:
        self.fail_once = fail_once or set()
        self.fail_always = fail_always or set()
        self.raise_once = raise_once
        self.applied: dict[int, list[int]] = defaultdict(list)
        self.calls: list[dict[int, list[int]]] = []
        self.lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        with self.lock:
            received = list(KafkaEvent(event).records)
            batch: dict[int, list[int]] = defaultdict(list)
            for r in received:
                batch[r.partition].append(r.offset)
            self.calls.append(dict(batch))
            if self.raise_once:
                self.raise_once = False
                raise RuntimeError("the database is gone")
            failing_from: dict[int, int] = {}
            for partition, offset in self.fail_once | self.fail_always:
                if offset in batch.get(partition, []):
                    failing_from[partition] = min(offset, failing_from.get(partition, offset))
            self.fail_once -= set(failing_from.items())
            failures = []
            for r in received:
                if r.offset >= failing_from.get(r.partition, r.offset + 1):
                    failures.append({"itemIdentifier": {"partition": f"{r.topic}-{r.partition}",
                                                        "offset": r.offset}})
                else:
                    self.applied[r.partition].append(r.offset)
            return {"batchItemFailures": failures}

    def done(self) -> bool:
        with self.lock:
            return all(len(self.applied[p]) == PER_PARTITION for p in (0, 1))


def test_msk_event_is_what_lambda_delivers(kafka_bootstrap: str, filled_topic: str) -> None:
    messages = read_topic(kafka_bootstrap, filled_topic)

    event = msk_event(messages, kafka_bootstrap)

    assert event["eventSource"] == "aws:kafka"
    assert sorted(event["records"]) == [f"{filled_topic}-0", f"{filled_topic}-1"]
    parsed = list(KafkaEvent(event).records)
    assert sorted(((r.partition, r.offset, r.decoded_key, r.json_value) for r in parsed),
                  key=lambda row: (row[0], row[1])) == sorted(
        ((m.partition(), m.offset(), m.key(), json.loads(m.value() or b"")) for m in messages),
        key=lambda row: (row[0], row[1]))
    for records_of_partition in event["records"].values():
        offsets = [r["offset"] for r in records_of_partition]
        assert offsets == sorted(offsets)


def test_first_failures_takes_each_partitions_lowest_offset() -> None:
    response = {"batchItemFailures": [
        {"itemIdentifier": {"partition": "market-events-1", "offset": 7}},
        {"itemIdentifier": {"partition": "market-events-1", "offset": 5}},
        {"itemIdentifier": {"partition": "my-topic-0", "offset": 3}},
    ]}
    assert first_failures(response) == {("market-events", 1): 5, ("my-topic", 0): 3}
    assert first_failures({"batchItemFailures": []}) == {}
    assert first_failures(None) == {}


def run_until_every_record_committed(
        run_runner: RunRunner, handler: RecordingHandler, kafka_bootstrap: str,
        topic: str) -> None:
    """Run a runner until ``handler`` has applied every record once, in order, and the
    group has committed past the last one."""
    group = f"runner-{uuid.uuid4().hex[:8]}"
    with run_runner(handler, topic, group):
        wait_until(handler.done, timeout=60, what="every record applied")
    assert handler.applied == EVERY_RECORD
    wait_committed(kafka_bootstrap, group, topic, [PER_PARTITION] * 2)


def test_a_reported_failure_is_redelivered_from_its_offset_and_the_rest_committed(
        kafka_bootstrap: str, filled_topic: str, run_runner: RunRunner) -> None:
    handler = RecordingHandler(fail_once={(0, 4)})

    run_until_every_record_committed(run_runner, handler, kafka_bootstrap, filled_topic)

    # Partition 0 came again from offset 4.
    first_offsets = [call[0][0] for call in handler.calls if 0 in call]
    assert first_offsets[0] == 0
    assert 4 in first_offsets[1:]


def test_a_raising_handler_gets_the_whole_batch_again(
        kafka_bootstrap: str, filled_topic: str, run_runner: RunRunner) -> None:
    handler = RecordingHandler(raise_once=True)

    run_until_every_record_committed(run_runner, handler, kafka_bootstrap, filled_topic)

    failed_call = handler.calls[0]
    # What the failed call held came again, from the same offsets.
    for partition, offsets in failed_call.items():
        again = next(call[partition] for call in handler.calls[1:] if partition in call)
        assert again[0] == offsets[0]


def test_a_new_runner_resumes_at_the_first_unfinished_record(
        kafka_bootstrap: str, filled_topic: str, run_runner: RunRunner) -> None:
    group = f"runner-{uuid.uuid4().hex[:8]}"
    # The first runner never gets past offset 6 of partition 0 (a record that keeps failing).
    stuck = RecordingHandler(fail_always={(0, 6)})

    with run_runner(stuck, filled_topic, group):
        wait_until(lambda: len(stuck.applied[0]) == 6 and len(stuck.applied[1]) == 10
                   and sum(1 for call in stuck.calls if call.get(0, [None])[0] == 6) >= 2,
                   timeout=60,
                   what="the records before the failure applied, the failure redelivered")
    assert committed(kafka_bootstrap, group, filled_topic, 2) == [6, PER_PARTITION]

    fixed = RecordingHandler()
    with run_runner(fixed, filled_topic, group):
        wait_until(lambda: len(fixed.applied[0]) == 4, timeout=60, what="the rest applied")
    assert fixed.applied == {0: [6, 7, 8, 9]}
