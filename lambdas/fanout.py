"""The stream fan-out: posts ``market-events`` and ``order-events`` to WebSocket clients.

MSK invokes ``handler`` with batches of both topics. Each record becomes Binance's
stream payloads (``chalicelib.service_layer.stream_fanout``), posted through API Gateway's
management API to every connection subscribed to a stream it feeds, in offset order, so
each connection sees a market's (or its user's) events in order. Delivery is best effort
per connection: a gone connection (410) is forgotten, any other failed post is logged
and skipped. A record fails (and Lambda redelivers its partition from there, as
Powertools' partial batch response reports) only when Redis or PostgreSQL fails.

    python -m lambdas.msk_runner lambdas.fanout.handler --topic market-events \\
        --topic order-events --group fanout
"""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any

import redis
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.kafka_event import KafkaEventRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from chalicelib.adapters.metrics import metrics_for
from chalicelib.adapters.secrets import get_settings
from chalicelib.bootstrap import bootstrap_fanout
from chalicelib.domain.metric_catalogue import (
    FUNCTION_BATCH_FAILURES,
    FUNCTION_RECORDS,
    REDIS_PUBLISH_FAILURES,
    STREAM_DELIVERY_SECONDS,
    STREAM_MESSAGES_SENT,
    Role,
)
from chalicelib.service_layer import stream_fanout
from chalicelib.settings import Settings
from lambdas.record_traces import BatchTraces

SERVICE = "stream-fanout"
FUNCTION: Role = "fanout"
"""The role and ``function`` label of its metrics."""

logger = Logger(service=SERVICE, use_rfc3339=True)
tracer = Tracer(service=SERVICE)
metrics = metrics_for(FUNCTION)


class Fanout:
    """The clients a warm container keeps, and one batch's processing: its metrics
    and one log line naming the correlation ids of the records it handled."""

    def __init__(self, settings: Settings) -> None:
        self.services = bootstrap_fanout(settings)
        self.processor = BatchProcessor(event_type=EventType.Kafka)
        self._traces = BatchTraces()
        self._sent = self._gone = 0

    def __call__(self, event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
        self._traces, self._sent, self._gone = BatchTraces(), 0, 0
        records = sum(len(r) for r in event.get("records", {}).values())
        try:
            response = process_partial_response(
                event=event, record_handler=self.fan_out_record, processor=self.processor,
                context=context)
        except Exception:  # every record failed: the whole batch is redelivered
            metrics.inc(FUNCTION_BATCH_FAILURES, records, function=FUNCTION)
            raise
        failed = len(response["batchItemFailures"])
        metrics.inc(FUNCTION_RECORDS, records, function=FUNCTION)
        metrics.inc(FUNCTION_BATCH_FAILURES, failed, function=FUNCTION)
        metrics.inc(STREAM_MESSAGES_SENT, self._sent)
        self._traces.annotate(tracer)
        logger.info("batch fanned out", extra={
            "records": records, "failed": failed, "messages_sent": self._sent,
            "connections_gone": self._gone, **self._traces.log_fields()})
        return response

    def fan_out_record(self, record: KafkaEventRecord) -> None:
        try:
            delivery = stream_fanout.fan_out(self.services.context, record.decoded_value)
        except redis.RedisError:
            metrics.inc(REDIS_PUBLISH_FAILURES, service=FUNCTION)
            raise
        # Market-data freshness: from the event's record (the batch's settlement time)
        # to its fan-out, whether or not anybody listens.
        metrics.observe(STREAM_DELIVERY_SECONDS,
                        max(time.time() - record.timestamp / 1000, 0.0))
        self._sent += delivery.messages
        self._gone += delivery.gone
        self._traces.add(record)

    def close(self) -> None:
        self.services.close()


@lru_cache(maxsize=1)
def fanout() -> Fanout:
    return Fanout(get_settings())


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    response = fanout()(event, context)
    failed = len(response["batchItemFailures"])
    if failed:
        logger.warning("records failed; MSK redelivers from the first",
                       extra={"failed": failed})
    return response
