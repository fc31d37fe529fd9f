"""PostgreSQL connections that survive a failover: short connect timeouts, keepalives,
a deadline per unit of work, and pools that hand out only live connections.

A multi-host ``DATABASE_URL`` with ``target_session_attrs=read-write`` (or Aurora's
cluster endpoint) makes every new connection find the writer; what this module adds is
that a connection to a node that went away is noticed and replaced, never reused, and
that no unit of work waits on a dead peer for longer than its deadline.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import select
import socket
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import psycopg
from psycopg import generators, pq
from psycopg_pool import ConnectionPool

from chalicelib.adapters.outages import database_outage
from chalicelib.domain.errors import BackendUnavailableError
from chalicelib.settings import Settings

Conn = psycopg.Connection[Any]
"""The connection the repositories and the use cases take."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DbLimits:
    """How long a role's database work may take."""

    connect_timeout_s: int
    deadline_s: float
    """A unit of work (a transaction, a batch) still running after this fails."""
    statement_timeout_ms: int
    """The server cancels one statement after this (0: never)."""

    def for_settings(self, settings: Settings) -> DbLimits:
        """These limits with the settings' overrides."""
        deadline = settings.db_deadline_seconds
        statement = settings.db_statement_timeout_ms
        return DbLimits(settings.db_connect_timeout_seconds,
                        self.deadline_s if deadline is None else deadline,
                        self.statement_timeout_ms if statement is None else statement)


# An API request answers within API Gateway's 29 s; the matcher's batch may rebuild a
# large book; the functions fold batches of trades.
API_LIMITS = DbLimits(3, 10, 8000)
FUNCTION_LIMITS = DbLimits(3, 30, 25000)
MATCHER_LIMITS = DbLimits(3, 60, 50000)
OPERATOR_LIMITS = DbLimits(10, 3600, 0)

# Keepalive probes find a peer that vanished (a host down, a dropped route) within
# about 10 + 3 * 3 s of silence; tcp_user_timeout drops a connection whose sent data
# stays unacknowledged that long. Neither sees a proxy that acknowledges and forwards
# nothing: the deadline does.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 3,
              "keepalives_count": 3}


# A connection that finished a unit of work this recently is handed out again without
# a round trip to its server unless that server sent something (see Database._check).
FRESH_S = 5.0


def connect_options(limits: DbLimits) -> dict[str, Any]:
    """libpq parameters for every connection of a role with these limits."""
    options: dict[str, Any] = {"connect_timeout": limits.connect_timeout_s, **KEEPALIVES,
                               "tcp_user_timeout": int(limits.deadline_s * 1000)}
    if limits.statement_timeout_ms:
        options["options"] = f"-c statement_timeout={limits.statement_timeout_ms}"
    return options


def connect(url: str, *, autocommit: bool = False, limits: DbLimits = OPERATOR_LIMITS,
            application_name: str | None = None) -> psycopg.Connection[tuple[object, ...]]:
    """``application_name`` names the connection in ``pg_stat_activity`` (and in Aurora's
    Performance Insights), where an operator looks for what a backend serves."""
    options = connect_options(limits)
    if application_name:
        options["application_name"] = application_name
    return psycopg.connect(url, autocommit=autocommit, **options)


class Deadline:
    """Shuts the connection's socket down if the block outlives ``seconds``.

    psycopg's blocking calls have no client-side timeout, and a half-open peer (a proxy
    that accepts and forwards nothing) never answers nor resets; keepalives are
    acknowledged by the proxy. With its socket shut down, libpq's wait ends at once with
    an error, the connection is marked broken and its pool discards it. ``expired``
    tells that error apart from a peer's.
    """

    def __init__(self, conn: Conn, seconds: float) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self.done = False
        self.seconds = seconds
        self.expired = False

    def __enter__(self) -> Deadline:
        WATCHDOG.watch(self, time.monotonic() + self.seconds)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        with self._lock:  # the watchdog must not shut a connection handed on to someone else
            self.done = True

    def expire(self) -> None:
        with self._lock:
            if self.done or self._conn.closed:
                return
            self.expired = True
            with suppress(OSError, psycopg.Error):
                fd = self._conn.pgconn.socket
                # A duplicate of the descriptor: shutting it shuts the one socket down.
                with socket.fromfd(fd, socket.AF_INET, socket.SOCK_STREAM) as sock:
                    sock.shutdown(socket.SHUT_RDWR)


