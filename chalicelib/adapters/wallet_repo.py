"""SQL for the wallet: deposits, the credits awaiting a second admin, deposit addresses,
withdrawals, and a user's balances and ledger entries.

Money itself moves only through ``chalicelib.adapters.ledger``. Lists come newest first
and hold up to ``limit + 1`` rows below ``before_id``: the extra row only tells
``chalicelib.service_layer.paginate`` that another page follows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from chalicelib.domain.ledger import Bucket
from chalicelib.domain.wallet import (
    Balance,
    Deposit,
    DepositCredit,
    LedgerEntry,
    PendingCredit,
    Withdrawal,
    WithdrawalStatus,
)

Conn = psycopg.Connection[Any]
Row = tuple[Any, ...]

_DEPOSIT_COLUMNS = sql.SQL("id, user_id, asset, amount, external_txid, created_at")
_WITHDRAWAL_COLUMNS = sql.SQL(
    "id, user_id, asset, amount, address, idempotency_key, status, requested_at, decided_at,"
    " first_approved_by")
_CREDIT_COLUMNS = sql.SQL(
    "id, user_id, asset, amount, external_txid, requested_by, requested_at, deposit_id")


# Deposits


def insert_deposit(conn: Conn, credit: DepositCredit, *, ledger_transaction_id: int,
                   credited_by: int) -> Deposit:
    return _deposit(conn.execute(sql.SQL(
        "INSERT INTO deposits (user_id, asset, amount, external_txid, ledger_transaction_id,"
        " credited_by) VALUES (%s, %s, %s, %s, %s, %s) RETURNING {}"
    ).format(_DEPOSIT_COLUMNS), (credit.user_id, credit.asset, credit.amount,
                                 credit.external_txid, ledger_transaction_id, credited_by)
    ).fetchone())


def deposit_by_txid(conn: Conn, asset: str, external_txid: str) -> Deposit | None:
    row = conn.execute(
        sql.SQL("SELECT {} FROM deposits WHERE asset = %s AND external_txid = %s")
        .format(_DEPOSIT_COLUMNS), (asset, external_txid)).fetchone()
    return None if row is None else _deposit(row)


def deposit_by_id(conn: Conn, deposit_id: int) -> Deposit:
    return _deposit(conn.execute(sql.SQL("SELECT {} FROM deposits WHERE id = %s")
                                 .format(_DEPOSIT_COLUMNS), (deposit_id,)).fetchone())


def user_deposits(conn: Conn, user_id: int, limit: int, before_id: int | None) -> list[Deposit]:
    rows = _newest_first(conn, "deposits", _DEPOSIT_COLUMNS, sql.SQL("user_id = %(user)s"),
                         {"user": user_id}, limit, before_id)
    return [_deposit(row) for row in rows]


# Credits awaiting a second admin


def lock_credit_request_by_txid(conn: Conn, asset: str,
                                external_txid: str) -> PendingCredit | None:
    """The credit request for the deposit (asset, txid), locked until the transaction
    ends."""
    return _locked_credit_request(conn, sql.SQL("asset = %s AND external_txid = %s"),
                                  (asset, external_txid))


def lock_credit_request(conn: Conn, request_id: int) -> PendingCredit | None:
    """The credit request, locked until the transaction ends."""
    return _locked_credit_request(conn, sql.SQL("id = %s"), (request_id,))


def insert_credit_request(conn: Conn, credit: DepositCredit, *,
                          requested_by: int) -> PendingCredit | None:
    """The new request, or None when one for the same deposit (asset, txid) exists: a
    concurrent request for it waits here until the first commits."""
    row = conn.execute(sql.SQL(
        "INSERT INTO deposit_credit_requests (user_id, asset, amount, external_txid,"
        " requested_by) VALUES (%s, %s, %s, %s, %s)"
        " ON CONFLICT (asset, external_txid) DO NOTHING RETURNING {}"
    ).format(_CREDIT_COLUMNS), (credit.user_id, credit.asset, credit.amount,
                                credit.external_txid, requested_by)).fetchone()
    return None if row is None else _pending_credit(row)


def mark_credit_executed(conn: Conn, request_id: int, *, approved_by: int,
                         deposit_id: int) -> None:
    conn.execute("UPDATE deposit_credit_requests SET approved_by = %s, deposit_id = %s"
                 " WHERE id = %s", (approved_by, deposit_id, request_id))


def pending_credit_requests(conn: Conn, limit: int,
                            before_id: int | None) -> list[PendingCredit]:
    rows = _newest_first(conn, "deposit_credit_requests", _CREDIT_COLUMNS,
                         sql.SQL("deposit_id IS NULL"), {}, limit, before_id)
    return [_pending_credit(row) for row in rows]


def _locked_credit_request(conn: Conn, condition: sql.Composable,
                           params: tuple[Any, ...]) -> PendingCredit | None:
    row = conn.execute(sql.SQL("SELECT {} FROM deposit_credit_requests WHERE {} FOR UPDATE")
                       .format(_CREDIT_COLUMNS, condition), params).fetchone()
    return None if row is None else _pending_credit(row)


# Deposit addresses


def deposit_address(conn: Conn, user_id: int, asset: str, new_address: str) -> str:
    """The user's address for the asset; ``new_address`` becomes it if they have none."""
    conn.execute(
        "INSERT INTO deposit_addresses (user_id, asset, address) VALUES (%s, %s, %s)"
        " ON CONFLICT (user_id, asset) DO NOTHING", (user_id, asset, new_address))
    row = conn.execute("SELECT address FROM deposit_addresses WHERE user_id = %s"
                       " AND asset = %s", (user_id, asset)).fetchone()
    return str(_present(row)[0])


