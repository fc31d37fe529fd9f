"""Binance spot order endpoints: place, test, cancel, cancel-all, query, trades."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Any, TypeVar

from chalicelib.domain.errors import ApiError, ErrorCode, malformed
from chalicelib.domain.money import parse_units
from chalicelib.domain.order_commands import OrderCommand
from chalicelib.domain.orders import OrderType, SelfTradePrevention, Side, TimeInForce
from chalicelib.entrypoints.http import order_presenters as shapes
from chalicelib.entrypoints.http.middleware import ApiBlueprint
from chalicelib.entrypoints.http.requests import key_owner
from chalicelib.entrypoints.http.services import services
from chalicelib.service_layer import Conn, orders
from chalicelib.service_layer.api_keys import KeyOwner

routes = ApiBlueprint(__name__)
E = TypeVar("E", bound=StrEnum)
CLIENT_ORDER_ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.:/_-")
DEFAULT_STP = SelfTradePrevention.EXPIRE_MAKER


def choice(params: dict[str, str], name: str, enum: type[E], code: ErrorCode, what: str) -> E:
    value = params.get(name)
    if value is None or value == "":
        raise malformed(name, "was not sent, was empty/null, or malformed")
    try:
        return enum(value)
    except ValueError as exc:
        raise ApiError(400, code, f"Invalid {what}.") from exc


def client_order_id(params: dict[str, str]) -> str:
    given = params.get("newClientOrderId")
    if given is None:
        return f"x-{secrets.token_hex(10)}"
    if not 1 <= len(given) <= 36 or not set(given) <= CLIENT_ORDER_ID_CHARS:
        raise malformed("newClientOrderId")
    return given


def amount(params: dict[str, str], name: str, scale: int, *, required: bool) -> int:
    value = params.get(name)
    if not value:
        if required:
            raise malformed(name, "was not sent, was empty/null, or malformed")
        return 0
    units = parse_units(value, scale, param=name)
    if units <= 0:
        raise malformed(name, "must be greater than zero")
    return units


def parse_new_order(owner: KeyOwner, params: dict[str, str],
                    market: orders.Market) -> orders.NewOrder:
    side = choice(params, "side", Side, ErrorCode.INVALID_SIDE, "side")
    order_type = choice(params, "type", OrderType, ErrorCode.INVALID_ORDER_TYPE, "orderType")
    limit_like = order_type is not OrderType.MARKET
    tif = None
    if order_type is OrderType.LIMIT:
        tif = choice(params, "timeInForce", TimeInForce, ErrorCode.INVALID_TIME_IN_FORCE,
                     "timeInForce")
    qty = amount(params, "quantity", market.base_scale,
                 required=limit_like or not params.get("quoteOrderQty"))
    quote_qty = 0 if limit_like else amount(params, "quoteOrderQty", market.quote_scale,
                                            required=False)
    if qty and quote_qty:
        raise ApiError(400, ErrorCode.PARAM_NOT_REQUIRED,
                       "Parameter 'quoteOrderQty' sent when not required.")
    price = amount(params, "price", market.quote_scale, required=limit_like)
    if price and not limit_like:
        raise ApiError(400, ErrorCode.PARAM_NOT_REQUIRED,
                       "Parameter 'price' sent when not required.")
    stp = (choice(params, "selfTradePreventionMode", SelfTradePrevention,
                  ErrorCode.MANDATORY_PARAM_EMPTY_OR_MALFORMED, "selfTradePreventionMode")
           if params.get("selfTradePreventionMode") else DEFAULT_STP)
    return orders.NewOrder(owner.user_id, market.spec.symbol, client_order_id(params), side,
                           order_type, tif, price, qty, quote_qty, stp)


def symbol_of(params: dict[str, str]) -> str:
    symbol = params.get("symbol", "")
    if not symbol:
        raise malformed("symbol", "was not sent, was empty/null, or malformed")
    return symbol.upper()


def publish(commands: list[OrderCommand]) -> None:
    """Hand the commands to Kafka; ACK means the broker has them durably."""
    svc = services()
    delivered = svc.publisher.publish(commands)
    if delivered:
        with svc.db() as conn:
            orders.mark_published(conn, delivered)
    if len(delivered) < len(commands):
        # The command is committed: the sweeper publishes it, and it applies once.
        raise ApiError(503, ErrorCode.BACKEND_TIMEOUT,
                       "Timeout waiting for response from backend server. Send status unknown;"
                       " execution status unknown.")


def wait_for(user_id: int, market: str, order_id: int,
             settled: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The order once the matcher has settled it as `settled` says, or as it is when
    the configured wait runs out."""
    svc = services()
    deadline = time.monotonic() + svc.settings.order_result_wait_ms / 1000
    while True:
        with svc.db() as conn:
            order = orders.find_order(conn, user_id, market, order_id=order_id)
        if settled(order) or time.monotonic() >= deadline:
            return order
        time.sleep(0.01)


