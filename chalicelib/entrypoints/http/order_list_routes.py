"""Binance's order list routes: place an OCO (`POST /api/v3/orderList/oco` and the
deprecated `POST /api/v3/order/oco`), an OTO or an OTOCO (`/orderList/oto`, `/otoco`),
cancel a list (`DELETE /api/v3/orderList`) and read lists (`GET /api/v3/orderList`,
`/allOrderList`, `/openOrderList`).

Each order is checked as `POST /api/v3/order` checks one (its parameters here, its
filters in the use case), then the list together; a list counts each of its orders
against the ORDERS rate limits.
"""

from __future__ import annotations

import secrets
from typing import Any

from chalice.app import Response

from chalicelib.domain.errors import ApiError, ErrorCode
from chalicelib.domain.order_lists import LEG_TYPES
from chalicelib.domain.orders import Market, NewOrder, OrderType
from chalicelib.entrypoints.http import order_list_presenters as list_shapes
from chalicelib.entrypoints.http.binance_models import ResponseType, parse_params
from chalicelib.entrypoints.http.exchange_app import ApiBlueprint
from chalicelib.entrypoints.http.order_list_models import (
    AllListsParams,
    CancelListParams,
    LegacyOcoParams,
    LegParams,
    ListParams,
    OcoParams,
    OpenListsParams,
    OtoBase,
    OtocoParams,
    OtoParams,
    QueryListParams,
)
from chalicelib.entrypoints.http.order_routes import (
    DEFAULT_STP,
    amount,
    counted,
    mandatory,
    not_required,
)
from chalicelib.service_layer import post_only
from chalicelib.service_layer.api_keys import KeyOwner
from chalicelib.service_layer.order_history import Page
from chalicelib.service_layer.order_list_intake import (
    ListKey,
    all_lists,
    cancel_list,
    open_lists,
    place_oco,
    place_oto,
    query_list,
)
from chalicelib.service_layer.order_lists import NewOco, NewOto

routes = ApiBlueprint(__name__)


def not_in_oco() -> ApiError:
    return ApiError(400, ErrorCode.OCO_ORDER_TYPE_REJECTED, "Order type not supported in OCO.")


def check_leg_shape(leg: LegParams, allowed: frozenset[OrderType]) -> None:
    """Which of its parameters the leg's type needs and which it refuses, named as the
    request names them (``abovePrice``, ``stopLimitTimeInForce``...)."""
    if leg.order_type not in allowed:
        raise not_in_oco()
    limit_like = leg.order_type.working_type is not OrderType.MARKET
    tif_name = "stopLimitTimeInForce" if leg.prefix == "stopLimit" else f"{leg.prefix}TimeInForce"
    price_name = "stopLimitPrice" if leg.prefix == "stopLimit" else f"{leg.prefix}Price"
    if leg.order_type.working_type is OrderType.LIMIT and leg.time_in_force is None:
        raise mandatory(tif_name)
    if leg.order_type.working_type is not OrderType.LIMIT and leg.time_in_force is not None:
        raise not_required(tif_name)
    if limit_like and leg.price is None:
        raise mandatory(price_name)
    if not limit_like and leg.price is not None:
        raise not_required(price_name)
    if leg.order_type.is_conditional and leg.stop_price is None:
        raise mandatory(f"{leg.prefix}StopPrice" if leg.prefix != "stopLimit" else "stopPrice")
    if not leg.order_type.is_conditional and leg.stop_price is not None:
        raise not_required(f"{leg.prefix}StopPrice")
    if leg.trailing_delta is not None:
        raise not_required(f"{leg.prefix}TrailingDelta")
    if leg.iceberg_qty is not None:
        raise not_required(f"{leg.prefix}IcebergQty")


def new_leg(owner: KeyOwner, params: ListParams | OtoBase, leg: LegParams,
            market: Market) -> NewOrder:
    return post_only.refuse_taking_maker(routes.services.market_cache, NewOrder(
        owner.user_id, market.spec.symbol, leg.client_order_id or f"x-{secrets.token_hex(10)}",
        leg.side, leg.order_type, leg.time_in_force,
        amount(leg.price, "price", market.quote_scale),
        amount(leg.quantity, "quantity", market.base_scale), 0,
        params.self_trade_prevention_mode or DEFAULT_STP,
        amount(leg.stop_price, "stopPrice", market.quote_scale)))


def new_oco(owner: KeyOwner, params: OcoParams | LegacyOcoParams, market: Market) -> NewOco:
    above, below = params.legs()
    above_types, below_types = LEG_TYPES[params.side]
    check_leg_shape(above, above_types)
    check_leg_shape(below, below_types)
    return NewOco(params.list_client_order_id or f"x-{secrets.token_hex(10)}",
                  new_leg(owner, params, above, market), new_leg(owner, params, below, market))


