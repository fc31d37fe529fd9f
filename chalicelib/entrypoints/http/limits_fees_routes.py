"""Binance's account routes about order limits and fees: `GET /api/v3/rateLimit/order`
(the account's new orders in each ORDERS window)."""

from __future__ import annotations

from chalicelib.entrypoints.http.binance_models import parse_params
from chalicelib.entrypoints.http.exchange_app import ApiBlueprint
from chalicelib.entrypoints.http.orders_more_models import RateLimitOrderParams
from chalicelib.service_layer import order_limits

routes = ApiBlueprint(__name__)


@routes.route("/api/v3/rateLimit/order", methods=["GET"])
def order_rate_limits() -> list[dict[str, object]]:
    owner, signed = routes.key_owner("READ")
    parse_params(RateLimitOrderParams, signed.params())
    return order_limits.current_counts(routes.services.order_counts,
                                       owner.user_id).rate_limits()
