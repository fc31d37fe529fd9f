"""Cancel-replace as ONE matcher command, as Binance applies it: the engine cancels the
old order and places the new one in the same step (``CancelReplace``), with nothing in
between; if the old order is no longer open when the command applies, the new order is
refused with it (STOP_ON_FAILURE's outcome).

The engine's command keeps the old order's side, type and self-trade prevention mode
and places a GTC order, so this path serves replacements that change only the price and
quantity of a LIMIT (GTC) or LIMIT_MAKER order, under STOP_ON_FAILURE, when the account's
available balance pays for the new order while the old one still holds its funds (its
lock is released by the same command). Anything else goes the sequential way
(``cancel_replace``). Cancel restrictions are checked when the command is recorded:
an order that changes status before the matcher applies it is not checked again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.adapters import orders_repo
from chalicelib.domain.errors import ApiError
from chalicelib.domain.order_commands import OrderCommand
from chalicelib.domain.orders import CommandKind, Market, NewOrder, OrderType, TimeInForce
from chalicelib.service_layer import Conn, order_intake, orders
from chalicelib.service_layer.cancel_replace import backend_timeout, restricted, unknown_order
from chalicelib.service_layer.order_intake import Intake, OrderKey, is_closed, is_matched

REPLACEABLE = (OrderType.LIMIT, OrderType.LIMIT_MAKER)


@dataclass(frozen=True)
class Replaced:
    """Both orders once the matcher applied the command (or as they were when the wait
    ran out): the old one, and the new one with its id."""

    market: Market
    old: dict[str, Any]
    new_order_id: int
    new: dict[str, Any]


def same_shape(old: dict[str, Any], new: NewOrder) -> bool:
    """Whether the engine's CancelReplace places exactly ``new`` in place of ``old`` (it
    refuses an order list's orders: cancelling one of those ends its list)."""
    return (new.order_type in REPLACEABLE and old["type"] == new.order_type
            and old["order_list_id"] is None
            and old["side"] == new.side and old["stp"] == new.stp
            and new.tif in (None, TimeInForce.GTC))


def record(conn: Conn, key: OrderKey, new: NewOrder,
           only_status: str | None) -> tuple[Market, int, int, OrderCommand] | None:
    """In one transaction: the new order, its lock and the command; None (nothing
    written) when this path does not serve the replacement."""
    with conn.transaction():
        market = orders.load_market(conn, key.symbol)
        old = orders_repo.find_order(conn, key.user_id, market.spec.symbol,
                                     order_id=key.order_id, client_order_id=key.client_order_id)
        if old is None or is_closed(old):
            raise unknown_order()
        if only_status is not None and old["status"] != only_status:
            raise restricted()
        if not same_shape(old, new):
            return None
        try:
            lock = orders.check_new_order(conn, market, new)
        except ApiError:
            return None  # the sequential way answers the new order's failure as Binance
        new_id = orders_repo.insert_order(conn, new, lock.amount, lock.spend_cap)
        if new_id is None:
            return None
        orders_repo.reserve_funds(conn, new.user_id, new_id, lock.asset, lock.amount)
        command = orders_repo.insert_command(conn, OrderCommand(
            command_id=0, kind=CommandKind.CANCEL_REPLACE, market=market.spec.symbol,
            user_id=new.user_id, order_id=int(old["id"]), new_order_id=new_id, side=new.side,
            order_type=new.order_type, price=new.price, qty=new.qty, stp=new.stp,
            locked=lock.amount))
        return market, int(old["id"]), new_id, command


def replace(intake: Intake, key: OrderKey, new: NewOrder,
            only_status: str | None) -> Replaced | None:
    """Cancel and replace in one matcher command and wait for both outcomes; None when
    this path does not serve the replacement (nothing was recorded)."""
    with intake.db() as conn:
        recorded = record(conn, key, new, only_status)
    if recorded is None:
        return None
    market, old_id, new_id, command = recorded
    symbol = market.spec.symbol

    def settled(order: dict[str, Any]) -> bool:
        return is_closed(order) if order["id"] == old_id else is_matched(order)

    with order_intake.watch(intake, [old_id, new_id]) as notice:
        order_intake.publish(intake, [command])
        old, placed = order_intake.wait_for(intake, notice, key.user_id, symbol,
                                            [old_id, new_id], settled)
    if not is_closed(old) or not is_matched(placed):
        raise backend_timeout()
    return Replaced(market, old, new_id, placed)
