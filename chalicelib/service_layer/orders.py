"""Order intake: check the market's filters, lock the funds, record the order and
its command for the matcher, all in one transaction (SPEC invariant 3).

Publishing the command to Kafka happens after the commit (see
``chalicelib.adapters.order_publisher``); a command a crash leaves unpublished is
republished by the sweeper, and the matcher applies each command once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from psycopg import sql

from chalicelib.adapters.ledger import post_transaction
from chalicelib.domain.errors import ApiError, ErrorCode
from chalicelib.domain.ledger import AccountRef, Bucket, Posting
from chalicelib.domain.money import MAX_UNITS
from chalicelib.domain.order_commands import OrderCommand
from chalicelib.domain.orders import (
    CommandKind,
    MarketSpec,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from chalicelib.service_layer import Conn
from chalicelib.service_layer.admin import bad_symbol

OPEN_STATUSES = ("NEW", "PARTIALLY_FILLED")


@dataclass(frozen=True)
class Market:
    spec: MarketSpec
    base_asset: str
    quote_asset: str
    base_scale: int
    quote_scale: int
    status: str


@dataclass(frozen=True)
class NewOrder:
    user_id: int
    market: str
    client_order_id: str
    side: Side
    order_type: OrderType
    tif: TimeInForce | None
    price: int
    qty: int
    quote_qty: int
    stp: SelfTradePrevention


@dataclass(frozen=True)
class Lock:
    asset: str
    amount: int
    spend_cap: int


def rejected(msg: str, code: ErrorCode = ErrorCode.NEW_ORDER_REJECTED) -> ApiError:
    return ApiError(400, code, msg)


def load_market(conn: Conn, symbol: str) -> Market:
    row = conn.execute(
        "SELECT m.base_asset, m.quote_asset, b.scale, q.scale, m.status, m.tick_size,"
        " m.lot_size, m.min_qty, m.max_qty, m.min_notional, m.maker_fee_ppm, m.taker_fee_ppm"
        " FROM markets m JOIN assets b ON b.symbol = m.base_asset"
        " JOIN assets q ON q.symbol = m.quote_asset WHERE m.symbol = %s", (symbol,)).fetchone()
    if row is None:
        raise bad_symbol()
    base, quote, base_scale, quote_scale, status, *filters = row
    spec = MarketSpec(symbol, 10 ** int(base_scale), *(int(v) for v in filters))
    return Market(spec, base, quote, int(base_scale), int(quote_scale), status)


def filter_failure(name: str) -> ApiError:
    return rejected(f"Filter failure: {name}", ErrorCode.FILTER_FAILURE)


def check_filters(market: Market, order: NewOrder) -> None:
    """Binance's symbol filters, before anything is reserved."""
    spec = market.spec
    if order.order_type is OrderType.MARKET:
        check_market_sizes(spec, order)
        return
    if order.price <= 0 or order.price % spec.tick_size:
        raise filter_failure("PRICE_FILTER")
    check_quantity(spec, order.qty)
    if not spec.min_notional <= spec.notional(order.price, order.qty) <= MAX_UNITS:
        raise filter_failure("NOTIONAL")


def check_market_sizes(spec: MarketSpec, order: NewOrder) -> None:
    if order.qty:
        check_quantity(spec, order.qty)
    elif order.quote_qty < max(spec.min_notional, 1):
        raise filter_failure("NOTIONAL")


def check_quantity(spec: MarketSpec, qty: int) -> None:
    if qty <= 0 or qty % spec.lot_size or not spec.min_qty <= qty <= spec.max_qty:
        raise filter_failure("LOT_SIZE")


def required_lock(conn: Conn, market: Market, order: NewOrder) -> Lock:
    """What the order can consume: quote for a BUY, base for a SELL. A MARKET order
    whose spend its own size does not bound locks the whole available balance as its
    spend cap; it never rests, so the rest is released within the same batch."""
    spec = market.spec
    if order.side is Side.SELL:
        if order.order_type is OrderType.MARKET and not order.qty:
            whole = available(conn, order.user_id, market.base_asset)
            return Lock(market.base_asset, whole, whole)
        return Lock(market.base_asset, order.qty, 0)
    if order.order_type is not OrderType.MARKET:
        return Lock(market.quote_asset, spec.notional(order.price, order.qty), 0)
    if order.quote_qty:
        return Lock(market.quote_asset, order.quote_qty, 0)
    whole = available(conn, order.user_id, market.quote_asset)
    return Lock(market.quote_asset, whole, whole)


