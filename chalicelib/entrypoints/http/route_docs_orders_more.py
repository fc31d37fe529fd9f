"""The OpenAPI table's rows for cancel-replace, order limits and fees."""

from __future__ import annotations

from chalicelib.entrypoints.http import (
    admin_fee_routes,
    limits_fees_routes,
    order_replace_routes,
    order_routes,
)
from chalicelib.entrypoints.http import fee_tier_models as tiers
from chalicelib.entrypoints.http import orders_more_models as models
from chalicelib.entrypoints.http.route_doc_kinds import (
    ACCOUNT,
    ADMIN,
    NUMERIC_ID,
    Auth,
    Param,
    RouteDoc,
    signed,
    web_app,
)

ROUTES: tuple[RouteDoc, ...] = (
    signed("POST", "/api/v3/order/test", order_routes.test_order,
           "Check an order without placing it (TRADE); computeCommissionRates=true answers "
           "its commission rates.", models.TestOrderParams),
    signed("POST", "/api/v3/order/cancelReplace", order_replace_routes.cancel_replace_order,
           "Cancel an order, then place a new one (TRADE).", models.CancelReplaceParams),
    signed("GET", "/api/v3/rateLimit/order", limits_fees_routes.order_rate_limits,
           "The account's new orders in each ORDERS window (READ).",
           models.RateLimitOrderParams, ACCOUNT),
    signed("GET", "/api/v3/account/commission", limits_fees_routes.account_commission,
           "The commission rates the account pays in a market (READ).",
           models.CommissionParams, ACCOUNT),
    web_app("GET", "/v1/admin/fee-tiers", admin_fee_routes.list_fee_tiers,
            "The fee tiers.", ADMIN, Auth.ADMIN),
    web_app("PUT", "/v1/admin/fee-tiers", admin_fee_routes.set_fee_tiers,
            "Replace the fee tiers (rates from a 30-day volume).", ADMIN, Auth.ADMIN,
            body=tiers.FeeTiers),
    web_app("PUT", "/v1/admin/users/{user_id}/fee-tier", admin_fee_routes.pin_fee_tier,
            "Pin a user to a fee tier (null: their volume decides).", ADMIN, Auth.ADMIN,
            body=tiers.UserFeeTier,
            path_params=(Param("user_id", NUMERIC_ID, "The user's id."),)),
    web_app("POST", "/v1/admin/fee-tiers/recompute", admin_fee_routes.recompute_fee_tiers,
            "Assign every unpinned user the tier their 30-day volume reaches.", ADMIN,
            Auth.ADMIN),
)
