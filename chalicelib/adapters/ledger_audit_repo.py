"""SQL of the ledger auditor: its snapshot, what is new in the ledger since its last pass,
the sums it keeps, the invariants' queries, the halt and the money gauges.

Every function runs in the caller's transaction; ``audit_transaction`` opens the one a
pass runs in.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, LiteralString

import psycopg
from psycopg import IsolationLevel, errors, sql
from psycopg.types.json import Jsonb

from chalicelib.domain.ledger_audit import Break, Invariant

Conn = psycopg.Connection[Any]

# pg_try_advisory_xact_lock's key: one pass at a time, whoever runs it.
PASS_LOCK_KEY = 0x1ED6E5A0D17


class ConcurrentChangeError(Exception):
    """Someone (an admin clearing the halt) changed the auditor's row after this pass's
    snapshot was taken; the pass must run again."""


@dataclass(frozen=True)
class AuditedSoFar:
    """The auditor's row, as a pass starts."""

    snapshot: str
    """The previous pass's ``pg_snapshot``, as text."""
    passes: int
    breaks: tuple[Break, ...]
    withdrawals_halted: bool
    halted_at: datetime | None
    last_pass_at: datetime
    last_pass_full: bool
    last_pass_entries: int
    last_full_at: datetime | None


@dataclass(frozen=True)
class NewEntries:
    """The sums of one account's ledger entries that a pass reads for the first time."""

    balance_id: int
    asset: str
    available: int
    locked: int
    count: int


@contextmanager
def audit_transaction(conn: Conn) -> Iterator[bool]:
    """A REPEATABLE READ transaction, so that the whole pass reads one snapshot; yields
    whether this pass holds the auditor's lock (False: another pass runs now)."""
    conn.isolation_level = IsolationLevel.REPEATABLE_READ
    try:
        with conn.transaction():
            row = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (PASS_LOCK_KEY,)
                               ).fetchone()
            try:
                yield bool(row and row[0])
            except errors.SerializationFailure as error:
                raise ConcurrentChangeError(str(error)) from error
    finally:
        conn.isolation_level = None


def current_snapshot(conn: Conn) -> str:
    """This transaction's snapshot (REPEATABLE READ: the whole pass's)."""
    row = conn.execute("SELECT pg_current_snapshot()::text").fetchone()
    assert row is not None
    return str(row[0])


def snapshot_is_from_this_database(conn: Conn, snapshot: str) -> bool:
    """False for a snapshot from the future: the database was restored elsewhere (its
    transaction ids started again), so the checkpoint means nothing here."""
    row = conn.execute("SELECT pg_snapshot_xmax(%s::pg_snapshot)"
                       " <= pg_snapshot_xmax(pg_current_snapshot())", (snapshot,)).fetchone()
    return bool(row and row[0])


def audited_so_far(conn: Conn, *, for_update: bool = False) -> AuditedSoFar | None:
    """The auditor's row; with ``for_update``, locked until the transaction ends."""
    query: LiteralString = (
        "SELECT audited_snapshot::text, passes, last_breaks, withdrawals_halted, halted_at,"
        " last_pass_at, last_pass_full, last_pass_entries, last_full_at"
        " FROM ledger_audit_state")
    row = conn.execute(query + (" FOR UPDATE" if for_update else "")).fetchone()
    if row is None:
        return None
    snapshot, passes, breaks, halted, halted_at, at, full, entries, full_at = row
    return AuditedSoFar(str(snapshot), int(passes),
                        tuple(Break.from_record(b) for b in breaks), bool(halted), halted_at,
                        at, bool(full), int(entries), full_at)


def new_entries(conn: Conn, since_snapshot: str) -> list[NewEntries]:
    """Per account, the entries of every ledger transaction committed since
    ``since_snapshot`` was taken (visible now, not visible then), whatever their ids.

    Not visible then means: running then (its xip list) or started after (at or past its
    xmax). Both are index conditions on ``xact_id``, given as values, so the planner
    sees how few rows they name; a long transaction that is still open costs nothing.
    """
    found = conn.execute(
        "SELECT pg_snapshot_xmax(%(s)s::pg_snapshot)::text,"
        " array(SELECT pg_snapshot_xip(%(s)s::pg_snapshot))::text[]",
        {"s": since_snapshot}).fetchone()
    assert found is not None
    xmax, running = found
    rows = conn.execute(
        "SELECT e.balance_id, min(e.asset),"
        " coalesce(sum(e.amount) FILTER (WHERE e.bucket = 'AVAILABLE'), 0),"
        " coalesce(sum(e.amount) FILTER (WHERE e.bucket = 'LOCKED'), 0), count(*)"
        " FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id"
        " WHERE (t.xact_id >= %(xmax)s::xid8 OR t.xact_id = ANY(%(running)s::xid8[]))"
        " AND NOT pg_visible_in_snapshot(t.xact_id, %(s)s::pg_snapshot)"
        " GROUP BY e.balance_id",
        {"s": since_snapshot, "xmax": xmax, "running": running}).fetchall()
    return [NewEntries(int(b), str(a), int(av), int(lk), int(n)) for b, a, av, lk, n in rows]


