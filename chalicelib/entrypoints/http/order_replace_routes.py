"""`POST /api/v3/order/cancelReplace`: cancel an order and place a new one, answering
as Binance does: both halves' outcomes, and -2021 (409, one half failed) or -2022
(400, nothing done) with the same data when not both succeeded.

The order of the halves and what it guarantees is ``service_layer.cancel_replace``'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalice.app import Response

from chalicelib.domain.errors import ApiError, ErrorCode
from chalicelib.entrypoints.http import order_presenters as shapes
from chalicelib.entrypoints.http import order_routes
from chalicelib.entrypoints.http.binance_models import parse_params
from chalicelib.entrypoints.http.exchange_app import ApiBlueprint
from chalicelib.entrypoints.http.orders_more_models import (
    CancelReplaceMode,
    CancelReplaceParams,
    CancelRestriction,
    RateLimitExceededMode,
)
from chalicelib.service_layer import cancel_replace, order_intake, order_limits, orders
from chalicelib.service_layer.api_keys import KeyOwner

routes = ApiBlueprint(__name__)
ONLY_STATUS = {CancelRestriction.ONLY_NEW: "NEW",
               CancelRestriction.ONLY_PARTIALLY_FILLED: "PARTIALLY_FILLED"}


@dataclass(eq=False)
class CancelReplaceError(ApiError):
    """-2021 / -2022: Binance's error with both halves' outcomes in ``data``."""

    data: dict[str, Any] | None = None
    extra_headers: dict[str, str] | None = None

    def body(self) -> dict[str, object]:
        return {**super().body(), "data": self.data}

    def headers(self) -> dict[str, str]:
        return {**super().headers(), **(self.extra_headers or {})}


def refusal(error: ApiError) -> dict[str, object]:
    return error.body()


def client_error(call: Any) -> tuple[dict[str, object] | None, ApiError | None]:
    """What ``call`` answered, or the client error (4xx) it was refused with; errors
    of the exchange itself (5xx) are not one half's failure and propagate."""
    try:
        return call(), None
    except ApiError as error:
        if error.status >= 500:
            raise
        return None, error


@routes.route("/api/v3/order/cancelReplace", methods=["POST"])
def cancel_replace_order() -> Response:
    owner, signed = routes.key_owner("TRADE")
    params = parse_params(CancelReplaceParams, signed.params())
    # As Binance: the symbol, the new order's parameters and its filters are checked
    # before anything is cancelled; a refusal there is a plain error and changes nothing.
    with routes.services.db() as conn:
        market = orders.load_market(conn, params.symbol)
    orders.check_filters(market, order_routes.new_order(owner, params, market))
    over_limit: ApiError | None = None
    try:
        counts = order_limits.count_new_order(routes.services.order_counts, owner.user_id)
    except order_limits.TooManyOrdersError as over:
        if params.order_rate_limit_exceeded_mode is not RateLimitExceededMode.CANCEL_ONLY:
            raise
        counts, over_limit = over.counts, over
    cancelled, cancel_error = client_error(lambda: cancel(owner, params, signed.now_ms))
    stop = params.cancel_replace_mode is CancelReplaceMode.STOP_ON_FAILURE
    if cancel_error is not None and stop:
        placed, place_error, new_result = None, None, "NOT_ATTEMPTED"
    elif over_limit is not None:
        placed, place_error, new_result = None, over_limit, "FAILURE"
    else:
        placed, place_error = client_error(
            lambda: order_routes.place_order(owner, params, signed.now_ms))
        new_result = "FAILURE" if place_error else "SUCCESS"
    data = {"cancelResult": "FAILURE" if cancel_error else "SUCCESS",
            "newOrderResult": new_result,
            "cancelResponse": refusal(cancel_error) if cancel_error else cancelled,
            "newOrderResponse": refusal(place_error) if place_error else placed}
    if cancel_error is None and new_result == "SUCCESS":
        return order_routes.counted(data, counts)
    if cancel_error is None or new_result == "SUCCESS":
        raise CancelReplaceError(409, ErrorCode.CANCEL_REPLACE_PARTIALLY_FAILED,
                                 "Order cancel-replace partially failed.", data=data,
                                 extra_headers=counts.headers())
    raise CancelReplaceError(400, ErrorCode.CANCEL_REPLACE_FAILED,
                             "Order cancel-replace failed.", data=data,
                             extra_headers=counts.headers())


def cancel(owner: KeyOwner, params: CancelReplaceParams, now_ms: int) -> dict[str, object]:
    key = order_intake.OrderKey(owner.user_id, params.symbol, params.cancel_order_id,
                                params.cancel_orig_client_order_id)
    only = ONLY_STATUS[params.cancel_restrictions] if params.cancel_restrictions else None
    market, final = cancel_replace.cancel(routes.services.intake, key, only)
    return shapes.cancelled(market, final, params.cancel_new_client_order_id, now_ms)
