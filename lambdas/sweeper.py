"""Republishes order commands that a crash left committed but unpublished.

In AWS an EventBridge schedule invokes `handler`; locally `python -m lambdas.sweeper`
runs the same sweep in a loop. Republishing is always safe: the matcher applies each
command id once.
"""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

from aws_lambda_powertools import Logger

from chalicelib.adapters.order_publisher import CommandPublisher
from chalicelib.adapters.postgres import connect
from chalicelib.service_layer import orders
from chalicelib.settings import Settings, get_settings

logger = Logger(service="order-sweeper")


def sweep(settings: Settings, publisher: CommandPublisher) -> int:
    """Publish every stuck command once; return how many the broker acknowledged."""
    with connect(settings.database_url, autocommit=True) as conn:
        stuck = orders.stuck_commands(conn, settings.sweeper_threshold_seconds)
        if not stuck:
            return 0
        delivered = publisher.publish(stuck)
        orders.mark_published(conn, delivered)
    logger.info("republished stuck commands", extra={"found": len(stuck),
                                                      "published": len(delivered)})
    return len(delivered)


def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    settings = get_settings()
    publisher = CommandPublisher(settings.kafka_bootstrap_servers, settings.orders_topic)
    return {"published": sweep(settings, publisher)}


def main() -> None:
    parser = argparse.ArgumentParser(description="republish stuck order commands in a loop")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between sweeps")
    args = parser.parse_args()
    settings = get_settings()
    publisher = CommandPublisher(settings.kafka_bootstrap_servers, settings.orders_topic)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    logger.info("sweeper started", extra={"interval_s": args.interval})
    while not stop.is_set():
        sweep(settings, publisher)
        stop.wait(args.interval)
    publisher.close()


if __name__ == "__main__":
    main()