# Each account's balance row beside the sums of its entries. The filtered form reaches the
# rows by primary key (an incremental pass); the full join reads them all (a full pass).
_BALANCES_AND_SUMS: LiteralString = (
    "SELECT b.id, b.asset, b.user_id, coalesce(s.available, 0), b.available,"
    " coalesce(s.locked, 0), b.locked"
    " FROM balances b LEFT JOIN ledger_audit_balance_sums s ON s.balance_id = b.id"
    " WHERE b.id = ANY(%(ids)s)"
    " UNION ALL SELECT s.balance_id, s.asset, NULL, s.available, 0, s.locked, 0"
    " FROM ledger_audit_balance_sums s WHERE s.balance_id = ANY(%(ids)s)"
    " AND NOT EXISTS (SELECT FROM balances b WHERE b.id = s.balance_id)")
_ALL_BALANCES_AND_SUMS: LiteralString = (
    "SELECT coalesce(b.id, s.balance_id), coalesce(b.asset, s.asset), b.user_id,"
    " coalesce(s.available, 0), coalesce(b.available, 0), coalesce(s.locked, 0),"
    " coalesce(b.locked, 0)"
    " FROM balances b FULL JOIN ledger_audit_balance_sums s ON s.balance_id = b.id")


def balances_against_sums(conn: Conn, balance_ids: Sequence[int] | None) -> list[Break]:
    """Accounts (all, or those of ``balance_ids``) whose balance row differs from the sums
    of its ledger entries that the auditor keeps (this pass's entries counted first). An
    entry whose account does not exist counts as a balance of zero."""
    rows = conn.execute(sql.SQL(
        "SELECT * FROM ({})"
        " AS c(id, asset, user_id, want_available, available, want_locked, locked)"
        " WHERE want_available <> available OR want_locked <> locked ORDER BY id").format(
            sql.SQL(_ALL_BALANCES_AND_SUMS if balance_ids is None else _BALANCES_AND_SUMS)),
        {"ids": list(balance_ids or ())}).fetchall()
    found: list[Break] = []
    for balance_id, asset, user_id, want_av, av, want_lk, lk in rows:
        for bucket, expected, actual in (("AVAILABLE", want_av, av), ("LOCKED", want_lk, lk)):
            if expected != actual:
                found.append(Break(Invariant.BALANCE_ENTRIES, str(asset), int(expected),
                                   int(actual), int(balance_id),
                                   None if user_id is None else int(user_id), bucket))
    return found


def add_to_sums(conn: Conn, entries: Sequence[NewEntries]) -> None:
    """Count a pass's new entries in the per-account and per-asset sums."""
    if not entries:
        return
    conn.execute(
        "INSERT INTO ledger_audit_balance_sums AS s (balance_id, asset, available, locked)"
        " SELECT * FROM unnest(%s::bigint[], %s::text[], %s::numeric[], %s::numeric[])"
        " ON CONFLICT (balance_id) DO UPDATE SET available = s.available + EXCLUDED.available,"
        " locked = s.locked + EXCLUDED.locked",
        ([e.balance_id for e in entries], [e.asset for e in entries],
         [e.available for e in entries], [e.locked for e in entries]))
    totals: dict[str, int] = {}
    for e in entries:
        totals[e.asset] = totals.get(e.asset, 0) + e.available + e.locked
    conn.execute(
        "INSERT INTO ledger_audit_asset_sums AS s (asset, total)"
        " SELECT * FROM unnest(%s::text[], %s::numeric[])"
        " ON CONFLICT (asset) DO UPDATE SET total = s.total + EXCLUDED.total",
        (list(totals), list(totals.values())))


