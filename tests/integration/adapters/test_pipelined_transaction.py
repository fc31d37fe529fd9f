"""``pipelined_transaction`` on the real server: its statements commit together or not
at all, and a failure leaves the connection ready for the next transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import errors, sql
from psycopg.pq import TransactionStatus

from chalicelib.adapters.postgres import pipelined_transaction

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


def assert_rolled_back(conn: Conn, other: Conn, table: sql.Identifier) -> None:
    """Nothing of the transaction is left, and its connection is out of it."""
    assert conn.info.transaction_status == TransactionStatus.IDLE
    assert ids(other, table) == []


def test_its_statements_become_visible_together_when_it_ends(
    conn: Conn, other: Conn, table: sql.Identifier
) -> None:
    with pipelined_transaction(conn):
        insert(conn, table, 1)
        # A read inside waits for the statements before it: the insert has run.
        assert ids(conn, table) == [1]
        assert ids(other, table) == []
        insert(conn, table, 2)
    assert ids(other, table) == [1, 2]
    assert conn.info.transaction_status == TransactionStatus.IDLE


def test_a_failing_statement_undoes_the_ones_before_it_and_the_connection_goes_on(
    conn: Conn, other: Conn, table: sql.Identifier
) -> None:
    def insert_one_twice() -> None:
        with pipelined_transaction(conn):
            insert(conn, table, 1)
            insert(conn, table, 1)
            insert(conn, table, 2)

    with pytest.raises(errors.UniqueViolation):
        insert_one_twice()
    assert_rolled_back(conn, other, table)
    with pipelined_transaction(conn):
        insert(conn, table, 3)
    assert ids(other, table) == [3]


def test_an_error_raised_in_the_block_undoes_what_was_sent(
    conn: Conn, other: Conn, table: sql.Identifier
) -> None:
    def give_up_after_inserting() -> None:
        with pipelined_transaction(conn):
            insert(conn, table, 1)
            assert ids(conn, table) == [1]
            raise LookupError("the caller gives up")

    with pytest.raises(LookupError):
        give_up_after_inserting()
    assert_rolled_back(conn, other, table)


def test_a_connection_that_begins_its_own_transactions_is_refused(db_url: str) -> None:
    with psycopg.connect(db_url) as connection:
        transaction = pipelined_transaction(connection)
        with pytest.raises(RuntimeError, match="autocommit"):
            transaction.__enter__()
