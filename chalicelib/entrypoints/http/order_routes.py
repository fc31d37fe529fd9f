"""Binance spot order endpoints: place, test, cancel, cancel-all, query, trades.

Each handler parses all of its parameters (``binance_models``), hands them to one use
case (``order_intake`` for the ones that change orders) and presents the answer in
Binance's shapes. The use case checks the order against the market before anything is
reserved: a request refused with a 4xx has locked no funds and published no command.
"""

from __future__ import annotations

import secrets

from chalice.app import Response

from chalicelib.domain.errors import ApiError, ErrorCode, malformed
from chalicelib.domain.money import parse_units
from chalicelib.domain.orders import Market, NewOrder, OrderType, SelfTradePrevention
from chalicelib.entrypoints.http import commission_presenters
from chalicelib.entrypoints.http import order_presenters as shapes
from chalicelib.entrypoints.http.binance_models import (
    AmendOrderParams,
    CancelAllParams,
    CancelOrderParams,
    HistoryParams,
    ListOrdersParams,
    MyTradesParams,
    NewOrderParams,
    OpenOrdersParams,
    OrderRef,
    QueryOrderParams,
    ResponseType,
    parse_params,
)
from chalicelib.entrypoints.http.exchange_app import ApiBlueprint
from chalicelib.entrypoints.http.orders_more_models import TestOrderParams
from chalicelib.service_layer import (
    fees,
    order_history,
    order_intake,
    order_limits,
    orders,
    post_only,
)
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
    """Which parameters the order type needs and which it refuses, as Binance has it (a
    stop order's as the order it stands for's, plus its stopPrice)."""
    working_type = params.order_type.working_type
    limit_like = working_type is not OrderType.MARKET
    if working_type is OrderType.LIMIT and params.time_in_force is None:
        raise mandatory("timeInForce")
    if working_type is not OrderType.LIMIT and params.time_in_force is not None:
        raise not_required("timeInForce")
    if limit_like and params.price is None:
        raise mandatory("price")
    if not limit_like and params.price is not None:
        raise not_required("price")
    if params.quote_order_qty is not None and (
            params.order_type is not OrderType.MARKET or params.quantity is not None):
        raise not_required("quoteOrderQty")
    if params.quantity is None and params.quote_order_qty is None:
        raise mandatory("quantity")
    if params.trailing_delta is not None:
        raise not_required("trailingDelta")
    if params.order_type.is_conditional and params.stop_price is None:
        raise mandatory("stopPrice")
    if not params.order_type.is_conditional and params.stop_price is not None:
        raise not_required("stopPrice")


def new_order(owner: KeyOwner, params: NewOrderParams, market: Market) -> NewOrder:
    """The order the parameters describe, in the market's units; nothing reserved yet."""
    check_order_shape(params)
    return NewOrder(
        owner.user_id, market.spec.symbol,
        params.new_client_order_id or f"x-{secrets.token_hex(10)}", params.side,
        params.order_type, params.time_in_force,
        amount(params.price, "price", market.quote_scale),
        amount(params.quantity, "quantity", market.base_scale),
        amount(params.quote_order_qty, "quoteOrderQty", market.quote_scale),
        params.self_trade_prevention_mode or DEFAULT_STP,
        amount(params.stop_price, "stopPrice", market.quote_scale), owner.key_id)


def checked_order(owner: KeyOwner, params: NewOrderParams, market: Market) -> NewOrder:
    """The new order, refused (-2010) if it is a LIMIT_MAKER that would take."""
    return post_only.refuse_taking_maker(routes.services.market_cache,
                                         new_order(owner, params, market))


def order_key(owner: KeyOwner, params: OrderRef) -> order_intake.OrderKey:
    return order_intake.OrderKey(owner.user_id, params.symbol, params.order_id,
                                 params.orig_client_order_id)


WAITS = {ResponseType.ACK: order_intake.Wait.NOTHING,
         ResponseType.RESULT: order_intake.Wait.MATCHED,
         ResponseType.FULL: order_intake.Wait.FILLS}


@routes.route("/api/v3/order/test", methods=["POST"])
def test_order() -> dict[str, object]:
    """Everything `POST /api/v3/order` checks, with nothing placed; with
    computeCommissionRates, the rates the order would pay."""
    owner, signed = routes.key_owner("TRADE")
    params = parse_params(TestOrderParams, signed.params())
    order_intake.validate(routes.services.intake, params.symbol,
                          lambda market: checked_order(owner, params, market))
    if not params.compute_commission_rates:
        return {}
    with routes.services.db() as conn:
        rates = fees.market_rates(conn, owner.user_id, orders.load_market(conn, params.symbol))
    return commission_presenters.order_commission(rates)


def counted(body: object, counts: order_limits.OrderCounts) -> Response:
    """An order placement's answer, with the account's order counts in its headers."""
    return Response(body=body, headers=dict(counts.headers()))