def matched(order: dict[str, Any]) -> bool:
    return order["accepted_seq"] is not None or order["status"] not in orders.OPEN_STATUSES


def closed(order: dict[str, Any]) -> bool:
    return order["status"] not in orders.OPEN_STATUSES


@routes.route("/api/v3/order/test", methods=["POST"])
def test_order() -> dict[str, object]:
    owner, signed = key_owner(routes.current_request, "TRADE")
    params = signed.params()
    with services().db() as conn:
        market = orders.load_market(conn, symbol_of(params))
        orders.check_filters(market, parse_new_order(owner, params, market))
    return {}


@routes.route("/api/v3/order", methods=["POST"])
def place() -> dict[str, object]:
    owner, signed = key_owner(routes.current_request, "TRADE")
    params = signed.params()
    svc = services()
    with svc.db() as conn:
        market = orders.load_market(conn, symbol_of(params))
        new_order = parse_new_order(owner, params, market)
        order_id, command = orders.place_order(conn, new_order)
    publish([command])
    default = "ACK" if new_order.order_type is OrderType.LIMIT_MAKER else "FULL"
    response_type = params.get("newOrderRespType", default)
    if response_type not in ("ACK", "RESULT", "FULL"):
        raise malformed("newOrderRespType")
    if response_type == "ACK":
        return shapes.ack(market, new_order.client_order_id, order_id, signed.now_ms)
    order = wait_for(owner.user_id, market.spec.symbol, order_id, matched)
    result = shapes.result(market, order, signed.now_ms)
    if response_type == "FULL":
        with svc.db() as conn:
            fills = orders.user_trades(conn, owner.user_id, market.spec.symbol,
                                       order_id=order_id)
        result["fills"] = [shapes.fill(market, trade) for trade in fills]
    return result


def order_ref(params: dict[str, str]) -> dict[str, Any]:
    if params.get("orderId"):
        if not params["orderId"].isdigit():
            raise malformed("orderId")
        return {"order_id": int(params["orderId"])}
    if params.get("origClientOrderId"):
        return {"client_order_id": params["origClientOrderId"]}
    raise malformed("orderId", "or 'origClientOrderId' must be sent")


def open_order(conn: Conn, owner: KeyOwner, params: dict[str, str],
               if_closed: ApiError) -> tuple[orders.Market, dict[str, Any]]:
    """The market and the caller's open order that the request names."""
    market = orders.load_market(conn, symbol_of(params))
    order = orders.find_order(conn, owner.user_id, market.spec.symbol, **order_ref(params))
    if closed(order):
        raise if_closed
    return market, order


@routes.route("/api/v3/order", methods=["DELETE"])
def cancel() -> dict[str, object]:
    owner, signed = key_owner(routes.current_request, "TRADE")
    params = signed.params()
    with services().db() as conn:
        market, order = open_order(conn, owner, params, ApiError(
            400, ErrorCode.CANCEL_REJECTED, "Unknown order sent."))
        command = orders.request_cancel(conn, owner.user_id, market.spec.symbol, order["id"])
    publish([command])
    final = wait_for(owner.user_id, market.spec.symbol, order["id"], closed)
    return shapes.cancelled(market, final, params.get("newClientOrderId"))


