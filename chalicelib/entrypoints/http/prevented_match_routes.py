"""`GET /api/v3/myPreventedMatches`: the orders self-trade prevention expired, with the
match it prevented, in Binance's shape."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from chalicelib.domain.orders import Market
from chalicelib.entrypoints.http.binance_models import (
    Id,
    Limit,
    SignedParams,
    Symbol,
    parse_params,
)
from chalicelib.entrypoints.http.exchange_app import ApiBlueprint
from chalicelib.entrypoints.http.order_presenters import millis, price, qty
from chalicelib.service_layer import prevented_matches

routes = ApiBlueprint(__name__)

NO_TRADE_GROUP = -1
"""``tradeGroupId``: prevention here acts within one account; there are no trade groups."""


class PreventedMatchesParams(SignedParams):
    """`GET /api/v3/myPreventedMatches`: ``preventedMatchId``, or ``orderId`` (with
    ``fromPreventedMatchId`` and ``limit``)."""

    symbol: Symbol
    prevented_match_id: Id | None = Field(default=None, description="This prevented match.")
    order_id: Id | None = Field(default=None,
                                description="The prevented matches of this order.")
    from_prevented_match_id: Id | None = Field(
        default=None, description="With orderId: from this prevented match on.")
    limit: Limit | None = Field(default=None, description="With orderId: default 500.")


@routes.route("/api/v3/myPreventedMatches", methods=["GET"])
def my_prevented_matches() -> list[dict[str, object]]:
    owner, signed = routes.key_owner("READ")
    params = parse_params(PreventedMatchesParams, signed.params())
    with routes.services.db() as conn:
        market, found = prevented_matches.my_prevented_matches(
            conn, owner.user_id, params.symbol, prevented_match_id=params.prevented_match_id,
            order_id=params.order_id, from_id=params.from_prevented_match_id,
            limit=params.limit)
    return [prevented_match(market, row) for row in found]


def prevented_match(market: Market, row: dict[str, Any]) -> dict[str, object]:
    symbol = market.spec.symbol
    return {"symbol": symbol, "preventedMatchId": row["id"],
            "takerOrderId": row["taker_order_id"], "makerSymbol": symbol,
            "makerOrderId": row["maker_order_id"], "tradeGroupId": NO_TRADE_GROUP,
            "selfTradePreventionMode": row["mode"], "price": price(market, row["price"]),
            "makerPreventedQuantity": qty(market, row["maker_prevented_quantity"]),
            "transactTime": millis(row["prevented_at"])}
