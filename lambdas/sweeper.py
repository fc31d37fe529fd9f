"""Republishes order commands the matcher has not applied a while after they were
committed (a publish that failed or a crash left them only in the outbox).

In AWS an EventBridge schedule invokes `handler`; locally `python -m lambdas.sweeper`
runs the same sweep in a loop, serving its metrics on EXCHANGE_METRICS_PORT when set.
Republishing is always safe: the matcher applies each command id once. A republished
command carries its stored accept time and the correlation id ``sweep-<command id>``,
and is sent again only after the threshold has passed once more.
"""

from __future__ import annotations

import argparse
import signal
import threading
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger

from chalicelib.adapters.json_logs import configure_logging
from chalicelib.adapters.secrets import get_settings
from chalicelib.bootstrap import SweeperServices, bootstrap_sweeper
from chalicelib.domain.errors import BackendUnavailableError
from chalicelib.domain.metric_catalogue import SWEEPER_REPUBLISHED
from chalicelib.service_layer import order_intake

logger = Logger(service="order-sweeper")


def sweep(services: SweeperServices) -> int:
    """Publish every stuck command once; return how many the broker acknowledged."""
    found, published = order_intake.republish_stuck(services.db, services.publisher,
                                                    services.threshold_seconds)
    if found:
        services.metrics.inc(SWEEPER_REPUBLISHED, published)
        logger.info("republished stuck commands", extra={"found": found,
                                                          "published": published})
    return published


@lru_cache(maxsize=1)
def sweeper() -> SweeperServices:
    """The publisher a warm container keeps across scheduled runs."""
    return bootstrap_sweeper(get_settings())


def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    return {"published": sweep(sweeper())}


def main() -> None:
    parser = argparse.ArgumentParser(description="republish stuck order commands in a loop")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between sweeps")
    args = parser.parse_args()
    # The adapters' own lines (a broker out of reach) as JSON, as the sweep's are.
    configure_logging(service="order-sweeper")
    services = bootstrap_sweeper(get_settings())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    logger.info("sweeper started", extra={"interval_s": args.interval})
    while not stop.is_set():
        try:
            sweep(services)
        except BackendUnavailableError as outage:
            # The commands wait in the outbox: the next sweep after the outage sends them.
            logger.warning("database unavailable; sweeping again later",
                           extra={"error": str(outage), "retry_in_s": args.interval})
        stop.wait(args.interval)
    services.close()


if __name__ == "__main__":
    main()
