"""The OpenAPI table's rows for cancel-replace, order limits and fees."""

from __future__ import annotations

from chalicelib.entrypoints.http import limits_fees_routes
from chalicelib.entrypoints.http import orders_more_models as models
from chalicelib.entrypoints.http.route_doc_kinds import ACCOUNT, RouteDoc, signed

ROUTES: tuple[RouteDoc, ...] = (
    signed("GET", "/api/v3/rateLimit/order", limits_fees_routes.order_rate_limits,
           "The account's new orders in each ORDERS window (READ).",
           models.RateLimitOrderParams, ACCOUNT),
)
