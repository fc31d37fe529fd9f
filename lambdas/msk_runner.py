"""Runs an MSK-triggered handler locally against the real Kafka topic.

In AWS, Lambda's MSK event source polls the topic and invokes the handler with batches
in the MSK event shape; the handler answers with ``batchItemFailures`` (Powertools'
partial-failure report) and Lambda redelivers a partition from its first failed record.
This runner does the same on a local broker, so the handler's code path is the one AWS
runs:

* records are grouped per ``topic-partition`` with base64 keys and values, exactly as
  Lambda delivers them (``msk_event``);
* a reported failure rewinds that partition to its first failed offset and redelivers
  from there after a pause; everything before it is committed;
* offsets are committed only after the handler returned, so a crash redelivers (the
  handlers are idempotent, as they must be in AWS, where delivery is at least once);
* each record's headers (the correlation id and trace header the matcher sets) go in
  Lambda's form, a list of ``{key: [byte, ...]}``.

Locally the process logs JSON lines naming the function (``--group``), the handler's
metrics are served on EXCHANGE_METRICS_PORT (``metrics_for``, when the handler's module
asks for its recorder), and the Powertools Tracer is off: no X-Ray daemon listens here.

    python -m lambdas.msk_runner lambdas.candles.handler --topic market-events --group candles
"""

from __future__ import annotations

import argparse
import base64
import importlib
import logging
import os
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from chalicelib.adapters.json_logs import configure_logging
from chalicelib.adapters.kafka import make_consumer
from chalicelib.adapters.secrets import get_settings
from chalicelib.entrypoints.stopping import stop_on_signals

log = logging.getLogger(__name__)

# Powertools' Tracer reads it when the handler's module builds one.
TRACE_DISABLED_VARIABLE = "POWERTOOLS_TRACE_DISABLED"

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass(frozen=True)
class LocalContext:
    """The attributes of Lambda's context object that Powertools reads."""

    function_name: str
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = ""
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def msk_event(messages: Sequence[Message], bootstrap_servers: str) -> dict[str, Any]:
    """The event Lambda's MSK event source would deliver for these messages."""
    records: dict[str, list[dict[str, Any]]] = {}
    for m in messages:
        _, timestamp = m.timestamp()
        records.setdefault(f"{m.topic()}-{m.partition()}", []).append({
            "topic": m.topic(), "partition": m.partition(), "offset": m.offset(),
            "timestamp": timestamp, "timestampType": "CREATE_TIME",
            "key": base64.b64encode(m.key() or b"").decode(),
            "value": base64.b64encode(m.value() or b"").decode(),
            "headers": [_header(h) for h in (m.headers() or [])],
        })
    return {"eventSource": "aws:kafka", "eventSourceArn": "arn:aws:kafka:local",
            "bootstrapServers": bootstrap_servers, "records": records}


def _header(header: Any) -> dict[str, list[int]]:
    key, value = header[0], header[1]
    return {str(key): list(value or b"")}


def first_failures(response: Any) -> dict[tuple[str, int], int]:
    """The first failed offset of each (topic, partition) in a batchItemFailures report."""
    failed: dict[tuple[str, int], int] = {}
    items = response.get("batchItemFailures", []) if isinstance(response, dict) else []
    for item in items:
        ident = item["itemIdentifier"]
        topic, _, partition = str(ident["partition"]).rpartition("-")
        key = (topic, int(partition))
        failed[key] = min(int(ident["offset"]), failed.get(key, int(ident["offset"])))
    return failed


class MskRunner:
    """Consumes ``topics`` in consumer group ``group`` and invokes ``handler`` per batch."""

    def __init__(self, handler: Handler, *, bootstrap_servers: str, topics: list[str],
                 group: str, function_name: str, batch_size: int = 500,
                 retry_seconds: float = 1.0, instance_id: str | None = None) -> None:
        self._handler = handler
        self._bootstrap = bootstrap_servers
        self._topics = topics
        self._function_name = function_name
        self._batch_size = batch_size
        self._retry_seconds = retry_seconds
        # Static membership: a runner restarted under the same id takes its partitions
        # back at once, instead of after the dead member's session times out.
        static = {"group.instance.id": instance_id} if instance_id else {}
        self._consumer: Consumer = make_consumer(bootstrap_servers, group, **static)

    def run(self, stop: threading.Event, *, on_assign: Callable[[], None] | None = None,
            poll_seconds: float = 0.1) -> None:
        assigned = (lambda _c, _p: on_assign()) if on_assign else (lambda _c, _p: None)
        self._consumer.subscribe(self._topics, on_assign=assigned)
        try:
            while not stop.is_set():
                messages = [m for m in self._consumer.consume(self._batch_size, poll_seconds)
                            if _usable(m)]
                if messages:
                    self.deliver(messages, stop)
        finally:
            self._consumer.close()

    def deliver(self, messages: list[Message], stop: threading.Event) -> None:
        """Invoke the handler once; commit what succeeded, rewind to each first failure."""
        try:
            response = self._handler(msk_event(messages, self._bootstrap),
                                     LocalContext(self._function_name))
            failed = first_failures(response)
        except Exception:
            log.exception("handler raised; the whole batch will be redelivered")
            failed = {}
            for m in messages:
                key = (m.topic() or "", m.partition() or 0)
                failed.setdefault(key, m.offset() or 0)
        commits = {}
        for m in messages:
            key = (m.topic() or "", m.partition() or 0)
            if key not in failed:
                commits[key] = (m.offset() or 0) + 1
        commits.update(failed)
        # A rebalance may have taken partitions away while the handler ran: their new
        # owner starts from the last commit and redelivers (handlers are idempotent).
        owned = {(tp.topic, tp.partition) for tp in self._consumer.assignment()}
        try:
            self._consumer.commit(offsets=[TopicPartition(t, p, o)
                                           for (t, p), o in commits.items() if (t, p) in owned],
                                  asynchronous=False)
        except KafkaException as error:
            log.warning("commit failed; the records will be redelivered",
                        extra={"error": str(error)})
        for (topic, partition), offset in failed.items():
            if (topic, partition) in owned:
                self._consumer.seek(TopicPartition(topic, partition, offset))
        if failed:
            log.warning("records failed; redelivering", extra={
                "partitions": [f"{t}-{p}@{o}" for (t, p), o in failed.items()]})
            stop.wait(self._retry_seconds)


def _usable(message: Message) -> bool:
    error = message.error()
    if error is None:
        return True
    if error.code() != KafkaError._PARTITION_EOF:
        log.warning("consumer error", extra={"error": str(error)})
    return False


def load_handler(path: str) -> Handler:
    module, _, name = path.rpartition(".")
    handler: Handler = getattr(importlib.import_module(module), name)
    return handler


def main() -> None:
    parser = argparse.ArgumentParser(description="run an MSK-triggered handler locally")
    parser.add_argument("handler", help="module.function, e.g. lambdas.candles.handler")
    parser.add_argument("--topic", action="append", required=True)
    parser.add_argument("--group", required=True, help="consumer group id")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--instance-id", help="a static group member's id (optional)")
    args = parser.parse_args()
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"), service=args.group)
    os.environ.setdefault(TRACE_DISABLED_VARIABLE, "true")
    settings = get_settings()
    runner = MskRunner(load_handler(args.handler),
                       bootstrap_servers=settings.kafka_bootstrap_servers, topics=args.topic,
                       group=args.group, function_name=args.handler,
                       batch_size=args.batch_size, instance_id=args.instance_id)
    runner.run(stop_on_signals())


if __name__ == "__main__":
    main()
