"""Order list use cases behind Binance's orderList routes: place an OCO, cancel a list,
read lists. Like ``order_intake``: record in one transaction, publish once committed,
then (when asked) wait for the matcher's outcome of every order of the list."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.adapters import order_lists_repo
from chalicelib.domain.errors import ApiError, ErrorCode
from chalicelib.domain.orders import CommandKind, Market
from chalicelib.service_layer import Conn, order_lists, orders
from chalicelib.service_layer.order_history import Page, invalid_combination
from chalicelib.service_layer.order_intake import (
    Intake,
    is_closed,
    is_matched,
    publish,
    wait_for,
    watch,
)
from chalicelib.service_layer.order_lists import NewOco, NewOto, PlacedList


@dataclass(frozen=True)
class ListKey:
    """One of a user's lists in a market, by id or else by its client id."""

    user_id: int
    symbol: str
    list_id: int | None
    list_client_order_id: str | None


def place_oco(intake: Intake, symbol: str, describe: Callable[[Market], NewOco],
              *, wait: bool) -> tuple[Market, dict[str, Any]]:
    """The market and the list once placed (with its orders as the matcher left them
    when ``wait``)."""
    return _place(intake, symbol, lambda conn, market: order_lists.place_oco(
        conn, describe(market)), wait=wait)


def place_oto(intake: Intake, symbol: str, describe: Callable[[Market], NewOto],
              *, wait: bool) -> tuple[Market, dict[str, Any]]:
    """As ``place_oco``; only the working order is waited for (the pending ones wait
    for it to fill)."""
    return _place(intake, symbol, lambda conn, market: order_lists.place_oto(
        conn, describe(market)), wait=wait)


def _place(intake: Intake, symbol: str, record: Callable[[Conn, Market], PlacedList],
           *, wait: bool) -> tuple[Market, dict[str, Any]]:
    with intake.db() as conn:
        market = orders.load_market(conn, symbol)
        placed = record(conn, market)
    user_id = placed.command.user_id
    if not wait:
        publish(intake, [placed.command])
    else:
        placed_now = placed.order_ids if placed.command.kind is CommandKind.PLACE_OCO \
            else [placed.command.order_id]
        with watch(intake, placed_now) as notice:
            publish(intake, [placed.command])
            wait_for(intake, notice, user_id, symbol, placed_now, is_matched,
                     read_first=notice is None)
    with intake.db() as conn:
        return market, order_lists.find_list(conn, user_id, list_id=placed.list_id,
                                             list_client_order_id=None)


def cancel_list(intake: Intake, key: ListKey) -> tuple[Market, dict[str, Any]]:
    """Cancel every open order of the list (one cancel: the engine ends both legs of an
    OCO); the market and the list once its orders are closed."""
    with intake.db() as conn:
        market = orders.load_market(conn, key.symbol)
        found = _find(conn, key, if_missing=unknown_list(ErrorCode.CANCEL_REJECTED))
        open_orders = [o for o in found["orders"] if not is_closed(o)]
        if not open_orders:
            raise unknown_list(ErrorCode.CANCEL_REJECTED)
        command = orders.request_cancel(conn, key.user_id, key.symbol, open_orders[0]["id"])
    order_ids = [order["id"] for order in open_orders]
    with watch(intake, order_ids) as notice:
        publish(intake, [command])
        wait_for(intake, notice, key.user_id, key.symbol, order_ids, is_closed)
    with intake.db() as conn:
        return market, order_lists.with_orders(conn, [found])[0]


def query_list(conn: Conn, user_id: int, list_id: int | None,
               list_client_order_id: str | None) -> dict[str, Any]:
    found = order_lists_repo.find_list(conn, user_id, list_id=list_id,
                                       list_client_order_id=list_client_order_id)
    if found is None:
        raise unknown_list(ErrorCode.NO_SUCH_ORDER)
    return order_lists.with_orders(conn, [found])[0]


def all_lists(conn: Conn, user_id: int, page: Page) -> list[dict[str, Any]]:
    """The user's lists as Binance's allOrderList pages them (as ``allOrders``: fromId
    not with a time, a window at most 24 hours)."""
    if page.from_id is not None and (page.start_ms is not None or page.end_ms is not None):
        raise invalid_combination()
    return order_lists.with_orders(conn, order_lists_repo.lists_in(
        conn, user_id, from_id=page.from_id, start_ms=page.start_ms, end_ms=page.end_ms,
        limit=page.limit))


def open_lists(conn: Conn, user_id: int) -> list[dict[str, Any]]:
    return order_lists.with_orders(conn, order_lists_repo.open_lists(conn, user_id))


def _find(conn: Conn, key: ListKey, if_missing: ApiError) -> dict[str, Any]:
    found = order_lists_repo.find_list(conn, key.user_id, list_id=key.list_id,
                                       list_client_order_id=key.list_client_order_id)
    if found is None or found["market"] != key.symbol:
        raise if_missing
    return order_lists.with_orders(conn, [found])[0]


def unknown_list(code: ErrorCode) -> ApiError:
    return ApiError(400, code, "Order list does not exist.")
