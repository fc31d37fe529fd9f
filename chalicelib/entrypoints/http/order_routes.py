"""Binance spot order endpoints: place, test, cancel, cancel-all, query, trades.

Each handler parses all of its parameters (``binance_models``) and checks the order
against the market before the service layer reserves anything: a request refused
with a 4xx has locked no funds and published no command.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

from chalicelib.domain.errors import ApiError, ErrorCode, malformed
from chalicelib.domain.money import parse_units
from chalicelib.domain.order_commands import OrderCommand
from chalicelib.domain.orders import OrderType, SelfTradePrevention
from chalicelib.entrypoints.http import order_presenters as shapes
from chalicelib.entrypoints.http.binance_models import (
    AmendOrderParams,
    CancelAllParams,
    CancelOrderParams,
    ListOrdersParams,
    MyTradesParams,
    NewOrderParams,
    OrderRef,
    QueryOrderParams,
    ResponseType,
    parse_params,
)
from chalicelib.entrypoints.http.middleware import ApiBlueprint
from chalicelib.entrypoints.http.requests import key_owner
from chalicelib.entrypoints.http.services import services
from chalicelib.service_layer import Conn, orders
from chalicelib.service_layer.api_keys import KeyOwner

routes = ApiBlueprint(__name__)
DEFAULT_STP = SelfTradePrevention.EXPIRE_MAKER


def not_required(name: str) -> ApiError:
    return ApiError(400, ErrorCode.PARAM_NOT_REQUIRED,
                    f"Parameter '{name}' sent when not required.")


def mandatory(name: str) -> ApiError:
    return malformed(name, "was not sent, was empty/null, or malformed")


def amount(text: str | None, name: str, scale: int) -> int:
    """A positive amount in the asset's smallest units; 0 when not sent."""
    if text is None:
        return 0
    units = parse_units(text, scale, param=name)
    if units <= 0:
        raise malformed(name, "must be greater than zero")
    return units


def check_order_shape(params: NewOrderParams) -> None:
    """Which parameters the order type needs and which it refuses, as Binance has it."""
    limit_like = params.order_type is not OrderType.MARKET
    if params.order_type is OrderType.LIMIT and params.time_in_force is None:
        raise mandatory("timeInForce")
    if params.order_type is not OrderType.LIMIT and params.time_in_force is not None:
        raise not_required("timeInForce")
    if limit_like and params.price is None:
        raise mandatory("price")
    if not limit_like and params.price is not None:
        raise not_required("price")
    if params.quote_order_qty is not None and (limit_like or params.quantity is not None):
        raise not_required("quoteOrderQty")
    if params.quantity is None and params.quote_order_qty is None:
        raise mandatory("quantity")


def new_order(owner: KeyOwner, params: NewOrderParams, market: orders.Market) -> orders.NewOrder:
    """The order the parameters describe, in the market's units; nothing reserved yet."""
    check_order_shape(params)
    return orders.NewOrder(
        owner.user_id, market.spec.symbol,
        params.new_client_order_id or f"x-{secrets.token_hex(10)}", params.side,
        params.order_type, params.time_in_force,
        amount(params.price, "price", market.quote_scale),
        amount(params.quantity, "quantity", market.base_scale),
        amount(params.quote_order_qty, "quoteOrderQty", market.quote_scale),
        params.self_trade_prevention_mode or DEFAULT_STP)


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
    """Everything `POST /api/v3/order` checks, with nothing placed."""
    owner, signed = key_owner(routes.current_request, "TRADE")
    params = parse_params(NewOrderParams, signed.params())
    with services().db() as conn:
        market = orders.load_market(conn, params.symbol)
        orders.check_new_order(conn, market, new_order(owner, params, market))
    return {}


@routes.route("/api/v3/order", methods=["POST"])
def place() -> dict[str, object]:
    owner, signed = key_owner(routes.current_request, "TRADE")
    params = parse_params(NewOrderParams, signed.params())
    svc = services()
    with svc.db() as conn:
        market = orders.load_market(conn, params.symbol)
        order = new_order(owner, params, market)
        order_id, command = orders.place_order(conn, order)
    publish([command])
    response_type = params.new_order_resp_type or (
        ResponseType.ACK if order.order_type is OrderType.LIMIT_MAKER else ResponseType.FULL)
    if response_type is ResponseType.ACK:
        return shapes.ack(market, order.client_order_id, order_id, signed.now_ms)
    placed = wait_for(owner.user_id, market.spec.symbol, order_id, matched)
    result = shapes.result(market, placed, signed.now_ms)
    if response_type is ResponseType.FULL:
        with svc.db() as conn:
            fills = orders.user_trades(conn, owner.user_id, market.spec.symbol,
                                       order_id=order_id)
        result["fills"] = [shapes.fill(market, trade) for trade in fills]
    return result


