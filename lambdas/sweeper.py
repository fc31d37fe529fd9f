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
from chalicelib.adapters.secrets import get_settings
from chalicelib.service_layer import order_intake
from chalicelib.settings import Settings

logger = Logger(service="order-sweeper")


def sweep(settings: Settings, publisher: CommandPublisher) -> int:
    """Publish every stuck command once; return how many the broker acknowledged."""
    found, published = order_intake.republish_stuck(
        lambda: connect(settings.database_url, autocommit=True), publisher,
        settings.sweeper_threshold_seconds)
    if found:
        logger.info("republished stuck commands", extra={"found": found,
                                                          "published": published})
    return published


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
