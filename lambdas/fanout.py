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
from psycopg_pool import ConnectionPool

from chalicelib.adapters.market_cache import MarketDataCache
from chalicelib.adapters.redis_store import redis_client
from chalicelib.adapters.secrets import get_settings
from chalicelib.adapters.stream_subscriptions import (
    OrderEventProgress,
    StreamSubscriptions,
)
from chalicelib.adapters.ws_sender import sender_for
from chalicelib.service_layer import stream_fanout
from chalicelib.settings import Settings

SERVICE = "stream-fanout"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace="Exchange", service=SERVICE)


class Fanout:
    """The clients a warm container keeps, and one batch's processing."""

    def __init__(self, settings: Settings) -> None:
        if not settings.ws_management_endpoint:
            raise RuntimeError("the fan-out needs WS_MANAGEMENT_URL: the WebSocket API's "
                               "https://{api-id}.execute-api.{region}.amazonaws.com/{stage}")
        client = redis_client(settings, socket_timeout=5)
        self.pool = ConnectionPool(settings.database_url, min_size=1, max_size=4, open=True,
                                   kwargs={"autocommit": True, "connect_timeout": 10})
        self.context = stream_fanout.FanoutContext(
            subscriptions=StreamSubscriptions(client), progress=OrderEventProgress(client),
            market_data=MarketDataCache(client),
            db=self.pool.connection,
            sender=sender_for(settings.ws_management_endpoint, settings.aws_region,
                              settings.exchange_env == "local"),
            now_ms=lambda: time.time_ns() // 1_000_000)
        self.processor = BatchProcessor(event_type=EventType.Kafka)

    def __call__(self, event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
        return process_partial_response(event=event, record_handler=self.fan_out_record,
                                        processor=self.processor, context=context)

    def fan_out_record(self, record: KafkaEventRecord) -> None:
        delivery = stream_fanout.fan_out(self.context, record.decoded_value)
        if delivery.messages:
            metrics.add_metric(name="MessagesPosted", unit=MetricUnit.Count,
                               value=delivery.messages)
        if delivery.gone:
            metrics.add_metric(name="ConnectionsGone", unit=MetricUnit.Count,
                               value=delivery.gone)

    def close(self) -> None:
        self.context.pool.shutdown()
        self.pool.close()


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
