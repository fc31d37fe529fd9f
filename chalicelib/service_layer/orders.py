"""Orders in the database: check the market's filters, lock the funds, record the order
and its command for the matcher, all in one transaction (SPEC invariant 3).

Publishing the command to Kafka happens after the commit (``order_intake``); a command
a crash leaves unpublished is republished by the sweeper, and the matcher applies each
command once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from chalicelib.adapters import orders_repo
from chalicelib.domain.errors import ApiError, ErrorCode
from chalicelib.domain.market_rules import (
    limit_problem,
    lot_problem,
    market_problem,
    price_problem,
    rejection,
)
from chalicelib.domain.order_commands import OrderCommand
from chalicelib.domain.orders import (
    CommandKind,
    Lock,
    Market,
    NewOrder,
    RejectReason,
    Side,
    TimeInForce,
    stop_reached,
)
from chalicelib.service_layer import Conn
from chalicelib.service_layer.admin import bad_symbol
from chalicelib.service_layer.api_keys import invalid_key


def rejected(msg: str) -> ApiError:
    return ApiError(400, ErrorCode.NEW_ORDER_REJECTED, msg)


def load_market(conn: Conn, symbol: str) -> Market:
    market = orders_repo.find_market(conn, symbol)
    if market is None:
        raise bad_symbol()
    return market


def check_filters(market: Market, order: NewOrder) -> None:
    """Binance's symbol filters, before anything is reserved: a stop order's as the
    order it stands for's, and PRICE_FILTER on its stop price."""
    if order.order_type.trades_as_market:
        reason = market_problem(market.spec, order.qty, order.quote_qty)
    else:
        reason = limit_problem(market.spec, order.price, order.qty)
    if reason is None and order.order_type.is_conditional:
        reason = price_problem(market.spec, order.stop_price)
    if reason is not None:
        raise rejection(reason)


def check_stop_not_reached(conn: Conn, market: Market, order: NewOrder) -> None:
    """Binance refuses a stop order whose stop price the last trade price has reached
    (the engine checks again against the price it holds when the order arrives)."""
    last = orders_repo.last_trade_price(conn, market.spec.symbol)
    if last and stop_reached(order.order_type, order.side, order.stop_price, last, last):
        raise rejection(RejectReason.WOULD_TRIGGER_IMMEDIATELY)


def required_lock(conn: Conn, market: Market, order: NewOrder) -> Lock:
    """What the order can consume: quote for a BUY, base for a SELL. A MARKET order
    whose spend its own size does not bound locks the whole available balance as its
    spend cap; it never rests, so the rest is released within the same batch."""
    spec = market.spec
    if order.side is Side.SELL:
        if order.order_type.trades_as_market and not order.qty:
            whole = orders_repo.lock_available(conn, order.user_id, market.base_asset)
            return Lock(market.base_asset, whole, whole)
        return Lock(market.base_asset, order.qty, 0)
    if not order.order_type.trades_as_market:
        return Lock(market.quote_asset, spec.notional(order.price, order.qty), 0)
    if order.quote_qty:
        return Lock(market.quote_asset, order.quote_qty, 0)
    whole = orders_repo.lock_available(conn, order.user_id, market.quote_asset)
    return Lock(market.quote_asset, whole, whole)


def check_new_order(conn: Conn, market: Market, order: NewOrder) -> Lock:
    """Everything that can refuse a new order, writing nothing (`/api/v3/order/test`
    answers with this); returns the lock placing it takes."""
    check_before_reserving(market, order)
    if order.order_type.is_conditional:
        check_stop_not_reached(conn, market, order)
    if orders_repo.client_order_id_in_use(conn, order.user_id, order.client_order_id):
        raise rejection(RejectReason.DUPLICATE_ORDER_ID)
    lock = required_lock(conn, market, order)
    available = orders_repo.lock_available(conn, order.user_id, lock.asset)
    if not 0 < lock.amount <= available:
        raise insufficient_balance()
    return lock


def check_before_reserving(market: Market, order: NewOrder) -> None:
    """What refuses a new order by the market alone: its status, then its filters."""
    if market.status != "TRADING":
        raise market_closed()
    check_filters(market, order)


def market_closed() -> ApiError:
    return rejected("Market is closed.")


class StaleMarketError(Exception):
    """The market's status or filters changed since it was read: read it again."""


def planned_lock(market: Market, order: NewOrder) -> tuple[Lock, bool]:
    """The lock ``required_lock`` takes, and whether it is the whole available balance
    (then its amount is only known once that balance is locked)."""
    spec = market.spec
    if order.side is Side.SELL:
        whole = order.order_type.trades_as_market and not order.qty
        return Lock(market.base_asset, 0 if whole else order.qty, 0), whole
    if not order.order_type.trades_as_market:
        return Lock(market.quote_asset, spec.notional(order.price, order.qty), 0), False
    return Lock(market.quote_asset, order.quote_qty, 0), not order.quote_qty


def insufficient_balance() -> ApiError:
    return rejected("Account has insufficient balance for requested action.")


def duplicate_order() -> ApiError:
    return rejection(RejectReason.DUPLICATE_ORDER_ID)


