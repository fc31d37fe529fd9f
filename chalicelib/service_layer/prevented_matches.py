"""`GET /api/v3/myPreventedMatches`: the matches self-trade prevention stopped.

Binance takes a symbol with either one ``preventedMatchId``, or an ``orderId`` (the
order as taker or maker) optionally paged by ``fromPreventedMatchId`` and ``limit``;
any other combination is refused (-1128).
"""

from __future__ import annotations

from typing import Any

from chalicelib.adapters import prevented_matches_repo
from chalicelib.domain.orders import Market
from chalicelib.service_layer import Conn, orders
from chalicelib.service_layer.order_history import invalid_combination


def my_prevented_matches(
    conn: Conn, user_id: int, symbol: str, *, prevented_match_id: int | None,
    order_id: int | None, from_id: int | None, limit: int | None,
) -> tuple[Market, list[dict[str, Any]]]:
    by_id = prevented_match_id is not None
    if by_id == (order_id is not None) or (by_id and (from_id is not None or limit)):
        raise invalid_combination()
    market = orders.load_market(conn, symbol)
    return market, prevented_matches_repo.prevented_matches(
        conn, user_id, market.spec.symbol, prevented_match_id=prevented_match_id,
        order_id=order_id, from_id=from_id, limit=limit or 500)