def open_order(conn: Conn, owner: KeyOwner, params: OrderRef,
               if_closed: ApiError) -> tuple[orders.Market, dict[str, Any]]:
    """The market and the caller's open order that the request names."""
    market = orders.load_market(conn, params.symbol)
    order = orders.find_order(conn, owner.user_id, market.spec.symbol,
                              order_id=params.order_id,
                              client_order_id=params.orig_client_order_id)
    if closed(order):
        raise if_closed
    return market, order


@routes.route("/api/v3/order", methods=["DELETE"])
def cancel() -> dict[str, object]:
    owner, signed = key_owner(routes.current_request, "TRADE")
    params = parse_params(CancelOrderParams, signed.params())
    with services().db() as conn:
        market, order = open_order(conn, owner, params, ApiError(
            400, ErrorCode.CANCEL_REJECTED, "Unknown order sent."))
        command = orders.request_cancel(conn, owner.user_id, market.spec.symbol, order["id"])
    publish([command])
    final = wait_for(owner.user_id, market.spec.symbol, order["id"], closed)
    return shapes.cancelled(market, final, params.new_client_order_id)


@routes.route("/api/v3/order/amend/keepPriority", methods=["PUT"])
def amend_keep_priority() -> dict[str, object]:
    owner, signed = key_owner(routes.current_request, "TRADE")
    params = parse_params(AmendOrderParams, signed.params())
    with services().db() as conn:
        market, order = open_order(conn, owner, params, ApiError(
            400, ErrorCode.NO_SUCH_ORDER, "Order does not exist."))
        new_qty = amount(params.new_qty, "newQty", market.base_scale)
        command = orders.request_amend(conn, owner.user_id, market, order, new_qty)
    publish([command])
    amended = wait_for(owner.user_id, market.spec.symbol, order["id"],
                       lambda o: o["quantity"] is not None and int(o["quantity"]) <= new_qty)
    return {"transactTime": signed.now_ms, "executionId": command.command_id,
            "amendedOrder": shapes.core(market, amended)}


@routes.route("/api/v3/openOrders", methods=["DELETE"])
def cancel_all() -> list[dict[str, object]]:
    owner, signed = key_owner(routes.current_request, "TRADE")
    params = parse_params(CancelAllParams, signed.params())
    with services().db() as conn:
        market = orders.load_market(conn, params.symbol)
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
    params = parse_params(QueryOrderParams, signed.params())
    with services().db() as conn:
        market = orders.load_market(conn, params.symbol)
        order = orders.find_order(conn, owner.user_id, market.spec.symbol,
                                  order_id=params.order_id,
                                  client_order_id=params.orig_client_order_id)
    return shapes.order(market, order)


@routes.route("/api/v3/openOrders", methods=["GET"])
def open_orders() -> list[dict[str, object]]:
    return list_orders(open_only=True)


@routes.route("/api/v3/allOrders", methods=["GET"])
def all_orders() -> list[dict[str, object]]:
    return list_orders(open_only=False)


def list_orders(*, open_only: bool) -> list[dict[str, object]]:
    owner, signed = key_owner(routes.current_request, "READ")
    params = parse_params(ListOrdersParams, signed.params())
    with services().db() as conn:
        market = orders.load_market(conn, params.symbol)
        found = orders.list_orders(conn, owner.user_id, market.spec.symbol,
                                   open_only=open_only, limit=params.limit,
                                   from_id=params.order_id)
    return [shapes.order(market, o) for o in found]


@routes.route("/api/v3/myTrades", methods=["GET"])
def my_trades() -> list[dict[str, object]]:
    owner, signed = key_owner(routes.current_request, "READ")
    params = parse_params(MyTradesParams, signed.params())
    with services().db() as conn:
        market = orders.load_market(conn, params.symbol)
        trades = orders.user_trades(conn, owner.user_id, market.spec.symbol,
                                    order_id=params.order_id, from_id=params.from_id,
                                    limit=params.limit)
    return [shapes.my_trade(market, t) for t in trades]