@routes.route("/api/v3/order/amend/keepPriority", methods=["PUT"])
def amend_keep_priority() -> dict[str, object]:
    owner, signed = key_owner(routes.current_request, "TRADE")
    params = signed.params()
    with services().db() as conn:
        market, order = open_order(conn, owner, params, ApiError(
            400, ErrorCode.NO_SUCH_ORDER, "Order does not exist."))
        new_qty = amount(params, "newQty", market.base_scale, required=True)
        command = orders.request_amend(conn, owner.user_id, market, order, new_qty)
    publish([command])
    amended = wait_for(owner.user_id, market.spec.symbol, order["id"],
                       lambda o: o["quantity"] is not None and int(o["quantity"]) <= new_qty)
    return {"transactTime": signed.now_ms, "executionId": command.command_id,
            "amendedOrder": shapes.core(market, amended)}


@routes.route("/api/v3/openOrders", methods=["DELETE"])
def cancel_all() -> list[dict[str, object]]:
    owner, signed = key_owner(routes.current_request, "TRADE")
    params = signed.params()
    svc = services()
    with svc.db() as conn:
        market = orders.load_market(conn, symbol_of(params))
        open_orders = orders.list_orders(conn, owner.user_id, market.spec.symbol,
                                         open_only=True)
        if not open_orders:
            raise ApiError(400, ErrorCode.CANCEL_REJECTED, "Unknown order sent.")
        command = orders.request_cancel_all(conn, owner.user_id, market.spec.symbol)
    publish([command])
    return [shapes.cancelled(market, wait_for(owner.user_id, market.spec.symbol, o["id"],
                                              closed), None) for o in open_orders]


@routes.route("/api/v3/order", methods=["GET"])
def query_order() -> dict[str, object]:
    owner, signed = key_owner(routes.current_request, "READ")
    params = signed.params()
    with services().db() as conn:
        market = orders.load_market(conn, symbol_of(params))
        order = orders.find_order(conn, owner.user_id, market.spec.symbol, **order_ref(params))
    return shapes.order(market, order)


@routes.route("/api/v3/openOrders", methods=["GET"])
def open_orders() -> list[dict[str, object]]:
    return list_orders(open_only=True)


@routes.route("/api/v3/allOrders", methods=["GET"])
def all_orders() -> list[dict[str, object]]:
    return list_orders(open_only=False)


def list_orders(*, open_only: bool) -> list[dict[str, object]]:
    owner, signed = key_owner(routes.current_request, "READ")
    params = signed.params()
    limit = bounded_limit(params)
    from_id = int(params["orderId"]) if params.get("orderId", "").isdigit() else None
    with services().db() as conn:
        market = orders.load_market(conn, symbol_of(params))
        found = orders.list_orders(conn, owner.user_id, market.spec.symbol,
                                   open_only=open_only, limit=limit, from_id=from_id)
    return [shapes.order(market, o) for o in found]


def bounded_limit(params: dict[str, str]) -> int:
    raw = params.get("limit", "500")
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise malformed("limit", "must be between 1 and 1000")
    return int(raw)


@routes.route("/api/v3/myTrades", methods=["GET"])
def my_trades() -> list[dict[str, object]]:
    owner, signed = key_owner(routes.current_request, "READ")
    params = signed.params()
    order_id = int(params["orderId"]) if params.get("orderId", "").isdigit() else None
    from_id = int(params["fromId"]) if params.get("fromId", "").isdigit() else None
    with services().db() as conn:
        market = orders.load_market(conn, symbol_of(params))
        trades = orders.user_trades(conn, owner.user_id, market.spec.symbol, order_id=order_id,
                                    from_id=from_id, limit=bounded_limit(params))
    return [shapes.my_trade(market, t) for t in trades]
