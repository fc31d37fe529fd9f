"""Drivers' errors that mean "the backend is unavailable", as the domain's one exception.

PostgreSQL without a writer (refused, shutting down, lost, a read-only standby), silent
past a deadline or a timeout, Redis refused or timed out: each is ``BackendUnavailableError``,
so the API answers 503 and the services retry, without importing a driver.
"""

from __future__ import annotations

import psycopg
import redis
from psycopg import errors as pg_errors

from chalicelib.domain.errors import BackendUnavailableError

# Server-side errors of a node that cannot take writes now: a standby (before or after a
# failover), or one shutting down or starting up (their class 57 codes are among
# OperationalError's).
NO_WRITER = (pg_errors.ReadOnlySqlTransaction,)


def database_outage(error: psycopg.Error, name: str = "PostgreSQL", *, retryable: bool,
                    deadline_s: float | None = None) -> BackendUnavailableError | None:
    """``error`` as an outage of database ``name``; None for any other database error.

    ``retryable``: the failure came before the transaction's commit was sent.
    ``deadline_s``: the unit of work's deadline shut the connection down.
    """
    if deadline_s is not None:
        return BackendUnavailableError(name, f"no answer within the {deadline_s:g} s deadline"
                                  " (connection shut down)", timed_out=True,
                                  retryable=retryable)
    if isinstance(error, pg_errors.QueryCanceled):
        return BackendUnavailableError(name, f"statement timed out: {error}", timed_out=True,
                                  retryable=retryable)
    if isinstance(error, NO_WRITER):
        return BackendUnavailableError(name, f"no writer: {error}", retryable=retryable)
    if isinstance(error, psycopg.OperationalError):
        return BackendUnavailableError(name, str(error).strip() or type(error).__name__,
                                  retryable=retryable)
    return None


def outage_of(error: BaseException) -> BackendUnavailableError | None:
    """Any backend's error that escaped its adapter, as an outage; None otherwise.

    A database error outside a unit of work may have come at any point of it: its
    outcome is unknown, so it is not marked retryable.
    """
    if isinstance(error, BackendUnavailableError):
        return error
    if isinstance(error, psycopg.Error):
        return database_outage(error, retryable=False)
    if isinstance(error, redis.TimeoutError):
        return BackendUnavailableError("Redis", str(error), timed_out=True)
    if isinstance(error, redis.ConnectionError | redis.ReadOnlyError):
        # Refused, reset, or a replica answering a write after a failover.
        return BackendUnavailableError("Redis", str(error), retryable=True)
    return None
