"""The OpenAPI table's rows for order lists (OCO)."""

from __future__ import annotations

from chalicelib.entrypoints.http import order_list_models as models
from chalicelib.entrypoints.http import order_list_routes
from chalicelib.entrypoints.http.route_doc_kinds import ACCOUNT, RouteDoc, signed

ROUTES: tuple[RouteDoc, ...] = (
    signed("POST", "/api/v3/orderList/oco", order_list_routes.place_order_list_oco,
           "Place an OCO list: an above and a below order, the first to work ends the "
           "other (TRADE; counts as two orders).", models.OcoParams),
    signed("POST", "/api/v3/order/oco", order_list_routes.place_legacy_oco,
           "Place an OCO list as Binance's deprecated route names it: a LIMIT_MAKER at "
           "price and a stop at stopPrice (TRADE).", models.LegacyOcoParams),
    signed("POST", "/api/v3/orderList/oto", order_list_routes.place_order_list_oto,
           "Place an OTO list: a working order, and a pending order placed once it fills "
           "(TRADE; counts as two orders).", models.OtoParams),
    signed("POST", "/api/v3/orderList/otoco", order_list_routes.place_order_list_otoco,
           "Place an OTOCO list: a working order, and a pending OCO pair placed once it "
           "fills (TRADE; counts as three orders).", models.OtocoParams),
    signed("DELETE", "/api/v3/orderList", order_list_routes.cancel_order_list,
           "Cancel every open order of a list (TRADE).", models.CancelListParams),
    signed("GET", "/api/v3/orderList", order_list_routes.query_order_list,
           "One of the account's order lists (READ).", models.QueryListParams, ACCOUNT),
    signed("GET", "/api/v3/allOrderList", order_list_routes.all_order_lists,
           "The account's order lists, newest unless fromId or startTime starts them "
           "(READ).", models.AllListsParams, ACCOUNT),
    signed("GET", "/api/v3/openOrderList", order_list_routes.open_order_lists,
           "The account's order lists with an open order (READ).", models.OpenListsParams,
           ACCOUNT),
)
