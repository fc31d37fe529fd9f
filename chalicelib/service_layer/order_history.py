"""A user's orders and trades as Binance's history routes page them (`allOrders`,
`myTrades`, `openOrders` over every market).

Binance answers the newest ``limit`` rows unless the caller starts from an id
(``orderId`` / ``fromId``) or a ``startTime``; a time window spans at most 24 hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.adapters import order_history_repo
from chalicelib.domain.errors import ApiError, ErrorCode, bad_request
from chalicelib.domain.orders import Market
from chalicelib.service_layer import Conn, orders

DAY_MS = 24 * 60 * 60 * 1000


@dataclass(frozen=True)
class Page:
    """Where a history request starts and how many rows it wants."""

    from_id: int | None
    start_ms: int | None
    end_ms: int | None
    limit: int

    def __post_init__(self) -> None:
        if self.start_ms is not None and self.end_ms is not None:
            if self.start_ms > self.end_ms:
                raise bad_request(ErrorCode.START_TIME_GREATER_THAN_END_TIME,
                                  "Start time is greater than end time.")
            if self.end_ms - self.start_ms > DAY_MS:
                raise bad_request(ErrorCode.TIME_SPAN_TOO_LONG,
                                  "More than 24 hours between startTime and endTime.")


def invalid_combination() -> ApiError:
    return bad_request(ErrorCode.INVALID_PARAM_COMBINATION,
                       "Combination of optional parameters invalid.")


def all_orders(conn: Conn, user_id: int, symbol: str,
               page: Page) -> tuple[Market, list[dict[str, Any]]]:
    market = orders.load_market(conn, symbol)
    return market, order_history_repo.orders_page(
        conn, user_id, market.spec.symbol, from_id=page.from_id, start_ms=page.start_ms,
        end_ms=page.end_ms, limit=page.limit)


def my_trades(conn: Conn, user_id: int, symbol: str, order_id: int | None,
              page: Page) -> tuple[Market, list[dict[str, Any]]]:
    """Binance refuses ``fromId`` with a time window."""
    if page.from_id is not None and (page.start_ms is not None or page.end_ms is not None):
        raise invalid_combination()
    market = orders.load_market(conn, symbol)
    return market, order_history_repo.trades_page(
        conn, user_id, market.spec.symbol, order_id=order_id, from_id=page.from_id,
        start_ms=page.start_ms, end_ms=page.end_ms, limit=page.limit)


def open_orders(conn: Conn, user_id: int,
                symbol: str | None) -> list[tuple[Market, dict[str, Any]]]:
    """The user's open orders (every one: Binance does not page them), in one market or
    in all, each with its market."""
    markets = {} if symbol is None else {symbol: orders.load_market(conn, symbol)}
    found = order_history_repo.open_orders(conn, user_id, symbol)
    for name in {o["market"] for o in found} - markets.keys():
        markets[name] = orders.load_market(conn, name)
    return [(markets[order["market"]], order) for order in found]