def available(conn: Conn, user_id: int, asset: str) -> int:
    row = conn.execute(
        "SELECT available FROM balances WHERE account_kind = 'USER' AND user_id = %s"
        " AND asset = %s FOR UPDATE", (user_id, asset)).fetchone()
    return int(row[0]) if row else 0


def check_new_order(conn: Conn, market: Market, order: NewOrder) -> Lock:
    """Everything that can refuse a new order, writing nothing (`/api/v3/order/test`
    answers with this); returns the lock placing it takes."""
    if market.status != "TRADING":
        raise rejected("Market is closed.")
    check_filters(market, order)
    if client_order_id_in_use(conn, order.user_id, order.client_order_id):
        raise duplicate_order()
    lock = required_lock(conn, market, order)
    if not 0 < lock.amount <= available(conn, order.user_id, lock.asset):
        raise insufficient_balance()
    return lock


def client_order_id_in_use(conn: Conn, user_id: int, client_order_id: str) -> bool:
    return conn.execute(
        "SELECT 1 FROM orders WHERE user_id = %s AND client_order_id = %s"
        " AND status IN ('NEW', 'PARTIALLY_FILLED')", (user_id, client_order_id)
    ).fetchone() is not None


def place_order(conn: Conn, order: NewOrder) -> tuple[int, OrderCommand]:
    """Check, lock and record a new order; return its id and the command to publish."""
    with conn.transaction():
        market = load_market(conn, order.market)
        lock = check_new_order(conn, market, order)
        order_id = insert_order(conn, order, lock)
        try:
            post_transaction(conn, "ORDER_LOCK", f"order:{order_id}", [
                Posting(AccountRef.user(order.user_id, lock.asset), Bucket.AVAILABLE,
                        -lock.amount),
                Posting(AccountRef.user(order.user_id, lock.asset), Bucket.LOCKED, lock.amount),
            ])
        except ApiError as error:
            if error.code is ErrorCode.INSUFFICIENT_BALANCE:
                raise insufficient_balance() from error
            raise
        command = OrderCommand(
            command_id=0, kind=CommandKind.PLACE, market=order.market, user_id=order.user_id,
            order_id=order_id, side=order.side, order_type=order.order_type,
            price=order.price, qty=order.qty, quote_qty=order.quote_qty,
            tif=order.tif or TimeInForce.GTC, stp=order.stp, spend_cap=lock.spend_cap,
            locked=lock.amount)
        return order_id, record_command(conn, command)


def insufficient_balance() -> ApiError:
    return rejected("Account has insufficient balance for requested action.")


def insert_order(conn: Conn, order: NewOrder, lock: Lock) -> int:
    row = conn.execute(
        "INSERT INTO orders (user_id, market, client_order_id, side, type, time_in_force,"
        " self_trade_prevention, price, quantity, quote_order_qty, locked_amount, spend_cap)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (user_id, client_order_id)"
        " WHERE status IN ('NEW', 'PARTIALLY_FILLED') DO NOTHING RETURNING id",
        (order.user_id, order.market, order.client_order_id, order.side, order.order_type,
         order.tif, order.stp, order.price or None, order.qty or None,
         order.quote_qty or None, lock.amount, lock.spend_cap)).fetchone()
    if row is None:  # a concurrent request took the client order id
        raise duplicate_order()
    return int(row[0])


def duplicate_order() -> ApiError:
    return rejected("Duplicate order sent.")


def record_command(conn: Conn, command: OrderCommand) -> OrderCommand:
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


def find_order(conn: Conn, user_id: int, market: str, *, order_id: int | None = None,
               client_order_id: str | None = None) -> dict[str, Any]:
    """One of the user's orders (the newest with that client id); -2013 otherwise."""
    where = sql.SQL("id = %s") if order_id is not None else sql.SQL("client_order_id = %s")
    row = conn.execute(sql.SQL(
        "SELECT {} FROM orders WHERE user_id = %s AND market = %s AND {}"
        " ORDER BY id DESC LIMIT 1").format(ORDER_COLUMNS, where),
        (user_id, market, order_id if order_id is not None else client_order_id)).fetchone()
    if row is None:
        raise ApiError(400, ErrorCode.NO_SUCH_ORDER, "Order does not exist.")
    return order_dict(row)


def request_cancel(conn: Conn, user_id: int, market: str, order_id: int) -> OrderCommand:
    with conn.transaction():
        load_market(conn, market)
        return record_command(conn, OrderCommand(
            command_id=0, kind=CommandKind.CANCEL, market=market, user_id=user_id,
            order_id=order_id))