# Withdrawals


def insert_withdrawal(conn: Conn, *, user_id: int, asset: str, amount: int, address: str,
                      idempotency_key: str) -> Withdrawal | None:
    """The new PENDING withdrawal, or None when the user already used the key: a
    concurrent request with the same key waits here until the first commits."""
    row = conn.execute(sql.SQL(
        "INSERT INTO withdrawals (user_id, asset, amount, address, idempotency_key)"
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (user_id, idempotency_key) DO NOTHING"
        " RETURNING {}"
    ).format(_WITHDRAWAL_COLUMNS), (user_id, asset, amount, address, idempotency_key)
    ).fetchone()
    return None if row is None else _withdrawal(row)


def withdrawal_by_key(conn: Conn, user_id: int, idempotency_key: str) -> Withdrawal:
    """The user's withdrawal with that key (``insert_withdrawal`` found one)."""
    return _withdrawal(conn.execute(
        sql.SQL("SELECT {} FROM withdrawals WHERE user_id = %s AND idempotency_key = %s")
        .format(_WITHDRAWAL_COLUMNS), (user_id, idempotency_key)).fetchone())


def lock_withdrawal(conn: Conn, withdrawal_id: int) -> Withdrawal | None:
    """The withdrawal, locked until the transaction ends."""
    row = conn.execute(
        sql.SQL("SELECT {} FROM withdrawals WHERE id = %s FOR UPDATE")
        .format(_WITHDRAWAL_COLUMNS), (withdrawal_id,)).fetchone()
    return None if row is None else _withdrawal(row)


def user_withdrawal(conn: Conn, user_id: int, withdrawal_id: int) -> Withdrawal | None:
    row = conn.execute(
        sql.SQL("SELECT {} FROM withdrawals WHERE id = %s AND user_id = %s")
        .format(_WITHDRAWAL_COLUMNS), (withdrawal_id, user_id)).fetchone()
    return None if row is None else _withdrawal(row)


def user_withdrawals(conn: Conn, user_id: int, limit: int,
                     before_id: int | None) -> list[Withdrawal]:
    rows = _newest_first(conn, "withdrawals", _WITHDRAWAL_COLUMNS,
                         sql.SQL("user_id = %(user)s"), {"user": user_id}, limit, before_id)
    return [_withdrawal(row) for row in rows]


def pending_withdrawals(conn: Conn, limit: int, before_id: int | None) -> list[Withdrawal]:
    """Every user's withdrawals awaiting a decision."""
    rows = _newest_first(conn, "withdrawals", _WITHDRAWAL_COLUMNS,
                         sql.SQL("status = 'PENDING'"), {}, limit, before_id)
    return [_withdrawal(row) for row in rows]


def record_decision(conn: Conn, withdrawal_id: int, decision: WithdrawalStatus, *,
                    decided_by: int) -> Withdrawal:
    return _withdrawal(conn.execute(sql.SQL(
        "UPDATE withdrawals SET status = %s, decided_at = now(), decided_by = %s"
        " WHERE id = %s RETURNING {}"
    ).format(_WITHDRAWAL_COLUMNS), (decision.value, decided_by, withdrawal_id)).fetchone())


def record_first_approval(conn: Conn, withdrawal_id: int, *, approved_by: int) -> Withdrawal:
    return _withdrawal(conn.execute(sql.SQL(
        "UPDATE withdrawals SET first_approved_by = %s, first_approved_at = now()"
        " WHERE id = %s RETURNING {}"
    ).format(_WITHDRAWAL_COLUMNS), (approved_by, withdrawal_id)).fetchone())


# Balances and the ledger


def user_balances(conn: Conn, user_id: int) -> list[Balance]:
    """The user's balance in every asset they ever held, by asset symbol."""
    rows = conn.execute(
        "SELECT b.asset, a.scale, b.available, b.locked FROM balances b"
        " JOIN assets a ON a.symbol = b.asset"
        " WHERE b.account_kind = 'USER' AND b.user_id = %s ORDER BY b.asset",
        (user_id,)).fetchall()
    return [Balance(asset, int(scale), int(free), int(locked))
            for asset, scale, free, locked in rows]