@routes.route("/api/v3/order", methods=["POST"])
def place() -> Response:
    owner, signed = routes.key_owner("TRADE", placing=True)
    params = parse_params(NewOrderParams, signed.params())
    counts = routes.count_new_orders(owner.user_id)
    return counted(place_order(owner, params, signed.now_ms), counts)


def response_type_of(params: NewOrderParams) -> ResponseType:
    return params.new_order_resp_type or (
        ResponseType.ACK if params.order_type is OrderType.LIMIT_MAKER else ResponseType.FULL)


def place_order(owner: KeyOwner, params: NewOrderParams, now_ms: int) -> dict[str, object]:
    """Place the order and answer as `newOrderRespType` asks (ACK, RESULT or FULL)."""
    response_type = response_type_of(params)
    placed = order_intake.place(routes.services.intake, params.symbol,
                                lambda market: checked_order(owner, params, market),
                                WAITS[response_type])
    return placement_answer(placed, response_type, now_ms)


def placement_answer(placed: order_intake.Placement, response_type: ResponseType,
                     now_ms: int) -> dict[str, object]:
    market = placed.market
    if placed.matched is None or response_type is ResponseType.ACK:
        return shapes.ack(market, placed.order.client_order_id, placed.order_id, now_ms)
    result = shapes.result(market, placed.matched, now_ms)
    if response_type is ResponseType.FULL:
        result["fills"] = [shapes.fill(market, trade) for trade in placed.fills]
    return result


@routes.route("/api/v3/order", methods=["DELETE"])
def cancel() -> dict[str, object]:
    owner, signed = routes.key_owner("TRADE")
    params = parse_params(CancelOrderParams, signed.params())
    if params.new_client_order_id:  # for the cancel's executionReport (before it exists)
        routes.services.cancel_requests.record(owner.user_id, params.order_id,
                                               params.orig_client_order_id,
                                               params.new_client_order_id)
    market, final = order_intake.cancel(routes.services.intake, order_key(owner, params))
    return shapes.cancelled(market, final, params.new_client_order_id, signed.now_ms)


@routes.route("/api/v3/order/amend/keepPriority", methods=["PUT"])
def amend_keep_priority() -> dict[str, object]:
    owner, signed = routes.key_owner("TRADE")
    params = parse_params(AmendOrderParams, signed.params())
    amended = order_intake.amend(routes.services.intake, order_key(owner, params),
                                 lambda market: amount(params.new_qty, "newQty",
                                                       market.base_scale))
    return {"transactTime": signed.now_ms, "executionId": amended.command_id,
            "amendedOrder": shapes.core(amended.market, amended.order)}


@routes.route("/api/v3/openOrders", methods=["DELETE"])
def cancel_all() -> list[dict[str, object]]:
    owner, signed = routes.key_owner("TRADE")
    params = parse_params(CancelAllParams, signed.params())
    market, cancelled = order_intake.cancel_all(routes.services.intake, owner.user_id,
                                                params.symbol)
    return [shapes.cancelled(market, order, None, signed.now_ms) for order in cancelled]


@routes.route("/api/v3/order", methods=["GET"])
def query_order() -> dict[str, object]:
    owner, signed = routes.key_owner("READ")
    params = parse_params(QueryOrderParams, signed.params())
    with routes.services.db() as conn:
        market = orders.load_market(conn, params.symbol)
        order = orders.find_order(conn, owner.user_id, market.spec.symbol,
                                  order_id=params.order_id,
                                  client_order_id=params.orig_client_order_id)
    return shapes.order(market, order)


@routes.route("/api/v3/openOrders", methods=["GET"])
def open_orders() -> list[dict[str, object]]:
    owner, signed = routes.key_owner("READ")
    params = parse_params(OpenOrdersParams, signed.params())
    with routes.services.db() as conn:
        found = order_history.open_orders(conn, owner.user_id, params.symbol)
    return [shapes.order(market, order) for market, order in found]


def page(params: HistoryParams, from_id: int | None) -> order_history.Page:
    return order_history.Page(from_id, params.start_time, params.end_time, params.limit)


@routes.route("/api/v3/allOrders", methods=["GET"])
def all_orders() -> list[dict[str, object]]:
    owner, signed = routes.key_owner("READ")
    params = parse_params(ListOrdersParams, signed.params())
    with routes.services.read_db() as conn:
        market, found = order_history.all_orders(conn, owner.user_id, params.symbol,
                                                 page(params, params.order_id))
    return [shapes.order(market, o) for o in found]


@routes.route("/api/v3/myTrades", methods=["GET"])
def my_trades() -> list[dict[str, object]]:
    owner, signed = routes.key_owner("READ")
    params = parse_params(MyTradesParams, signed.params())
    with routes.services.read_db() as conn:
        market, trades = order_history.my_trades(conn, owner.user_id, params.symbol,
                                                 params.order_id, page(params, params.from_id))
    return [shapes.my_trade(market, t) for t in trades]
