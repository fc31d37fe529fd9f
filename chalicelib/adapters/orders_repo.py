"""SQL for markets as orders see them, orders, their funds, the command outbox and trades.

Each function runs in the caller's transaction; none commits.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, replace
from typing import Any

import psycopg
from psycopg import sql

from chalicelib.adapters.ledger import post_transaction, whole_numbers
from chalicelib.domain.ledger import AccountRef, Bucket, Posting
from chalicelib.domain.order_commands import OrderCommand
from chalicelib.domain.orders import Market, MarketSpec, NewOrder

Conn = psycopg.Connection[Any]

ORDER_COLUMNS = sql.SQL(
    "id, market, client_order_id, side, type, time_in_force, self_trade_prevention, price,"
    " quantity, quote_order_qty, executed_qty, cumulative_quote_qty, status, created_at,"
    " updated_at, accepted_seq, stop_price, working_at, working_seq, order_list_id")
ORDER_FIELDS = ("id", "market", "client_order_id", "side", "type", "time_in_force", "stp",
                "price", "quantity", "quote_order_qty", "executed_qty",
                "cumulative_quote_qty", "status", "created_at", "updated_at", "accepted_seq",
                "stop_price", "working_at", "working_seq", "order_list_id")
TRADE_FIELDS = ("id", "price", "qty", "quote_qty", "time", "buyer_is_maker", "is_maker",
                "order_id", "commission", "commission_asset", "order_list_id")


def find_market(conn: Conn, symbol: str) -> Market | None:
    row = conn.execute(
        "SELECT m.base_asset, m.quote_asset, b.scale, q.scale, m.status, m.tick_size,"
        " m.lot_size, m.min_qty, m.max_qty, m.min_notional, m.maker_fee_ppm, m.taker_fee_ppm"
        " FROM markets m JOIN assets b ON b.symbol = m.base_asset"
        " JOIN assets q ON q.symbol = m.quote_asset WHERE m.symbol = %s", (symbol,)).fetchone()
    if row is None:
        return None
    base, quote, base_scale, quote_scale, status, *filters = row
    spec = MarketSpec(symbol, 10 ** int(base_scale), *(int(v) for v in filters))
    return Market(spec, base, quote, int(base_scale), int(quote_scale), status)


def last_trade_price(conn: Conn, market: str) -> int:
    """The price of the market's latest trade (0 before its first)."""
    row = conn.execute("SELECT price FROM trades WHERE market = %s ORDER BY id DESC LIMIT 1",
                       (market,)).fetchone()
    return int(row[0]) if row else 0


def lock_available(conn: Conn, user_id: int, asset: str) -> int:
    """The user's available balance, locked until the transaction ends."""
    row = conn.execute(
        "SELECT available FROM balances WHERE account_kind = 'USER' AND user_id = %s"
        " AND asset = %s FOR UPDATE", (user_id, asset)).fetchone()
    return int(row[0]) if row else 0


def client_order_id_in_use(conn: Conn, user_id: int, client_order_id: str) -> bool:
    """True when one of the user's open orders has this client order id."""
    return conn.execute(
        "SELECT 1 FROM orders WHERE user_id = %s AND client_order_id = %s"
        " AND status IN ('NEW', 'PARTIALLY_FILLED')", (user_id, client_order_id)
    ).fetchone() is not None


def insert_order(conn: Conn, order: NewOrder, locked: int, spend_cap: int,
                 order_list_id: int | None = None, status: str = "NEW") -> int | None:
    """The new order's id; None when an open order already has its client order id.
    An OTO list's pending order is inserted PENDING_NEW."""
    row = conn.execute(
        "INSERT INTO orders (user_id, market, client_order_id, side, type, time_in_force,"
        " self_trade_prevention, price, quantity, quote_order_qty, locked_amount, spend_cap,"
        " stop_price, order_list_id, status)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (user_id, client_order_id)"
        " WHERE status IN ('NEW', 'PARTIALLY_FILLED') DO NOTHING RETURNING id",
        (order.user_id, order.market, order.client_order_id, order.side, order.order_type,
         order.tif, order.stp, order.price or None, order.qty or None,
         order.quote_qty or None, locked, spend_cap, order.stop_price or None,
         order_list_id, status)).fetchone()
    return int(row[0]) if row else None