def recount_sums(conn: Conn) -> int:
    """Replace the kept sums with the whole ledger's; return how many entries it holds."""
    conn.execute("DELETE FROM ledger_audit_balance_sums")
    conn.execute("DELETE FROM ledger_audit_asset_sums")
    conn.execute(
        "INSERT INTO ledger_audit_balance_sums (balance_id, asset, available, locked)"
        " SELECT balance_id, min(asset),"
        " coalesce(sum(amount) FILTER (WHERE bucket = 'AVAILABLE'), 0),"
        " coalesce(sum(amount) FILTER (WHERE bucket = 'LOCKED'), 0)"
        " FROM ledger_entries GROUP BY balance_id")
    conn.execute("INSERT INTO ledger_audit_asset_sums (asset, total)"
                 " SELECT asset, sum(amount) FROM ledger_entries GROUP BY asset")
    row = conn.execute("SELECT count(*) FROM ledger_entries").fetchone()
    return int(row[0]) if row else 0


def asset_sum_breaks(conn: Conn) -> list[Break]:
    """Assets whose ledger entries (the kept sums) do not sum to zero."""
    return [Break(Invariant.ASSET_SUM, str(asset), 0, int(total)) for asset, total in
            conn.execute("SELECT asset, total FROM ledger_audit_asset_sums WHERE total <> 0"
                         " ORDER BY asset").fetchall()]


def balance_total_breaks(conn: Conn) -> list[Break]:
    """Assets whose balance rows do not sum to zero (a full pass reads every row)."""
    return [Break(Invariant.ASSET_SUM, str(asset), 0, int(total)) for asset, total in
            conn.execute("SELECT asset, sum(available + locked) FROM balances GROUP BY asset"
                         " HAVING sum(available + locked) <> 0 ORDER BY asset").fetchall()]


def lock_breaks(conn: Conn, user_ids: Sequence[int] | None = None) -> list[Break]:
    """Users' (all, or these) locked amounts that differ from what their open orders and
    pending withdrawals hold (the definition of tests/support/order_locks.py)."""
    some = sql.SQL("" if user_ids is None else " AND user_id = ANY(%(users)s)")
    query = sql.SQL(
        "WITH wanted AS (SELECT user_id, asset, sum(amount) AS locked FROM ("
        "  SELECT o.user_id, CASE o.side WHEN 'BUY' THEN m.quote_asset"
        "   ELSE m.base_asset END AS asset, o.locked_amount AS amount"
        "  FROM (SELECT user_id, market, side, locked_amount FROM orders"
        "   WHERE status IN ('NEW', 'PARTIALLY_FILLED', 'PENDING_NEW'){some}) o"
        "  JOIN markets m ON m.symbol = o.market"
        "  UNION ALL SELECT user_id, asset, amount FROM withdrawals"
        "  WHERE status = 'PENDING'{some}) AS held GROUP BY user_id, asset),"
        " locked AS (SELECT id, user_id, asset, locked FROM balances"
        "  WHERE account_kind = 'USER'{some})"
        " SELECT l.id, coalesce(l.user_id, w.user_id), coalesce(l.asset, w.asset),"
        "  coalesce(w.locked, 0), coalesce(l.locked, 0)"
        " FROM locked l FULL JOIN wanted w ON w.user_id = l.user_id AND w.asset = l.asset"
        " WHERE coalesce(w.locked, 0) <> coalesce(l.locked, 0) ORDER BY 2, 3").format(some=some)
    return [Break(Invariant.LOCKS, str(asset), int(expected), int(actual),
                  None if balance_id is None else int(balance_id), int(user_id), "LOCKED")
            for balance_id, user_id, asset, expected, actual in conn.execute(
                query, {"users": list(user_ids or ())}).fetchall()]


def users_of(conn: Conn, balance_ids: Sequence[int]) -> list[int]:
    return [int(user_id) for (user_id,) in conn.execute(
        "SELECT DISTINCT user_id FROM balances WHERE id = ANY(%s) AND user_id IS NOT NULL",
        (list(balance_ids),)).fetchall()]


