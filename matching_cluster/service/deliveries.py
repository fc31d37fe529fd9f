"""The broker's reports on the events of one committed batch's market update."""

from __future__ import annotations

import threading
import time

from confluent_kafka import KafkaError, Message

from chalicelib.adapters.metrics import MetricsRecorder
from chalicelib.domain.metric_catalogue import KAFKA_PUBLISH_FAILURES, MATCHER_PUBLISH_LAG_SECONDS

SERVICE = "matcher"
"""The ``service`` label of the publish failures the matcher counts."""


class Acknowledgements:
    """One update's events, counted down as the broker reports on them: once all are
    acknowledged, the publish lag is observed; each one refused or lost is a failure.
    The reports come on the delivery thread while the events are still being produced,
    so the producer holds one count of its own until it has produced them all."""

    def __init__(self, metrics: MetricsRecorder, committed_at: float) -> None:
        self._metrics = metrics
        self._committed_at = committed_at
        self._pending = 1
        self._failed = False
        self._lock = threading.Lock()

    def expect(self) -> None:
        with self._lock:
            self._pending += 1

    def delivered(self, error: KafkaError | None, _message: Message) -> None:
        self._settle(failed=error is not None)

    def lost(self) -> None:
        """An event that could not even be produced (the producer's queue full)."""
        self._settle(failed=True)

    def release(self) -> None:
        self._settle(failed=False)

    def _settle(self, *, failed: bool) -> None:
        if failed:
            self._metrics.inc(KAFKA_PUBLISH_FAILURES, service=SERVICE)
        with self._lock:
            self._failed |= failed
            self._pending -= 1
            done = self._pending == 0 and not self._failed
        if done:
            self._metrics.observe(MATCHER_PUBLISH_LAG_SECONDS,
                                  time.monotonic() - self._committed_at)
