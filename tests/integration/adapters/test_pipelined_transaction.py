"""``PipelinedTransaction`` on the real server: its statements commit together or not
at all, its COMMIT goes out without the caller waiting for it, and a failure leaves the
connection ready for the next transaction."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg import errors, sql
from psycopg.pq import TransactionStatus

from chalicelib.adapters.postgres import PipelinedTransaction
from tests.support.polling import wait_until

pytestmark = pytest.mark.integration

Conn = psycopg.Connection[Any]


@pytest.fixture
def conn(db_url: str) -> Iterator[Conn]:
    with psycopg.connect(db_url, autocommit=True) as connection:
        yield connection


@pytest.fixture
def other(db_url: str) -> Iterator[Conn]:
    with psycopg.connect(db_url, autocommit=True) as connection:
        yield connection


@pytest.fixture
def table(conn: Conn) -> Iterator[sql.Identifier]:
    name = sql.Identifier(f"pipelined_{uuid.uuid4().hex[:12]}")
    conn.execute(sql.SQL("CREATE TABLE {} (id int PRIMARY KEY)").format(name))
    yield name
    conn.execute(sql.SQL("DROP TABLE {}").format(name))


def ids(conn: Conn, table: sql.Identifier) -> list[int]:
    rows = conn.execute(sql.SQL("SELECT id FROM {} ORDER BY id").format(table)).fetchall()
    return [int(row[0]) for row in rows]


def insert(conn: Conn, table: sql.Identifier, row_id: int) -> None:
    conn.execute(sql.SQL("INSERT INTO {} VALUES (%s)").format(table), (row_id,))


def committed(conn: Conn, work: Callable[[], None]) -> None:
    """``work`` in a pipelined transaction, committed and waited for."""
    transaction = PipelinedTransaction(conn)
    with transaction.sending():
        work()
    transaction.wait()


def assert_rolled_back(conn: Conn, other: Conn, table: sql.Identifier) -> None:
    """Nothing of the transaction is left, and its connection is out of it."""
    assert conn.info.transaction_status == TransactionStatus.IDLE
    assert ids(other, table) == []


def test_its_statements_become_visible_together_when_it_commits(
    conn: Conn, other: Conn, table: sql.Identifier
) -> None:
    def insert_two() -> None:
        insert(conn, table, 1)
        # A read inside waits for the statements before it: the insert has run.
        assert ids(conn, table) == [1]
        assert ids(other, table) == []
        insert(conn, table, 2)

    committed(conn, insert_two)
    assert ids(other, table) == [1, 2]
    assert conn.info.transaction_status == TransactionStatus.IDLE


def test_its_commit_goes_out_without_waiting_for_it(
    conn: Conn, other: Conn, table: sql.Identifier
) -> None:
    transaction = PipelinedTransaction(conn)
    with transaction.sending():
        insert(conn, table, 1)
    # Nothing read the results yet, and the server committed all the same.
    wait_until(lambda: ids(other, table), timeout=10, what="the transaction to commit",
               until=lambda found: found == [1])
    transaction.wait()
    assert conn.info.transaction_status == TransactionStatus.IDLE


def test_a_transaction_larger_than_the_socket_buffers_is_sent_whole(
    conn: Conn, other: Conn, table: sql.Identifier, db_url: str
) -> None:
    insert(other, table, 0)
    other.execute("BEGIN")
    other.execute(sql.SQL("SELECT id FROM {} FOR UPDATE").format(table))
    transaction = PipelinedTransaction(conn)

    def send_while_the_server_waits() -> None:
        with transaction.sending():
            # The server waits for the lock, reading nothing, while far more than any
            # socket buffer holds is still to be sent.
            conn.execute(sql.SQL("SELECT id FROM {} FOR UPDATE").format(table))
            conn.execute("SELECT length(%s)", ("x" * 64_000_000,))
            insert(conn, table, 1)

    sender = threading.Thread(target=send_while_the_server_waits)
    sender.start()
    with psycopg.connect(db_url, autocommit=True) as watcher:
        wait_until(lambda: watcher.execute(
            "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s",
            (conn.info.backend_pid,)).fetchone(), timeout=10,
            what="the transaction to wait for the lock", until=lambda row: row == ("Lock",))
    other.rollback()
    sender.join(30)
    # Sent whole, COMMIT included: it commits before anything waits for it.
    wait_until(lambda: ids(other, table), timeout=10, what="the transaction to commit",
               until=lambda found: found == [0, 1])
    transaction.wait()


def test_a_failing_statement_undoes_the_ones_before_it_and_the_connection_goes_on(
    conn: Conn, other: Conn, table: sql.Identifier
) -> None:
    def insert_one_twice() -> None:
        transaction = PipelinedTransaction(conn)
        with transaction.sending():
            insert(conn, table, 1)
            insert(conn, table, 1)
            insert(conn, table, 2)
        transaction.wait()

    # The error comes back while later statements are being sent, or when waited for.
    with pytest.raises(errors.UniqueViolation):
        insert_one_twice()
    assert_rolled_back(conn, other, table)
    committed(conn, lambda: insert(conn, table, 3))
    assert ids(other, table) == [3]


def test_an_error_raised_in_the_block_undoes_what_was_sent(
    conn: Conn, other: Conn, table: sql.Identifier
) -> None:
    def give_up_after_inserting() -> None:
        with PipelinedTransaction(conn).sending():
            insert(conn, table, 1)
            assert ids(conn, table) == [1]
            raise LookupError("the caller gives up")

    with pytest.raises(LookupError):
        give_up_after_inserting()
    assert_rolled_back(conn, other, table)


def test_a_connection_that_begins_its_own_transactions_is_refused(db_url: str) -> None:
    with psycopg.connect(db_url) as connection, pytest.raises(RuntimeError, match="autocommit"):
        PipelinedTransaction(connection)
