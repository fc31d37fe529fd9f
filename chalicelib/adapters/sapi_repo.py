"""SQL behind the /sapi wallet routes: the assets, the markets' fees, a user's deposits
and withdrawals filtered as Binance's history routes filter them, and an API key's
restrictions. Deposits and withdrawals come back as the wallet's own domain values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from chalicelib.adapters.wallet_repo import (
    _DEPOSIT_COLUMNS,
    _WITHDRAWAL_COLUMNS,
    _deposit,
    _withdrawal,
)
from chalicelib.domain.admin import Asset
from chalicelib.domain.wallet import Deposit, Withdrawal, WithdrawalStatus

Conn = psycopg.Connection[Any]


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


@dataclass(frozen=True)
class KeyRestrictions:
    permissions: list[str]
    ip_allowlist: list[str]
    created_at: datetime


def assets(conn: Conn) -> list[Asset]:
    rows = conn.execute("SELECT symbol, scale, name FROM assets ORDER BY symbol").fetchall()
    return [Asset(symbol, scale, name) for symbol, scale, name in rows]


def market_fees_ppm(conn: Conn, symbol: str | None) -> list[tuple[str, int, int]]:
    """(symbol, maker ppm, taker ppm) of every market, or of ``symbol`` only."""
    rows = conn.execute(
        "SELECT symbol, maker_fee_ppm, taker_fee_ppm FROM markets"
        " WHERE %(symbol)s::text IS NULL OR symbol = %(symbol)s ORDER BY symbol",
        {"symbol": symbol}).fetchall()
    return [(name, int(maker), int(taker)) for name, maker, taker in rows]


def deposits(conn: Conn, where: HistoryFilter) -> list[Deposit]:
    return [_deposit(row) for row in _history(conn, "deposits", _DEPOSIT_COLUMNS,
                                              "created_at", sql.SQL("TRUE"), {}, where)]


def withdrawals(conn: Conn, where: HistoryFilter,
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


def key_restrictions(conn: Conn, key_id: int) -> KeyRestrictions:
    row = conn.execute("SELECT permissions, ip_allowlist, created_at FROM api_keys"
                       " WHERE id = %s", (key_id,)).fetchone()
    if row is None:
        raise RuntimeError("an authenticated API key has no row")
    return KeyRestrictions(list(row[0]), list(row[1]), row[2])


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


def deposit_addresses(conn: Conn, user_id: int) -> dict[str, str]:
    rows = conn.execute("SELECT asset, address FROM deposit_addresses WHERE user_id = %s",
                        (user_id,)).fetchall()
    return dict(rows)
