"""PostgreSQL going away under a unit of work, on the real server: refused, silent,
terminated, read-only. Each either succeeds (a unit run again whole, placing its order
once) or fails with ``BackendUnavailableError``; none hangs. Each blocking call runs in
a thread joined with a timeout, so a hang fails the test instead of stalling the run.
"""

from __future__ import annotations

import selectors
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from chalicelib.adapters.postgres import API_LIMITS, Database, DbLimits
from chalicelib.domain.errors import BackendUnavailableError
from chalicelib.domain.orders import (
    NewOrder,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from chalicelib.service_layer import order_intake, orders
from chalicelib.service_layer.order_intake import Intake, Wait
from chalicelib.service_layer.retries import in_transaction
from chalicelib.settings import Settings
from tests.integration.service_layer import btcusdt_buyer, count, user_account
from tests.support.fakes.clock import SleeplessClock
from tests.support.fakes.publisher import FakePublisher
from tests.support.ledger import assert_ledger_invariants
from tests.support.order_locks import assert_locks_match_open_orders
from tests.support.polling import wait_until

pytestmark = pytest.mark.integration

Conn = psycopg.Connection[Any]
T = TypeVar("T")
BTC, USDT = 10**8, 10**6
# Short limits, so that a test meets them quickly: 1 s per connection attempt, 1 s per unit.
QUICK = DbLimits(connect_timeout_s=1, deadline_s=1, statement_timeout_ms=0)
# How long a call may take before the test calls it a hang: well past every limit above.
HANG_S = 30


def bounded(call: Callable[[], T]) -> T | BaseException:
    """What ``call`` returned or raised, from a thread joined within ``HANG_S``."""
    outcome: list[T | BaseException] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as error:  # the test inspects it
            outcome.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(HANG_S)
    assert not thread.is_alive(), f"still blocked after {HANG_S} s: it hangs"
    return outcome[0]


def select_one(database: Database) -> object:
    with database.transaction() as conn:
        return conn.execute("SELECT 1").fetchone()


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Relay:
    """A TCP relay on loopback to ``upstream`` that can go silent: it then keeps every
    connection open and acknowledged (the kernel does) but forwards nothing, as a
    half-open proxy or a partitioned network does. With no upstream it is silent from
    the start: it accepts and never answers."""

    def __init__(self, upstream: tuple[str, int] | None) -> None:
        self.upstream = upstream
        self.silent = threading.Event()
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._sockets: list[socket.socket] = [self._listener]
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Relay:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(HANG_S)
        for sock in self._sockets:
            sock.close()

    def _run(self) -> None:
        peers: dict[socket.socket, socket.socket] = {}
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            while not self._stop.is_set():
                for key, _ in selector.select(0.05):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    if sock is self._listener:
                        self._accept(selector, peers)
                    elif not self.silent.is_set():
                        self._forward(selector, peers, sock)

    def _accept(self, selector: selectors.BaseSelector,
                peers: dict[socket.socket, socket.socket]) -> None:
        client, _ = self._listener.accept()
        self._sockets.append(client)
        if self.upstream is None:
            return
        server = socket.create_connection(self.upstream)
        self._sockets.append(server)
        peers[client], peers[server] = server, client
        selector.register(client, selectors.EVENT_READ)
        selector.register(server, selectors.EVENT_READ)

    @staticmethod
    def _forward(selector: selectors.BaseSelector, peers: dict[socket.socket, socket.socket],
                 sock: socket.socket) -> None:
        with suppress(OSError):
            data = sock.recv(65536)
            if data:
                peers[sock].sendall(data)
                return
        for end in (sock, peers[sock]):
            with suppress(KeyError, ValueError):
                selector.unregister(end)
            with suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)


def url_via(settings: Settings, port: int) -> str:
    """The database URL with its host list replaced by one port on loopback."""
    return make_conninfo(settings.database_url, host="127.0.0.1", port=port)


def writer_port(settings: Settings) -> int:
    """The port of the node the database URL finds writable."""
    with psycopg.connect(settings.database_url) as conn:
        return int(conn.info.port)


def test_a_refused_connection_is_an_outage_to_retry(test_settings: Settings) -> None:
    url = url_via(test_settings, unused_port())
    with Database(url, QUICK, min_size=0) as database:
        outcome = bounded(lambda: select_one(database))
    assert isinstance(outcome, BackendUnavailableError)
    assert outcome.retryable
    assert not outcome.timed_out


def test_a_server_that_never_answers_fails_at_the_connect_timeout(
        test_settings: Settings) -> None:
    with Relay(upstream=None) as silent, \
            Database(url_via(test_settings, silent.port), QUICK, min_size=0) as database:
        outcome = bounded(lambda: select_one(database))
    assert isinstance(outcome, BackendUnavailableError)
    assert outcome.retryable


