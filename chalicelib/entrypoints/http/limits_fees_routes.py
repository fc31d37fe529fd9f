"""Binance's account routes about order limits and fees: `GET /api/v3/rateLimit/order`
(the account's new orders in each ORDERS window) and `GET /api/v3/account/commission`
(the rates the account pays in a market, its fee tier applied)."""

from __future__ import annotations

from chalicelib.entrypoints.http import commission_presenters
from chalicelib.entrypoints.http.binance_models import parse_params
from chalicelib.entrypoints.http.exchange_app import ApiBlueprint
from chalicelib.entrypoints.http.orders_more_models import CommissionParams, RateLimitOrderParams
from chalicelib.service_layer import fees, order_limits, orders

routes = ApiBlueprint(__name__)


@routes.route("/api/v3/rateLimit/order", methods=["GET"])
def order_rate_limits() -> list[dict[str, object]]:
    owner, signed = routes.key_owner("READ")
    parse_params(RateLimitOrderParams, signed.params())
    return order_limits.current_counts(routes.services.order_counts,
                                       owner.user_id).rate_limits()


@routes.route("/api/v3/account/commission", methods=["GET"])
def account_commission() -> dict[str, object]:
    owner, signed = routes.key_owner("READ")
    params = parse_params(CommissionParams, signed.params())
    with routes.services.db() as conn:
        market = orders.load_market(conn, params.symbol)
        rates = fees.market_rates(conn, owner.user_id, market)
    return commission_presenters.account_commission(market.spec.symbol, rates)
