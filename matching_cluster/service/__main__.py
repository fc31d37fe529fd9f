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

from chalicelib.adapters.secrets import get_settings

from .bootstrap import bootstrap_matcher, tune_garbage_collector
from .health import start_health_server
from .logs import configure_logging

log = logging.getLogger("matching_cluster.service")


def main() -> None:
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"), service="matcher")
    settings = get_settings()
    process = bootstrap_matcher(settings)
    tune_garbage_collector()
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping after the batch in hand", extra={"signal": signum})
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    server = start_health_server(settings.matcher_health_host, settings.matcher_health_port,
                                 process.matcher.status, process.metrics)
    log.info("matcher starting", extra={"instance": process.config.instance_id,
                                         "topic": settings.orders_topic,
                                         "health_port": server.server_port})
    process.run(stop)
    server.shutdown()
    log.info("matcher stopped", extra={"instance": process.config.instance_id})


if __name__ == "__main__":
    main()