def request_cancel_all(conn: Conn, user_id: int, market: str) -> OrderCommand:
    with conn.transaction():
        load_market(conn, market)
        return record_command(conn, OrderCommand(
            command_id=0, kind=CommandKind.CANCEL_ALL, market=market, user_id=user_id))


def mark_published(conn: Conn, command_ids: list[int]) -> None:
    conn.execute("UPDATE order_commands SET published_at = now() WHERE id = ANY(%s)"
                 " AND published_at IS NULL", (command_ids,))


ORDER_COLUMNS = sql.SQL(
    "id, market, client_order_id, side, type, time_in_force, self_trade_prevention, price,"
    " quantity, quote_order_qty, executed_qty, cumulative_quote_qty, status, created_at,"
    " updated_at, accepted_seq")
ORDER_FIELDS = ("id", "market", "client_order_id", "side", "type", "time_in_force", "stp",
                "price", "quantity", "quote_order_qty", "executed_qty",
                "cumulative_quote_qty", "status", "created_at", "updated_at", "accepted_seq")


def order_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(ORDER_FIELDS, row, strict=True))


def list_orders(conn: Conn, user_id: int, market: str, *, open_only: bool, limit: int = 500,
                from_id: int | None = None) -> list[dict[str, Any]]:
    """The user's orders in a market, oldest first (Binance's allOrders/openOrders)."""
    rows = conn.execute(sql.SQL(
        "SELECT {} FROM orders WHERE user_id = %(user)s AND market = %(market)s"
        " AND (NOT %(open)s OR status IN ('NEW', 'PARTIALLY_FILLED'))"
        " AND (%(from)s::bigint IS NULL OR id >= %(from)s) ORDER BY id LIMIT %(limit)s"
    ).format(ORDER_COLUMNS), {"user": user_id, "market": market, "open": open_only,
                              "from": from_id, "limit": limit}).fetchall()
    return [order_dict(row) for row in rows]


def user_trades(conn: Conn, user_id: int, market: str, *, order_id: int | None = None,
                from_id: int | None = None, limit: int = 500) -> list[dict[str, Any]]:
    """The user's side of each of their trades in a market, oldest first."""
    rows = conn.execute(
        "SELECT id, price, quantity, quote_quantity, executed_at, buyer_is_maker,"
        " maker_user_id = %(user)s AS is_maker,"
        " CASE WHEN maker_user_id = %(user)s THEN maker_order_id ELSE taker_order_id END,"
        " CASE WHEN maker_user_id = %(user)s THEN maker_fee ELSE taker_fee END,"
        " CASE WHEN maker_user_id = %(user)s THEN maker_fee_asset ELSE taker_fee_asset END"
        " FROM trades WHERE market = %(market)s"
        " AND (maker_user_id = %(user)s OR taker_user_id = %(user)s)"
        " AND (%(order)s::bigint IS NULL OR maker_order_id = %(order)s"
        "      OR taker_order_id = %(order)s)"
        " AND (%(from)s::bigint IS NULL OR id >= %(from)s) ORDER BY id LIMIT %(limit)s",
        {"user": user_id, "market": market, "order": order_id, "from": from_id,
         "limit": limit}).fetchall()
    fields = ("id", "price", "qty", "quote_qty", "time", "buyer_is_maker", "is_maker",
              "order_id", "commission", "commission_asset")
    return [dict(zip(fields, row, strict=True)) for row in rows]


def stuck_commands(conn: Conn, older_than_s: int, limit: int = 500) -> list[OrderCommand]:
    """Committed commands still unpublished after `older_than_s`, oldest first."""
    rows = conn.execute(
        "SELECT payload::text FROM order_commands WHERE published_at IS NULL"
        " AND created_at < now() - make_interval(secs => %s) ORDER BY id LIMIT %s",
        (older_than_s, limit)).fetchall()
    return [OrderCommand.decode(row[0].encode()) for row in rows]


def request_amend(conn: Conn, user_id: int, market: Market, order: dict[str, Any],
                  new_qty: int) -> OrderCommand:
    """Reduce an open order's quantity keeping its queue priority (Binance's
    amend/keepPriority): `new_qty` is the new original quantity."""
    if order["quantity"] is None or new_qty >= int(order["quantity"]):
        raise rejected("newQty must be less than the order's quantity.")
    if new_qty <= 0 or new_qty % market.spec.lot_size:
        raise filter_failure("LOT_SIZE")
    with conn.transaction():
        return record_command(conn, OrderCommand(
            command_id=0, kind=CommandKind.AMEND, market=market.spec.symbol, user_id=user_id,
            order_id=int(order["id"]), new_qty=new_qty))