def test_a_connection_gone_silent_fails_at_the_deadline(test_settings: Settings) -> None:
    with Relay(("127.0.0.1", writer_port(test_settings))) as relay, \
            Database(url_via(test_settings, relay.port), QUICK, min_size=0) as database:
        assert select_one(database) == (1,)

        def query_after_silence() -> object:
            with database.transaction() as conn:
                relay.silent.set()
                return conn.execute("SELECT 2").fetchone()

        outcome = bounded(query_after_silence)
        assert isinstance(outcome, BackendUnavailableError)
        assert outcome.timed_out
        assert "1 s deadline" in str(outcome)
        # The pooled connections now lead nowhere: the next unit fails too, not hangs.
        assert isinstance(bounded(lambda: select_one(database)), BackendUnavailableError)
        relay.silent.clear()


def test_a_read_only_server_is_no_writer(test_settings: Settings) -> None:
    def write_read_only() -> None:
        with database.transaction() as conn:
            conn.execute("SET TRANSACTION READ ONLY")
            conn.execute("INSERT INTO users (email, password_hash) VALUES ('ro@x', 'h')")

    with Database(test_settings.database_url, QUICK, min_size=0) as database:
        outcome = bounded(write_read_only)
    assert isinstance(outcome, BackendUnavailableError)
    assert "no writer" in str(outcome)


@pytest.fixture
def buyer(db: Conn) -> int:
    return btcusdt_buyer(db)


@pytest.fixture
def writer(test_settings: Settings) -> Iterator[Database]:
    with Database(test_settings.database_url, API_LIMITS, min_size=0) as database:
        yield database


def terminate(settings: Settings, conn: Conn) -> None:
    """End ``conn``'s server process, as a failover or an operator does, and wait for it
    to be gone (from a session of the same role, which may signal its own backends)."""
    pid = conn.info.backend_pid
    with psycopg.connect(settings.database_url, autocommit=True) as killer:
        killer.execute("SELECT pg_terminate_backend(%s)", (pid,))
        wait_until(lambda: killer.execute("SELECT count(*) FROM pg_stat_activity"
                                          " WHERE pid = %s", (pid,)).fetchone(),
                   timeout=10, what="the terminated backend to exit", until=lambda r: r == (0,))


def limit_buy(user_id: int) -> NewOrder:
    return NewOrder(user_id, "BTCUSDT", "resilient-1", Side.BUY, OrderType.LIMIT,
                    TimeInForce.GTC, 20_000 * USDT, BTC // 2, 0,
                    SelfTradePrevention.EXPIRE_MAKER)


def test_a_placement_whose_connection_is_terminated_runs_again_and_places_once(
        test_settings: Settings, db: Conn, buyer: int, writer: Database) -> None:
    units: list[int] = []

    @contextmanager
    def recording_loses_its_connection() -> Iterator[Conn]:
        with writer.transaction() as conn:
            units.append(conn.info.backend_pid)
            if len(units) == 2:  # after the market's read
                terminate(test_settings, conn)
            yield conn

    publisher = FakePublisher()
    intake = Intake(recording_loses_its_connection, publisher, SleeplessClock(), 0.05)
    order = limit_buy(buyer)
    placement = bounded(lambda: order_intake.place(intake, "BTCUSDT", lambda _m: order,
                                                   Wait.NOTHING))
    assert isinstance(placement, order_intake.Placement)
    assert len(units) == 3  # reading the market; recording the order, lost; recording it again
    assert units[1] != units[2]  # run again on a new connection, not the broken one
    assert count(db, "orders") == 1
    assert [c.order_id for c in publisher.published] == [placement.order_id]
    assert user_account(db, buyer, "USDT") == (10_000 * USDT, 10_000 * USDT)
    assert_ledger_invariants(db)
    assert_locks_match_open_orders(db, [buyer])


def test_a_connection_lost_while_committing_is_not_run_again(
        test_settings: Settings, db: Conn, buyer: int, writer: Database) -> None:
    runs: list[int] = []

    def place_then_lose_the_connection(conn: Conn) -> None:
        runs.append(1)
        orders.load_market(conn, "BTCUSDT")  # as placing does: its block is a savepoint
        orders.place_order(conn, limit_buy(buyer))
        terminate(test_settings, conn)

    outcome = bounded(lambda: in_transaction(writer.transaction,
                                             place_then_lose_the_connection))
    assert isinstance(outcome, BackendUnavailableError)
    assert not outcome.retryable  # it might have committed: only the client may retry
    assert len(runs) == 1
    assert count(db, "orders") == 0  # here the commit never reached the server
    assert_ledger_invariants(db)
    assert_locks_match_open_orders(db, [buyer])


@pytest.mark.parametrize(("reads_only", "retryable"), [(True, True), (False, False)])
def test_a_single_statement_lost_while_it_runs_is_retryable_only_when_it_reads(
        test_settings: Settings, writer: Database, reads_only: bool, retryable: bool) -> None:
    def lose_the_connection() -> None:
        with writer.statement(reads_only=reads_only) as conn:
            assert conn.autocommit  # one statement, one round trip: no BEGIN, no COMMIT
            terminate(test_settings, conn)
            conn.execute("SELECT 1")

    outcome = bounded(lose_the_connection)
    assert isinstance(outcome, BackendUnavailableError)
    assert outcome.retryable is retryable  # a write may have committed
    with writer.transaction() as conn:
        assert not conn.autocommit  # the pool's connections stay as they were
