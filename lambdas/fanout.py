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

from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.kafka_event import KafkaEventRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from chalicelib.adapters.secrets import get_settings
from chalicelib.bootstrap import bootstrap_fanout
from chalicelib.service_layer import stream_fanout
from chalicelib.settings import Settings

SERVICE = "stream-fanout"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace="Exchange", service=SERVICE)


class Fanout:
    """The clients a warm container keeps, and one batch's processing."""

    def __init__(self, settings: Settings) -> None:
        self.services = bootstrap_fanout(settings)
        self.processor = BatchProcessor(event_type=EventType.Kafka)

    def __call__(self, event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
        return process_partial_response(event=event, record_handler=self.fan_out_record,
                                        processor=self.processor, context=context)

    def fan_out_record(self, record: KafkaEventRecord) -> None:
        delivery = stream_fanout.fan_out(self.services.context, record.decoded_value)
        if delivery.messages:
            metrics.add_metric(name="MessagesPosted", unit=MetricUnit.Count,
                               value=delivery.messages)
        if delivery.gone:
            metrics.add_metric(name="ConnectionsGone", unit=MetricUnit.Count,
                               value=delivery.gone)

    def close(self) -> None:
        self.services.close()


@lru_cache(maxsize=1)
def fanout() -> Fanout:
    return Fanout(get_settings())


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    response = fanout()(event, context)
    failed = len(response["batchItemFailures"])
    if failed:
        logger.warning("records failed; MSK redelivers from the first",
                       extra={"failed": failed})
    return response
