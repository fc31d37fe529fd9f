"""What the matcher tells of its progress through the ``orders`` topic: each owned
partition's consumer lag as a gauge after every batch, and its offsets committed to
Kafka at most once a second.

The offset stored with a batch in PostgreSQL is the one a partition resumes at; Kafka's
committed offset only feeds lag readers: ``kafka-consumer-groups``, MSK's metrics and
KEDA's autoscaler (``iac/k8s/base/matcher-autoscaling.yaml``, every 15 s). A commit costs
the broker a write to ``__consumer_offsets``, about 0.7 ms of its CPU on the 2-core
machine: committed after every batch, below saturation (a hundred small batches a
second), that was about a tenth of a core. A second's staleness costs a lag reader
nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from confluent_kafka import Consumer, TopicPartition

from chalicelib.domain.metric_catalogue import MATCHER_CONSUMER_LAG

from .metrics import Metrics

COMMIT_INTERVAL_S = 1.0


class ConsumerProgress:
    def __init__(self, consumer: Consumer, topic: str, metrics: Metrics) -> None:
        self._consumer = consumer
        self._topic = topic
        self._metrics = metrics
        self._uncommitted: dict[int, int] = {}
        self._committed_at = float("-inf")

    def settled(self, next_offsets: Iterable[tuple[int, int]]) -> None:
        """Partitions' next offsets after a batch committed in PostgreSQL."""
        for partition, offset in next_offsets:
            self._uncommitted[partition] = offset
            _, high = self._consumer.get_watermark_offsets(
                TopicPartition(self._topic, partition, offset), cached=True)
            if high >= 0:
                self._metrics.set(MATCHER_CONSUMER_LAG, max(high - offset, 0),
                                  partition=str(partition))
        self.commit_due()

    def commit_due(self) -> None:
        """Commit if a second has passed since the last commit; the loop calls this idle
        too, so that the last batch before a quiet spell is committed as well."""
        if self._uncommitted and time.monotonic() - self._committed_at >= COMMIT_INTERVAL_S:
            self.commit()

    def commit(self) -> None:
        """Commit the offsets settled since the last commit (asynchronously)."""
        if self._uncommitted:
            self._committed_at = time.monotonic()
            self._consumer.commit(offsets=[TopicPartition(self._topic, partition, offset)
                                           for partition, offset in self._uncommitted.items()],
                                  asynchronous=True)
            self._uncommitted.clear()

    def drop_partition(self, partition: int) -> None:
        """A revoked partition: its new owner reports it from now on."""
        self._uncommitted.pop(partition, None)
        self._metrics.remove(MATCHER_CONSUMER_LAG, partition=str(partition))