class Watchdog:
    """One thread that expires every ``Deadline`` of the process when its time comes: a
    timer thread per unit of work cost more CPU than a placement's own statement.
    Deadlines that ended are dropped when they reach the front."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._due: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, deadline: Deadline, at: float) -> None:
        with self._changed:
            heapq.heappush(self._due, (at, next(self._order), deadline))
            if self._thread is None or not self._thread.is_alive():  # first use, or forked
                self._thread = threading.Thread(target=self._run, name="postgres-deadlines",
                                                daemon=True)
                self._thread.start()
            if self._due[0][2] is deadline:
                self._changed.notify()

    def _run(self) -> None:
        while True:
            with self._changed:
                while self._due and self._due[0][2].done:
                    heapq.heappop(self._due)
                if not self._due:
                    self._changed.wait()
                    continue
                at, _, deadline = self._due[0]
                left = at - time.monotonic()
                if left > 0:
                    self._changed.wait(left)
                    continue
                heapq.heappop(self._due)
            deadline.expire()


WATCHDOG = Watchdog()


class Database:
    """One PostgreSQL endpoint (the writer, or a reader) as units of work.

    ``transaction()`` is the ``UnitOfWork``: a live pooled connection, committed when
    the block ends without error, within the deadline. Driver errors meaning the server
    is unreachable, gone, read-only or silent leave it as ``BackendUnavailableError``:
    ``retryable`` when the failure came before the block's commit was sent, not when the
    commit itself failed (it may have committed). A use case's own transaction block run
    first in the unit commits by itself (psycopg begins none before it): a unit to be
    retried reads first, so that such blocks are savepoints of the unit's transaction.
    """

    def __init__(self, url: str, limits: DbLimits, *, name: str = "PostgreSQL",
                 min_size: int = 1, max_size: int = 4, autocommit: bool = False) -> None:
        self.limits = limits
        self.name = name
        self.pool = ConnectionPool(
            url, min_size=min_size, max_size=max_size, open=True, name=name,
            check=self._check, kwargs={**connect_options(limits), "autocommit": autocommit},
            # Waiting longer for a connection than one attempt per host is pointless
            # for a request: the pool keeps reconnecting in the background.
            timeout=limits.connect_timeout_s + 1, reconnect_timeout=0)
        self._returned: weakref.WeakKeyDictionary[Conn, float] = weakref.WeakKeyDictionary()

    def _check(self, conn: Conn) -> None:
        """Before handing a connection out: is its server still there? (Pooled
        connections outlive failovers and idle timeouts.) A dead one is replaced.

        Asking costs a round trip, so a connection that finished a unit of work within
        ``FRESH_S`` is asked only when its socket has something to read: a server that
        ends a session (a terminated backend, a shutdown, a failover's old writer)
        sends its error and closes, which makes the socket readable."""
        returned = self._returned.get(conn)
        if returned is not None and time.monotonic() - returned < FRESH_S \
                and not _has_input(conn):
            return
        with Deadline(conn, self.limits.connect_timeout_s):
            ConnectionPool.check_connection(conn)

    @contextmanager
    def transaction(self) -> Iterator[Conn]:
        with self._unit(autocommit=False, retryable_throughout=False) as conn:
            yield conn

    @contextmanager
    def statement(self, *, reads_only: bool) -> Iterator[Conn]:
        """A unit of work in autocommit: each statement commits by itself, in one round
        trip with no BEGIN or COMMIT of its own; for work that is one statement (a
        read, or a server-side function that writes atomically). A lost connection
        while it runs is retryable only when it ``reads_only``: a write may have
        committed."""
        with self._unit(autocommit=True, retryable_throughout=reads_only) as conn:
            yield conn

    @contextmanager
    def _unit(self, *, autocommit: bool, retryable_throughout: bool) -> Iterator[Conn]:
        try:
            conn = self.pool.getconn()
        except psycopg.Error as error:  # the pool's timeout: no server took a connection
            raise BackendUnavailableError(self.name, f"no connection: {error}",
                                          retryable=True) from error
        deadline = Deadline(conn, self.limits.deadline_s)
        committing = autocommit and not retryable_throughout
        restore = conn.autocommit
        try:
            conn.autocommit = autocommit or restore
            with deadline:
                yield conn
                committing = not retryable_throughout
                if not conn.autocommit:
                    conn.commit()
        except psycopg.Error as error:
            outage = database_outage(error, self.name, retryable=not committing,
                                     deadline_s=deadline.seconds if deadline.expired else None)
            if outage is None:
                raise
            log.warning("database unavailable", extra={
                "database": self.name, "error": str(outage), "retryable": outage.retryable})
            raise outage from error
        finally:
            _end_transaction(conn)
            if conn.autocommit != restore:
                with suppress(psycopg.Error):  # a broken one is discarded by the pool
                    conn.autocommit = restore
            self._returned[conn] = time.monotonic()
            self.pool.putconn(conn)

    def close(self) -> None:
        self.pool.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()


class PipelinedTransaction:
    """One transaction in pipeline mode on an autocommit connection, with BEGIN and
    COMMIT queued like its other statements: it costs the round trips its reads wait
    for plus one at COMMIT. (``conn.transaction()`` in a pipeline waits for BEGIN and
    syncs twice more at its end: round trips that carry nothing the caller waits for.)

        transaction = PipelinedTransaction(conn)
        with transaction.sending():
            conn.execute(...)
        ...  # the caller's own work, while the server runs what was sent
        transaction.wait()

    ``sending`` sends BEGIN, the block's statements and COMMIT, waiting only for the
    results the block reads; ``wait`` waits for the rest and raises if a statement failed.
    A failure (or an error raised in the block) rolls the transaction back."""

    def __init__(self, conn: Conn) -> None:
        if not conn.autocommit:
            raise RuntimeError("a pipelined transaction needs an autocommit connection")
        self._conn = conn
        self._pipeline = conn.pipeline()

    @contextmanager
    def sending(self) -> Iterator[Conn]:
        self._pipeline.__enter__()
        try:
            self._conn.execute("BEGIN")
            yield self._conn
            self._conn.execute("COMMIT")
            _flush(self._conn)
        except BaseException:
            # A failed statement's error may come back while later ones are being sent.
            # Ending the pipeline may fail too (the connection lost): that adds nothing.
            with suppress(psycopg.Error):
                self._pipeline.__exit__(None, None, None)
            _end_transaction(self._conn)
            raise

    def wait(self) -> None:
        try:
            self._pipeline.__exit__(None, None, None)
        except BaseException:
            _end_transaction(self._conn)
            raise


def _flush(conn: Conn) -> None:
    """Hand every queued byte to the socket. A large transaction may not fit the socket's
    buffer at once, and what libpq keeps would otherwise wait for the next call on the
    connection: its COMMIT with it, and its row locks held meanwhile. (psycopg's own send
    loop: it reads what the server answers meanwhile, so that neither side blocks.)"""
    conn.wait(generators.send(conn.pgconn))


def _has_input(conn: Conn) -> bool:
    """Whether the server sent an idle connection anything (or closed it)."""
    if conn.closed:
        return True
    readable, _, _ = select.select([conn.pgconn.socket], [], [], 0)
    return bool(readable)


def _end_transaction(conn: Conn) -> None:
    """Roll back what an error left open; a connection that cannot is closed, so that
    its pool replaces it."""
    if conn.closed or conn.info.transaction_status == pq.TransactionStatus.IDLE:
        return
    try:
        conn.rollback()
    except psycopg.Error:
        conn.close()
