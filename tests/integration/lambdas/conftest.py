"""Run MSK-triggered handlers through the real local runner (``lambdas.msk_runner``)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from confluent_kafka import Producer

from chalicelib.adapters.kafka import make_producer
from chalicelib.settings import Settings
from lambdas.msk_runner import Handler, MskRunner
from tests.conftest import as_role

RunRunner = Callable[..., Any]


def produce(bootstrap: str, topic: str, records: list[tuple[int, str, bytes]]) -> None:
    """Produce (partition, key, value) records in order and wait for the broker."""
    producer: Producer = make_producer(bootstrap)
    for partition, key, value in records:
        producer.produce(topic, key=key, value=value, partition=partition)
    assert producer.flush(30) == 0


@pytest.fixture(scope="session")
def test_settings(test_settings: Settings) -> Settings:
    """The functions connect as their own database role."""
    return as_role(test_settings, "functions")


@pytest.fixture
def run_runner(kafka_bootstrap: str) -> RunRunner:
    """``run_runner(handler, topic, group, batch_size=...)``: a context manager running an
    MskRunner on a thread of its own (entered once partitions are assigned)."""

    @contextmanager
    def running(handler: Handler, topic: str, group: str, *, batch_size: int = 500,
                retry_seconds: float = 0.2) -> Iterator[MskRunner]:
        runner = MskRunner(handler, bootstrap_servers=kafka_bootstrap, topics=[topic],
                           group=group, function_name="test", batch_size=batch_size,
                           retry_seconds=retry_seconds)
        stop, assigned, failed = threading.Event(), threading.Event(), []

        def run() -> None:
            try:
                runner.run(stop, on_assign=assigned.set)
            except BaseException as error:  # surfaced in the test below
                failed.append(error)
                assigned.set()

        thread = threading.Thread(target=run, name=f"runner-{group}", daemon=True)
        thread.start()
        try:
            assert assigned.wait(60), "the runner got no partitions"
            yield runner
        finally:
            stop.set()
            thread.join(30)
        assert not thread.is_alive(), "the runner did not stop"
        assert failed == [], failed

    return running
