"""Cancel-replace (Binance's `order/cancelReplace`): cancel an order, then place a new one.

Ordering guarantee: the new order is recorded only once the matcher has applied the
cancel and the old order is closed, so the funds the cancel releases can pay for the
new order, and under STOP_ON_FAILURE a new order never exists beside the old one. The
two are not one matcher command: commands of other users (and other requests of this
one) may be applied between the cancel and the new order, where Binance applies both
in one step; the old order's place in the queue is lost either way.
"""

from __future__ import annotations

from typing import Any

from chalicelib.adapters import orders_repo
from chalicelib.domain.errors import ApiError, ErrorCode
from chalicelib.domain.orders import Market
from chalicelib.service_layer import order_intake, orders
from chalicelib.service_layer.order_intake import Intake, OrderKey, is_closed


def unknown_order() -> ApiError:
    return ApiError(400, ErrorCode.CANCEL_REJECTED, "Unknown order sent.")


def restricted() -> ApiError:
    return ApiError(400, ErrorCode.CANCEL_REJECTED,
                    "Order was not canceled due to cancel restrictions.")


def backend_timeout() -> ApiError:
    return ApiError(503, ErrorCode.BACKEND_TIMEOUT,
                    "Timeout waiting for response from backend server. Send status unknown;"
                    " execution status unknown.")


def cancel(intake: Intake, key: OrderKey,
           only_status: str | None) -> tuple[Market, dict[str, Any]]:
    """Cancel the order and wait until the matcher has closed it: the market and the
    cancelled order, or -2011 when it was not open (or not in ``only_status``) or
    filled before the cancel reached it."""
    with intake.db() as conn:
        market = orders.load_market(conn, key.symbol)
        order = orders_repo.find_order(
            conn, key.user_id, market.spec.symbol, order_id=key.order_id,
            client_order_id=key.client_order_id)
        if order is None or is_closed(order):
            raise unknown_order()
        if only_status is not None and order["status"] != only_status:
            raise restricted()
        command = orders.request_cancel(conn, key.user_id, market.spec.symbol, order["id"])
    with order_intake.watch(intake, [order["id"]]) as notice:
        order_intake.publish(intake, [command])
        [final] = order_intake.wait_for(intake, notice, key.user_id, market.spec.symbol,
                                        [order["id"]], is_closed)
    if not is_closed(final):
        # The cancel is committed and will apply; what follows cannot be decided yet.
        raise backend_timeout()
    if final["status"] != "CANCELED":
        raise unknown_order()
    return market, final