def save_pass(conn: Conn, *, snapshot: str, full: bool, entries: int,
              breaks: Sequence[Break], halt: bool) -> bool:
    """Record the pass and, with ``halt``, halt withdrawals (if not halted already);
    return whether withdrawals are halted now."""
    row = conn.execute(
        "INSERT INTO ledger_audit_state AS s (audited_snapshot, passes, last_pass_at,"
        " last_pass_full, last_pass_entries, last_full_at, last_breaks, withdrawals_halted,"
        " halted_at)"
        " VALUES (%(snapshot)s::pg_snapshot, 1, now(), %(full)s, %(entries)s,"
        "  CASE WHEN %(full)s THEN now() END, %(breaks)s, %(halt)s,"
        "  CASE WHEN %(halt)s THEN now() END)"
        " ON CONFLICT (singleton) DO UPDATE SET audited_snapshot = EXCLUDED.audited_snapshot,"
        " passes = s.passes + 1, last_pass_at = now(), last_pass_full = %(full)s,"
        " last_pass_entries = %(entries)s,"
        " last_full_at = coalesce(EXCLUDED.last_full_at, s.last_full_at),"
        " last_breaks = %(breaks)s,"
        " withdrawals_halted = s.withdrawals_halted OR %(halt)s,"
        " halted_at = coalesce(s.halted_at, EXCLUDED.halted_at)"
        " RETURNING withdrawals_halted",
        {"snapshot": snapshot, "full": full, "entries": entries, "halt": halt,
         "breaks": Jsonb([b.as_record() for b in breaks])}).fetchone()
    return bool(row and row[0])


def insert_system_audit(conn: Conn, *, action: str, target: str,
                        details: dict[str, Any]) -> None:
    """An audit log entry by the exchange itself (no actor)."""
    conn.execute("INSERT INTO audit_log (actor_user_id, action, target, details)"
                 " VALUES (NULL, %s, %s, %s)", (action, target, Jsonb(details)))


def withdrawals_halted(conn: Conn) -> bool:
    row = conn.execute("SELECT withdrawals_halted FROM ledger_audit_state").fetchone()
    return bool(row and row[0])


def withdrawal_key_used(conn: Conn, user_id: int, idempotency_key: str) -> bool:
    return conn.execute("SELECT 1 FROM withdrawals WHERE user_id = %s AND idempotency_key = %s",
                        (user_id, idempotency_key)).fetchone() is not None


def lift_halt(conn: Conn) -> datetime | None:
    """Lift the halt; return when it began (None: nothing was halted)."""
    row = conn.execute(
        "UPDATE ledger_audit_state s SET withdrawals_halted = false, halted_at = NULL"
        " FROM ledger_audit_state before WHERE s.withdrawals_halted"
        " RETURNING before.halted_at").fetchone()
    return None if row is None else row[0]


@dataclass(frozen=True)
class MoneyGauges:
    """Per asset: pending withdrawals, fees held, deposits credited, withdrawals paid."""

    pending: dict[str, int]
    fees: dict[str, int]
    deposited: dict[str, int]
    withdrawn: dict[str, int]
    oldest_pending_seconds: float


def money_gauges(conn: Conn) -> MoneyGauges:
    """Every listed asset (zero when nothing happened), from the exchange's own accounts
    and the pending withdrawals' index: a few rows per asset."""
    rows = conn.execute(
        "SELECT a.symbol,"
        " (SELECT count(*) FROM withdrawals w WHERE w.status = 'PENDING'"
        "  AND w.asset = a.symbol),"
        " coalesce(sum(b.available + b.locked) FILTER (WHERE b.account_kind = 'FEE'), 0),"
        " coalesce(-sum(b.available) FILTER (WHERE b.account_kind = 'DEPOSIT_CLEARING'), 0),"
        " coalesce(sum(b.available) FILTER (WHERE b.account_kind = 'WITHDRAWAL_CLEARING'), 0)"
        " FROM assets a LEFT JOIN balances b ON b.asset = a.symbol AND b.user_id IS NULL"
        " GROUP BY a.symbol ORDER BY a.symbol").fetchall()
    oldest = conn.execute(
        "SELECT coalesce(extract(epoch FROM now() - min(requested_at)), 0) FROM withdrawals"
        " WHERE status = 'PENDING'").fetchone()
    return MoneyGauges(
        pending={str(r[0]): int(r[1]) for r in rows}, fees={str(r[0]): int(r[2]) for r in rows},
        deposited={str(r[0]): int(r[3]) for r in rows},
        withdrawn={str(r[0]): int(r[4]) for r in rows},
        oldest_pending_seconds=float(oldest[0]) if oldest else 0.0)