@dataclass(frozen=True)
class Placed:
    """What ``place_order`` did: ``code`` PLACED with the rest set, or why it refused
    (STALE_MARKET, CLOSED, DUPLICATE_ORDER_ID, INSUFFICIENT_BALANCE) with nothing
    written."""

    code: str
    order_id: int
    command_id: int
    locked: int
    spend_cap: int


# Prepared (psycopg prepares a query from its fifth use on a connection by default).
PLACE_ORDER = (
    "SELECT code, order_id, command_id, locked, spend_cap FROM place_order_command("
    "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::numeric[], %s, %s::jsonb)")
# The same, first checking that the API key which signed it still exists (KEY_DELETED).
PLACE_SIGNED_ORDER = PLACE_ORDER.replace("place_order_command(",
                                         "place_signed_order_command(%s, ")


def place_order(conn: Conn, order: NewOrder, market: Market, lock_asset: str,
                lock_amount: int, lock_whole: bool, command: OrderCommand) -> Placed:
    """Check, lock and record the order and its command (``command`` without its ids and
    lock, which the database adds) in one statement: one round trip on a connection in
    autocommit; in a transaction, sent with its BEGIN. ``lock_whole``: lock the whole
    available balance, as spend cap."""
    spec = market.spec
    params: tuple[object, ...] = (
        order.user_id, order.market, order.client_order_id, order.side, order.order_type,
        order.tif, order.stp, order.price or None, order.qty or None, order.quote_qty or None,
        order.stop_price or None, lock_asset, lock_amount, lock_whole,
        whole_numbers([spec.tick_size, spec.lot_size, spec.min_qty, spec.max_qty,
                       spec.min_notional]),
        market.status, command.encode().decode())
    query = PLACE_ORDER
    if order.api_key_id is not None:
        query, params = PLACE_SIGNED_ORDER, (order.api_key_id, *params)
    with nullcontext() if conn.autocommit else conn.pipeline():
        row = conn.execute(query, params).fetchone()
    assert row is not None
    code, order_id, command_id, locked, spend_cap = row
    return Placed(code, int(order_id or 0), int(command_id or 0), int(locked or 0),
                  int(spend_cap or 0))


def reserve_funds(conn: Conn, user_id: int, order_id: int, asset: str, amount: int) -> None:
    """Move ``amount`` of the user's ``asset`` from available to locked for the order."""
    account = AccountRef.user(user_id, asset)
    post_transaction(conn, "ORDER_LOCK", f"order:{order_id}", [
        Posting(account, Bucket.AVAILABLE, -amount),
        Posting(account, Bucket.LOCKED, amount),
    ])


def insert_command(conn: Conn, command: OrderCommand) -> OrderCommand:
    """Write the command to the outbox; the returned copy carries its id."""
    row = conn.execute(
        "INSERT INTO order_commands (market, kind, order_id, user_id, payload)"
        " VALUES (%s, %s, %s, %s, '{}') RETURNING id",
        (command.market, command.kind, command.order_id or None, command.user_id)).fetchone()
    assert row is not None
    stamped = replace(command, command_id=int(row[0]))
    conn.execute("UPDATE order_commands SET payload = %s WHERE id = %s",
                 (stamped.encode().decode(), stamped.command_id))
    return stamped


def mark_republished(conn: Conn, command_ids: list[int]) -> None:
    """When the sweeper last sent these: it sends each again only ``older_than_s`` later."""
    conn.execute("UPDATE order_commands SET published_at = now() WHERE id = ANY(%s)",
                 (command_ids,))


