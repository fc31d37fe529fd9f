"""`POST /api/v3/order/cancelReplace`: cancel an order and place a new one, answering
as Binance does: both halves' outcomes, and -2021 (409, one half failed) or -2022
(400, nothing done) with the same data when not both succeeded.

A replacement that changes only a LIMIT or LIMIT_MAKER order's price and quantity under
STOP_ON_FAILURE is one matcher command, as on Binance (``replace_in_one_step``); any
other goes one half after the other, the new order recorded once the matcher has closed
the old one (``cancel_replace``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalice.app import Response

from chalicelib.domain.errors import ApiError, ErrorCode
from chalicelib.domain.orders import Market
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
from chalicelib.service_layer import (
    cancel_replace,
    order_intake,
    order_limits,
    orders,
    post_only,
    replace_in_one_step,
)
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
        counts = routes.count_new_orders(owner.user_id)
    except order_limits.TooManyOrdersError as over:
        if params.order_rate_limit_exceeded_mode is not RateLimitExceededMode.CANCEL_ONLY:
            raise
        counts, over_limit = over.counts, over
    stop = params.cancel_replace_mode is CancelReplaceMode.STOP_ON_FAILURE
    halves = None
    if stop and over_limit is None:
        halves = in_one_step(owner, params, market, signed.now_ms)
    if halves is None:
        halves = one_after_the_other(owner, params, stop, over_limit, signed.now_ms)
    cancel_error, new_result = halves.cancel_error, halves.new_result
    data = halves.data()
    if cancel_error is None and new_result == "SUCCESS":
        return order_routes.counted(data, counts)
    if cancel_error is None or new_result == "SUCCESS":
        raise CancelReplaceError(409, ErrorCode.CANCEL_REPLACE_PARTIALLY_FAILED,
                                 "Order cancel-replace partially failed.", data=data,
                                 extra_headers=counts.headers())
    raise CancelReplaceError(400, ErrorCode.CANCEL_REPLACE_FAILED,
                             "Order cancel-replace failed.", data=data,
                             extra_headers=counts.headers())


@dataclass(frozen=True)
class Halves:
    """What each half did: its answer, or the client error it was refused with."""

    cancelled: dict[str, object] | None
    cancel_error: ApiError | None
    placed: dict[str, object] | None
    place_error: ApiError | None
    new_result: str

    def data(self) -> dict[str, object]:
        return {"cancelResult": "FAILURE" if self.cancel_error else "SUCCESS",
                "newOrderResult": self.new_result,
                "cancelResponse": (refusal(self.cancel_error) if self.cancel_error
                                   else self.cancelled),
                "newOrderResponse": (refusal(self.place_error) if self.place_error
                                     else self.placed)}


def not_attempted(cancel_error: ApiError) -> Halves:
    return Halves(None, cancel_error, None, None, "NOT_ATTEMPTED")


def one_after_the_other(owner: KeyOwner, params: CancelReplaceParams, stop: bool,
                        over_limit: ApiError | None, now_ms: int) -> Halves:
    """The cancel, then (once the matcher has closed the old order) the new order."""
    cancelled, cancel_error = client_error(lambda: cancel(owner, params, now_ms))
    if cancel_error is not None and stop:
        return not_attempted(cancel_error)
    if over_limit is not None:
        return Halves(cancelled, cancel_error, None, over_limit, "FAILURE")
    placed, place_error = client_error(lambda: order_routes.place_order(owner, params, now_ms))
    return Halves(cancelled, cancel_error, placed, place_error,
                  "FAILURE" if place_error else "SUCCESS")


def in_one_step(owner: KeyOwner, params: CancelReplaceParams, market: Market,
                now_ms: int) -> Halves | None:
    """Both halves as one matcher command (``replace_in_one_step``); None when that path
    does not serve this replacement."""
    try:
        new = order_routes.checked_order(owner, params, market)
    except ApiError:
        return None  # the new order's refusal comes after the cancel, one after the other
    response_type = order_routes.response_type_of(params)
    try:
        replaced = replace_in_one_step.replace(routes.services.intake, key_of(owner, params),
                                               new, only_status(params))
    except ApiError as error:
        if error.status >= 500:
            raise
        return not_attempted(error)
    if replaced is None:
        return None
    if replaced.old["status"] != "CANCELED":
        return not_attempted(cancel_replace.unknown_order())
    cancelled = shapes.cancelled(replaced.market, replaced.old,
                                 params.cancel_new_client_order_id, now_ms)
    if replaced.new["status"] == "REJECTED":  # a LIMIT_MAKER the engine refused: it would take
        return Halves(cancelled, None, None, post_only.would_take(), "FAILURE")
    with routes.services.db() as conn:
        fills = orders.user_trades(conn, owner.user_id, market.spec.symbol,
                                   order_id=replaced.new_order_id)
    placement = order_intake.Placement(replaced.market, new, replaced.new_order_id,
                                       replaced.new, fills)
    return Halves(cancelled, None,
                  order_routes.placement_answer(placement, response_type, now_ms), None,
                  "SUCCESS")


def key_of(owner: KeyOwner, params: CancelReplaceParams) -> order_intake.OrderKey:
    return order_intake.OrderKey(owner.user_id, params.symbol, params.cancel_order_id,
                                 params.cancel_orig_client_order_id)


def only_status(params: CancelReplaceParams) -> str | None:
    return ONLY_STATUS[params.cancel_restrictions] if params.cancel_restrictions else None


def cancel(owner: KeyOwner, params: CancelReplaceParams, now_ms: int) -> dict[str, object]:
    market, final = cancel_replace.cancel(routes.services.intake, key_of(owner, params),
                                          only_status(params))
    return shapes.cancelled(market, final, params.cancel_new_client_order_id, now_ms)