def new_oto(owner: KeyOwner, params: OtoParams | OtocoParams, market: Market) -> NewOto:
    working, pending = params.working(), params.pending()
    if working.order_type not in (OrderType.LIMIT, OrderType.LIMIT_MAKER):
        raise ApiError(400, ErrorCode.INVALID_ORDER_TYPE, "Invalid orderType.")
    check_leg_shape(working, frozenset({working.order_type}))
    if len(pending) == 2:
        above_types, below_types = LEG_TYPES[params.pending_side]
        check_leg_shape(pending[0], above_types)
        check_leg_shape(pending[1], below_types)
    else:
        check_leg_shape(pending[0], frozenset(OrderType))
    return NewOto(params.list_client_order_id or f"x-{secrets.token_hex(10)}",
                  new_leg(owner, params, working, market),
                  tuple(new_leg(owner, params, p, market) for p in pending))


def placed_oco(owner: KeyOwner, params: OcoParams | LegacyOcoParams, now_ms: int) -> Response:
    counts = routes.count_new_orders(owner.user_id, orders=2)
    ack = params.new_order_resp_type is ResponseType.ACK
    market, found = place_oco(routes.services.intake, params.symbol,
                              lambda market: new_oco(owner, params, market), wait=not ack)
    return counted(list_answer(market, found, now_ms, ack=ack), counts)


def placed_oto(owner: KeyOwner, params: OtoParams | OtocoParams, now_ms: int) -> Response:
    counts = routes.count_new_orders(owner.user_id, orders=1 + len(params.pending()))
    ack = params.new_order_resp_type is ResponseType.ACK
    market, found = place_oto(routes.services.intake, params.symbol,
                              lambda market: new_oto(owner, params, market), wait=not ack)
    return counted(list_answer(market, found, now_ms, ack=ack), counts)


def list_answer(market: Market, found: dict[str, Any], now_ms: int, *,
                ack: bool) -> dict[str, Any]:
    return list_shapes.acknowledged(found, now_ms) if ack \
        else list_shapes.placed(market, found, now_ms)


@routes.route("/api/v3/orderList/oco", methods=["POST"])
def place_order_list_oco() -> Response:
    owner, signed = routes.key_owner("TRADE")
    return placed_oco(owner, parse_params(OcoParams, signed.params()), signed.now_ms)


@routes.route("/api/v3/order/oco", methods=["POST"])
def place_legacy_oco() -> Response:
    owner, signed = routes.key_owner("TRADE")
    return placed_oco(owner, parse_params(LegacyOcoParams, signed.params()), signed.now_ms)


@routes.route("/api/v3/orderList/oto", methods=["POST"])
def place_order_list_oto() -> Response:
    owner, signed = routes.key_owner("TRADE")
    return placed_oto(owner, parse_params(OtoParams, signed.params()), signed.now_ms)


@routes.route("/api/v3/orderList/otoco", methods=["POST"])
def place_order_list_otoco() -> Response:
    owner, signed = routes.key_owner("TRADE")
    return placed_oto(owner, parse_params(OtocoParams, signed.params()), signed.now_ms)


@routes.route("/api/v3/orderList", methods=["DELETE"])
def cancel_order_list() -> dict[str, Any]:
    owner, signed = routes.key_owner("TRADE")
    params = parse_params(CancelListParams, signed.params())
    market, found = cancel_list(routes.services.intake, ListKey(
        owner.user_id, params.symbol, params.order_list_id, params.list_client_order_id))
    return list_shapes.cancelled(market, found, signed.now_ms)


@routes.route("/api/v3/orderList", methods=["GET"])
def query_order_list() -> dict[str, Any]:
    owner, signed = routes.key_owner("READ")
    params = parse_params(QueryListParams, signed.params())
    with routes.services.db() as conn:
        found = query_list(conn, owner.user_id, params.order_list_id,
                           params.orig_client_order_id)
    return list_shapes.summary(found)


@routes.route("/api/v3/allOrderList", methods=["GET"])
def all_order_lists() -> list[dict[str, Any]]:
    owner, signed = routes.key_owner("READ")
    params = parse_params(AllListsParams, signed.params())
    page = Page(params.from_id, params.start_time, params.end_time, params.limit)
    with routes.services.db() as conn:
        found = all_lists(conn, owner.user_id, page)
    return [list_shapes.summary(one) for one in found]


@routes.route("/api/v3/openOrderList", methods=["GET"])
def open_order_lists() -> list[dict[str, Any]]:
    owner, signed = routes.key_owner("READ")
    parse_params(OpenListsParams, signed.params())
    with routes.services.db() as conn:
        found = open_lists(conn, owner.user_id)
    return [list_shapes.summary(one) for one in found]