def stuck_commands(conn: Conn, older_than_s: int,
                   limit: int = 500) -> list[tuple[OrderCommand, int]]:
    """Committed commands the matcher has not applied after `older_than_s` (since they
    were committed, or last republished), oldest first, each with when it was committed
    (the API's accept time, Unix ms)."""
    rows = conn.execute(
        "SELECT payload::text, (extract(epoch FROM created_at) * 1000)::bigint"
        " FROM order_commands WHERE applied_at IS NULL"
        " AND coalesce(published_at, created_at) < now() - make_interval(secs => %s)"
        " ORDER BY id LIMIT %s",
        (older_than_s, limit)).fetchall()
    return [(OrderCommand.decode(row[0].encode()), int(row[1])) for row in rows]


def find_order(conn: Conn, user_id: int, market: str, *, order_id: int | None = None,
               client_order_id: str | None = None) -> dict[str, Any] | None:
    """One of the user's orders by id, or the newest with that client order id."""
    where = sql.SQL("id = %s") if order_id is not None else sql.SQL("client_order_id = %s")
    row = conn.execute(sql.SQL(
        "SELECT {} FROM orders WHERE user_id = %s AND market = %s AND {}"
        " ORDER BY id DESC LIMIT 1").format(ORDER_COLUMNS, where),
        (user_id, market, order_id if order_id is not None else client_order_id)).fetchone()
    return None if row is None else dict(zip(ORDER_FIELDS, row, strict=True))


def list_orders(conn: Conn, user_id: int, market: str, *, open_only: bool, limit: int,
                from_id: int | None) -> list[dict[str, Any]]:
    """The user's orders in a market from ``from_id`` on, oldest first."""
    rows = conn.execute(sql.SQL(
        "SELECT {} FROM orders WHERE user_id = %(user)s AND market = %(market)s"
        " AND (NOT %(open)s OR status IN ('NEW', 'PARTIALLY_FILLED'))"
        " AND (%(from)s::bigint IS NULL OR id >= %(from)s) ORDER BY id LIMIT %(limit)s"
    ).format(ORDER_COLUMNS), {"user": user_id, "market": market, "open": open_only,
                              "from": from_id, "limit": limit}).fetchall()
    return [dict(zip(ORDER_FIELDS, row, strict=True)) for row in rows]


# The user's side of their trades in a market (the order of theirs each one filled, its
# fee, its list), for one order or all, from a trade id on; callers add the order.
USER_TRADES = sql.SQL(
    "SELECT id, price, quantity, quote_quantity, executed_at, buyer_is_maker,"
    " maker_user_id = %(user)s AS is_maker,"
    " CASE WHEN maker_user_id = %(user)s THEN maker_order_id ELSE taker_order_id END,"
    " CASE WHEN maker_user_id = %(user)s THEN maker_fee ELSE taker_fee END,"
    " CASE WHEN maker_user_id = %(user)s THEN maker_fee_asset ELSE taker_fee_asset END,"
    " (SELECT o.order_list_id FROM orders o WHERE o.id = CASE"
    "  WHEN maker_user_id = %(user)s THEN maker_order_id ELSE taker_order_id END)"
    " FROM trades WHERE market = %(market)s"
    " AND (maker_user_id = %(user)s OR taker_user_id = %(user)s)"
    " AND (%(order)s::bigint IS NULL OR maker_order_id = %(order)s"
    "      OR taker_order_id = %(order)s)"
    " AND (%(from)s::bigint IS NULL OR id >= %(from)s)")


def user_trades(conn: Conn, user_id: int, market: str, *, order_id: int | None,
                from_id: int | None, limit: int) -> list[dict[str, Any]]:
    """The user's side of each of their trades in a market, oldest first."""
    rows = conn.execute(
        sql.SQL("{} ORDER BY id LIMIT %(limit)s").format(USER_TRADES),
        {"user": user_id, "market": market, "order": order_id, "from": from_id,
         "limit": limit}).fetchall()
    return [dict(zip(TRADE_FIELDS, row, strict=True)) for row in rows]
