"""Publishes order commands to the `orders` topic, keyed by market.

The producer is idempotent with acks=all: a command counts as published only once
the broker has it durably, and retries never duplicate or reorder a partition.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from confluent_kafka import KafkaError, Message, Producer

from chalicelib.adapters.kafka import make_producer
from chalicelib.domain.order_commands import OrderCommand


class CommandPublisher:
    def __init__(self, bootstrap_servers: str, topic: str, timeout_s: float = 5.0) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.timeout_s = timeout_s
        self._producer: Producer | None = None

    @property
    def producer(self) -> Producer:
        # Created on first use: a Lambda that only reads never connects to Kafka.
        if self._producer is None:
            self._producer = make_producer(self.bootstrap_servers, **{"linger.ms": 0})
        return self._producer

    def publish(self, commands: Sequence[OrderCommand]) -> list[int]:
        """Send the commands; return the ids the broker acknowledged within the timeout."""
        delivered: list[int] = []

        def reporter(command_id: int) -> Callable[[KafkaError | None, Message], None]:
            def on_delivery(error: KafkaError | None, _message: Message) -> None:
                if error is None:
                    delivered.append(command_id)
            return on_delivery

        for command in commands:
            self.producer.produce(self.topic, key=command.market.encode(),
                                  value=command.encode(),
                                  on_delivery=reporter(command.command_id))
        self.producer.flush(self.timeout_s)
        return delivered

    def close(self) -> None:
        """Send what is queued, then let the client go (a closed publisher that keeps it
        goes on reconnecting to the brokers in the background)."""
        if self._producer is not None:
            self._producer.flush(self.timeout_s)
            self._producer = None
