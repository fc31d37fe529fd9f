"""Running a unit of work again when its connection was lost before it committed.

A transaction that did not commit changed nothing, so work whose every effect is inside
it can run again whole, on a fresh connection (after a failover, on the new writer).
Not passed here: work with effects outside its transaction (a publish, a Redis write),
and work whose first statement is a use case's own transaction block (on an idle
connection psycopg commits that block by itself, inside the unit). Nor is a failure
during the commit retried: it may have committed, and running the work again could
apply it twice. That ``BackendUnavailableError`` reaches the client as a 503 whose
retry a client order id deduplicates (SPEC, invariant 5).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TypeVar

from chalicelib.domain.errors import BackendUnavailableError
from chalicelib.service_layer import Conn

log = logging.getLogger(__name__)

T = TypeVar("T")

UnitOfWork = Callable[[], AbstractContextManager[Conn]]
"""A connection whose work commits when the block ends without error."""

ATTEMPTS = 3
# Short: a lost connection is replaced at once, and a failover's new writer is found
# by the next connection attempt; an API request cannot wait long anyway.
BACKOFF_S = (0.1, 0.5)


def in_transaction(db: UnitOfWork, work: Callable[[Conn], T], *,
                   sleep: Callable[[float], None] = time.sleep) -> T:
    """``work(conn)`` in one unit of work, run again (up to ``ATTEMPTS`` times in all)
    while the failure surely came before its commit."""
    attempt = 1
    while True:
        try:
            with db() as conn:
                return work(conn)
        except BackendUnavailableError as outage:
            if not outage.retryable or attempt >= ATTEMPTS:
                raise
            log.warning("unit of work lost its connection before committing; running it"
                        " again", extra={"error": str(outage), "attempt": attempt})
            sleep(BACKOFF_S[attempt - 1])
            attempt += 1
