"""The OpenAPI table's rows for cancel-replace, order limits and fees."""

from __future__ import annotations

from chalicelib.entrypoints.http import limits_fees_routes, order_replace_routes
from chalicelib.entrypoints.http import orders_more_models as models
from chalicelib.entrypoints.http.route_doc_kinds import ACCOUNT, RouteDoc, signed

ROUTES: tuple[RouteDoc, ...] = (
    signed("POST", "/api/v3/order/cancelReplace", order_replace_routes.cancel_replace_order,
           "Cancel an order, then place a new one (TRADE).", models.CancelReplaceParams),
    signed("GET", "/api/v3/rateLimit/order", limits_fees_routes.order_rate_limits,
           "The account's new orders in each ORDERS window (READ).",
           models.RateLimitOrderParams, ACCOUNT),
)
