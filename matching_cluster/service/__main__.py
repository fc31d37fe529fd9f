"""``python -m matching_cluster.service``: run one matcher instance until SIGTERM/SIGINT.

Configuration: the shared ``Settings`` (DATABASE_URL, REDIS_URL, KAFKA_BOOTSTRAP_SERVERS,
ORDERS_TOPIC, MARKET_EVENTS_TOPIC, ORDER_EVENTS_TOPIC, EXCHANGE_MATCHER_PORT for the
health/metrics endpoints, ...) and ``MatcherConfig`` (MATCHER_GROUP_ID,
MATCHER_INSTANCE_ID, MATCHER_STATIC_MEMBERSHIP, ...).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType

from chalicelib.adapters.kafka import make_producer
from chalicelib.adapters.postgres import connect
from chalicelib.adapters.redis_store import redis_client
from chalicelib.settings import get_settings

from .consumer import Matcher, MatcherConfig
from .health import start_health_server
from .logs import configure_logging
from .metrics import Metrics
from .publishing import Publisher, PublishThread

log = logging.getLogger("matching_cluster.service")


def main() -> None:
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    settings, config, metrics = get_settings(), MatcherConfig(), Metrics()
    publisher = PublishThread(Publisher(redis_client(settings),
                                        make_producer(settings.kafka_bootstrap_servers),
                                        market_events_topic=settings.market_events_topic,
                                        order_events_topic=settings.order_events_topic))
    matcher = Matcher(conn_factory=lambda: connect(settings.database_url, autocommit=True),
                      topic=settings.orders_topic, config=config,
                      bootstrap_servers=settings.kafka_bootstrap_servers,
                      publish=publisher.publish, metrics=metrics)
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping after the batch in hand", extra={"signal": signum})
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    server = start_health_server(settings.matcher_health_host, settings.matcher_health_port,
                                 matcher.status, metrics)
    log.info("matcher starting", extra={"instance": config.instance_id,
                                         "topic": settings.orders_topic,
                                         "health_port": server.server_port})
    matcher.run(stop)
    publisher.close(10)
    server.shutdown()
    log.info("matcher stopped", extra={"instance": config.instance_id})


if __name__ == "__main__":
    main()
