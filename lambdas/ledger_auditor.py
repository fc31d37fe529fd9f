"""The ledger auditor: checks SPEC's money invariants on the live database and halts
withdrawals when one breaks (chalicelib/service_layer/ledger_audit.py says how).

In AWS an EventBridge schedule invokes ``handler`` (one at a time: reserved concurrency
1); its metrics go out as EMF. Locally ``python -m lambdas.ledger_auditor --loop`` runs a
pass every ``--interval-seconds`` (15) until SIGTERM, serving its metrics on
EXCHANGE_METRICS_PORT; without ``--loop`` it runs one pass and exits (status 1 if the
pass found a break). ``--full`` sums the whole ledger again (the first pass always does).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger

from chalicelib.adapters.secrets import get_settings
from chalicelib.bootstrap import AuditorServices, bootstrap_ledger_auditor
from chalicelib.domain.errors import BackendUnavailableError
from chalicelib.service_layer import ledger_audit

logger = Logger(service="ledger-auditor")


def audit(services: AuditorServices, *, full: bool = False,
          full_every: int = ledger_audit.FULL_EVERY) -> ledger_audit.Audited:
    """One pass, its metrics recorded and its breaks logged at ERROR."""
    audited = ledger_audit.run_pass(services.db, full=full, full_every=full_every)
    ledger_audit.record_metrics(services.metrics, audited, time.time())
    result = audited.result
    if result.skipped:
        logger.info("another ledger audit pass is running; skipped")
    elif result.ok:
        logger.info("ledger audit passed", extra={
            "full_pass": result.full, "entries": result.entries,
            "seconds": round(audited.seconds, 3), "withdrawals_halted": result.halted})
    else:
        logger.error("ledger audit found breaks; withdrawals halted", extra={
            "full_pass": result.full, "breaks": [b.as_record() for b in result.breaks],
            "withdrawals_halted": result.halted})
    return audited


@lru_cache(maxsize=1)
def auditor() -> AuditorServices:
    """The connection pool a warm container keeps across scheduled runs."""
    return bootstrap_ledger_auditor(get_settings())


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = audit(auditor()).result
    return {"ok": result.ok, "full": result.full, "entries": result.entries,
            "breaks": len(result.breaks), "withdrawalsHalted": result.halted}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="audit the ledger's invariants")
    parser.add_argument("--loop", action="store_true", help="run a pass every interval")
    parser.add_argument("--interval-seconds", type=float, default=15.0)
    parser.add_argument("--full", action="store_true",
                        help="sum the whole ledger again (the first pass of a loop only)")
    parser.add_argument("--full-every", type=int, default=ledger_audit.FULL_EVERY,
                        help="passes between two full passes (0: only when needed)")
    args = parser.parse_args(argv)
    services = bootstrap_ledger_auditor(get_settings())
    try:
        if not args.loop:
            return 0 if audit(services, full=args.full, full_every=args.full_every
                              ).result.ok else 1
        _loop(services, args.interval_seconds, args.full, args.full_every)
        return 0
    finally:
        services.close()


def _loop(services: AuditorServices, interval_s: float, full: bool, full_every: int) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    logger.info("ledger auditor started", extra={"interval_s": interval_s})
    try:
        ledger_audit.record_last_known(services.metrics, services.db)
    except BackendUnavailableError as outage:
        logger.warning("database unavailable at start", extra={"error": str(outage)})
    while not stop.is_set():
        try:
            audit(services, full=full, full_every=full_every)
            full = False
        except BackendUnavailableError as outage:
            # Nothing was recorded: the next pass after the outage reads from the same
            # checkpoint, so nothing is skipped.
            logger.warning("database unavailable; auditing again later",
                           extra={"error": str(outage), "retry_in_s": interval_s})
        stop.wait(interval_s)


if __name__ == "__main__":
    sys.exit(main())