def user_ledger_entries(conn: Conn, user_id: int, asset: str | None, limit: int,
                        before_id: int | None) -> list[LedgerEntry]:
    """The ledger entries of the user's accounts (one asset's, unless None)."""
    rows = conn.execute(
        "SELECT e.id, e.transaction_id, t.kind, t.reference, e.asset, e.bucket, e.amount,"
        " e.created_at FROM balances b"
        " JOIN ledger_entries e ON e.balance_id = b.id"
        " JOIN ledger_transactions t ON t.id = e.transaction_id"
        " WHERE b.account_kind = 'USER' AND b.user_id = %(user)s"
        " AND (%(asset)s::text IS NULL OR b.asset = %(asset)s)"
        " AND (%(before)s::bigint IS NULL OR e.id < %(before)s)"
        " ORDER BY e.id DESC LIMIT %(n)s",
        {"user": user_id, "asset": asset, "before": before_id, "n": limit + 1}).fetchall()
    return [
        LedgerEntry(entry_id, tx_id, kind, reference, entry_asset, Bucket(bucket), int(amount),
                    created_at)
        for entry_id, tx_id, kind, reference, entry_asset, bucket, amount, created_at in rows
    ]


# Deposit and withdrawal histories as Binance's /sapi routes filter and page them


@dataclass(frozen=True)
class HistoryFilter:
    """One user's rows of an asset (None: all), created within [start, end], skipping
    ``offset`` of them, newest first."""

    user_id: int
    asset: str | None
    start: datetime
    end: datetime
    offset: int
    limit: int


@dataclass(frozen=True)
class WithdrawalSelection:
    """Only withdrawals in one of ``statuses``, with one of ``ids``, with
    ``idempotency_key`` (None: any)."""

    statuses: tuple[WithdrawalStatus, ...] | None = None
    ids: tuple[int, ...] | None = None
    idempotency_key: str | None = None


def deposits_in(conn: Conn, where: HistoryFilter, external_txid: str | None) -> list[Deposit]:
    """Deposits, only the one of ``external_txid`` if given."""
    condition = sql.SQL("(%(txid)s::text IS NULL OR external_txid = %(txid)s)")
    return [_deposit(row) for row in _history(conn, "deposits", _DEPOSIT_COLUMNS, "created_at",
                                              condition, {"txid": external_txid}, where)]


def withdrawals_in(conn: Conn, where: HistoryFilter,
                   only: WithdrawalSelection) -> list[Withdrawal]:
    condition = sql.SQL(
        "(%(statuses)s::text[] IS NULL OR status = ANY (%(statuses)s))"
        " AND (%(ids)s::bigint[] IS NULL OR id = ANY (%(ids)s))"
        " AND (%(key)s::text IS NULL OR idempotency_key = %(key)s)")
    params = {"statuses": None if only.statuses is None else [str(s) for s in only.statuses],
              "ids": None if only.ids is None else list(only.ids),
              "key": only.idempotency_key}
    return [_withdrawal(row) for row in _history(conn, "withdrawals", _WITHDRAWAL_COLUMNS,
                                                 "requested_at", condition, params, where)]


def _history(conn: Conn, table: str, columns: sql.Composable, time_column: str,
             condition: sql.Composable, params: dict[str, Any],
             where: HistoryFilter) -> list[tuple[Any, ...]]:
    return conn.execute(sql.SQL(
        "SELECT {columns} FROM {table} WHERE user_id = %(user)s"
        " AND (%(asset)s::text IS NULL OR asset = %(asset)s)"
        " AND {time} BETWEEN %(start)s AND %(end)s AND {condition}"
        " ORDER BY id DESC OFFSET %(offset)s LIMIT %(limit)s").format(
            columns=columns, table=sql.Identifier(table), time=sql.Identifier(time_column),
            condition=condition),
        {**params, "user": where.user_id, "asset": where.asset, "start": where.start,
         "end": where.end, "offset": where.offset, "limit": where.limit}).fetchall()


def _newest_first(
    conn: Conn, table: str, columns: sql.Composable, condition: sql.Composable,
    params: dict[str, Any], limit: int, before_id: int | None,
) -> list[Row]:
    return conn.execute(sql.SQL(
        "SELECT {} FROM {} WHERE {} AND (%(before)s::bigint IS NULL OR id < %(before)s)"
        " ORDER BY id DESC LIMIT %(n)s").format(columns, sql.Identifier(table), condition),
        {**params, "before": before_id, "n": limit + 1}).fetchall()


def _deposit(row: Row | None) -> Deposit:
    deposit_id, user_id, asset, amount, external_txid, created_at = _present(row)
    return Deposit(deposit_id, user_id, asset, int(amount), external_txid, created_at)


def _withdrawal(row: Row | None) -> Withdrawal:
    (withdrawal_id, user_id, asset, amount, address, key, status, requested_at,
     decided_at, first_approved_by) = _present(row)
    return Withdrawal(withdrawal_id, user_id, asset, int(amount), address, key,
                      WithdrawalStatus(status), requested_at, decided_at, first_approved_by)


def _pending_credit(row: Row) -> PendingCredit:
    request_id, user_id, asset, amount, txid, requested_by, requested_at, deposit_id = row
    return PendingCredit(request_id, user_id, asset, int(amount), txid, requested_by,
                         requested_at, deposit_id)


def _present(row: Row | None) -> Row:
    """A row the statement must have produced (the schema guarantees it)."""
    if row is None:
        raise RuntimeError("expected a row: the wallet's tables disagree with each other")
    return row