REFUSALS: dict[str, Callable[[], ApiError]] = {
    "CLOSED": market_closed, "DUPLICATE_ORDER_ID": duplicate_order,
    "INSUFFICIENT_BALANCE": insufficient_balance, "KEY_DELETED": invalid_key}


def record_order(conn: Conn, market: Market, order: NewOrder) -> tuple[int, OrderCommand]:
    """Place an order that ``check_before_reserving`` passed: the checks that need the
    database (stop price, client order id, balance), the lock and the rows, in one
    statement (a stop order reads the last trade price first). Returns the order's id
    and the command to publish; ``StaleMarketError`` when ``market`` is out of date."""
    if order.order_type.is_conditional:
        check_stop_not_reached(conn, market, order)
    lock, whole = planned_lock(market, order)
    template = OrderCommand(
        command_id=0, kind=CommandKind.PLACE, market=order.market, user_id=order.user_id,
        order_id=0, side=order.side, order_type=order.order_type, price=order.price,
        qty=order.qty, quote_qty=order.quote_qty, tif=order.tif or TimeInForce.GTC,
        stp=order.stp, stop_price=order.stop_price)
    placed = orders_repo.place_order(conn, order, market, lock.asset, lock.amount, whole,
                                     template)
    if placed.code == "STALE_MARKET":
        raise StaleMarketError(market.spec.symbol)
    if placed.code != "PLACED":
        raise REFUSALS[placed.code]()
    return placed.order_id, replace(template, command_id=placed.command_id,
                                    order_id=placed.order_id, locked=placed.locked,
                                    spend_cap=placed.spend_cap)


def place_order(conn: Conn, order: NewOrder) -> tuple[int, OrderCommand]:
    """Check, lock and record a new order; return its id and the command to publish."""
    with conn.transaction():
        market = load_market(conn, order.market)
        check_before_reserving(market, order)
        return record_order(conn, market, order)


def reserve_locked(conn: Conn, user_id: int, order_id: int, lock: Lock) -> None:
    """Move the lock from the user's available balance to locked, for the order."""
    try:
        orders_repo.reserve_funds(conn, user_id, order_id, lock.asset, lock.amount)
    except ApiError as error:
        if error.code is ErrorCode.INSUFFICIENT_BALANCE:
            raise insufficient_balance() from error
        raise


def find_order(conn: Conn, user_id: int, market: str, *, order_id: int | None = None,
               client_order_id: str | None = None) -> dict[str, Any]:
    """One of the user's orders (the newest with that client id); -2013 otherwise."""
    order = orders_repo.find_order(conn, user_id, market, order_id=order_id,
                                   client_order_id=client_order_id)
    if order is None:
        raise no_such_order()
    return order


def no_such_order() -> ApiError:
    return ApiError(400, ErrorCode.NO_SUCH_ORDER, "Order does not exist.")


def request_cancel(conn: Conn, user_id: int, market: str, order_id: int) -> OrderCommand:
    with conn.transaction():
        load_market(conn, market)
        return orders_repo.insert_command(conn, OrderCommand(
            command_id=0, kind=CommandKind.CANCEL, market=market, user_id=user_id,
            order_id=order_id))


def request_cancel_all(conn: Conn, user_id: int, market: str) -> OrderCommand:
    with conn.transaction():
        load_market(conn, market)
        return orders_repo.insert_command(conn, OrderCommand(
            command_id=0, kind=CommandKind.CANCEL_ALL, market=market, user_id=user_id))


def request_amend(conn: Conn, user_id: int, market: Market, order: dict[str, Any],
                  new_qty: int) -> OrderCommand:
    """Reduce an open order's quantity keeping its queue priority (Binance's
    amend/keepPriority): `new_qty` is the new original quantity."""
    if order["order_list_id"] is not None:  # the engine keeps a list's orders as placed
        raise rejection(RejectReason.IN_ORDER_LIST)
    if order["quantity"] is None or new_qty >= int(order["quantity"]):
        raise rejection(RejectReason.AMEND_NOT_REDUCING)
    reason = lot_problem(market.spec, new_qty)
    if reason is not None:
        raise rejection(reason)
    with conn.transaction():
        return orders_repo.insert_command(conn, OrderCommand(
            command_id=0, kind=CommandKind.AMEND, market=market.spec.symbol, user_id=user_id,
            order_id=int(order["id"]), new_qty=new_qty))


def list_orders(conn: Conn, user_id: int, market: str, *, open_only: bool, limit: int = 500,
                from_id: int | None = None) -> list[dict[str, Any]]:
    """The user's orders in a market, oldest first (Binance's allOrders/openOrders)."""
    return orders_repo.list_orders(conn, user_id, market, open_only=open_only, limit=limit,
                                   from_id=from_id)


def user_trades(conn: Conn, user_id: int, market: str, *, order_id: int | None = None,
                from_id: int | None = None, limit: int = 500) -> list[dict[str, Any]]:
    """The user's side of each of their trades in a market, oldest first."""
    return orders_repo.user_trades(conn, user_id, market, order_id=order_id, from_id=from_id,
                                   limit=limit)
