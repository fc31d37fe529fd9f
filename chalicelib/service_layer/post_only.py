"""LIMIT_MAKER orders that would take, refused at intake as Binance refuses them (-2010).

The best prices come from the market-data cache, which the matcher updates after each
batch it commits: an order that crosses a price the matcher has just published is
refused here, before anything is locked. What remains is the race with a batch still
being settled (a resting order the cache does not show yet); there the engine refuses
the order itself (REJECTED_POST_ONLY: the order ends REJECTED and its funds are released
in the same transaction), so a LIMIT_MAKER order never takes.
"""

from __future__ import annotations

from chalicelib.domain.errors import ApiError, ErrorCode
from chalicelib.domain.orders import NewOrder, OrderType, Side
from chalicelib.service_layer.ports import MarketCache


def would_take() -> ApiError:
    return ApiError(400, ErrorCode.NEW_ORDER_REJECTED, "Order would immediately match and take.")


def refuse_taking_maker(cache: MarketCache, order: NewOrder) -> NewOrder:
    """The order, unless it is a LIMIT_MAKER that crosses the best opposite price."""
    if order.order_type is not OrderType.LIMIT_MAKER:
        return order
    top = cache.top_of_book(order.market)
    if top is None:
        return order
    if order.side is Side.BUY and 0 < top.ask_price <= order.price:
        raise would_take()
    if order.side is Side.SELL and 0 < order.price <= top.bid_price:
        raise would_take()
    return order
