"""The parameters of Binance's order list routes (OCO; the list queries and cancel).

Each leg is described in the words of `POST /api/v3/order` (``LegParams``): the OCO
models name where each of a leg's parameters comes from, and ``order_list_routes``
checks each leg as an order of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import BeforeValidator, Field, model_validator

from chalicelib.domain.errors import malformed
from chalicelib.domain.orders import OrderType, SelfTradePrevention, Side, TimeInForce
from chalicelib.entrypoints.http.binance_models import (
    Amount,
    ClientOrderId,
    HistoryParams,
    Id,
    ResponseType,
    SignedParams,
    Symbol,
    _blank_is_absent,
)

OptionalTif = Annotated[TimeInForce | None, BeforeValidator(_blank_is_absent)]
OptionalType = Annotated[OrderType | None, BeforeValidator(_blank_is_absent)]


@dataclass(frozen=True)
class LegParams:
    """One leg as the parameters name it (``prefix`` says which, for the errors)."""

    prefix: str
    side: Side
    quantity: str
    order_type: OrderType
    price: str | None
    stop_price: str | None
    time_in_force: TimeInForce | None
    trailing_delta: str | None
    iceberg_qty: str | None
    client_order_id: str | None


class ListParams(SignedParams):
    symbol: Symbol
    side: Side = Field(description="BUY or SELL, for both legs.")
    quantity: Amount = Field(description="The quantity of both legs.")
    list_client_order_id: ClientOrderId | None = Field(
        default=None, description="Unique among open lists; generated when not sent.")
    self_trade_prevention_mode: Annotated[
        SelfTradePrevention | None, BeforeValidator(_blank_is_absent)] = Field(
        default=None, description="Defaults to EXPIRE_MAKER.")
    new_order_resp_type: Annotated[ResponseType | None, BeforeValidator(_blank_is_absent)] = Field(
        default=None, description="ACK, RESULT or FULL (orderReports); defaults to FULL.")


class OcoParams(ListParams):
    """`POST /api/v3/orderList/oco`: an above and a below leg."""

    above_type: OrderType = Field(description=(
        "SELL: LIMIT_MAKER, TAKE_PROFIT or TAKE_PROFIT_LIMIT; BUY: STOP_LOSS or "
        "STOP_LOSS_LIMIT."))
    above_price: Amount | None = None
    above_stop_price: Amount | None = None
    above_time_in_force: OptionalTif = None
    above_trailing_delta: str | None = Field(default=None, description="Not supported.")
    above_iceberg_qty: str | None = Field(default=None, description="Not supported.")
    above_client_order_id: ClientOrderId | None = None
    below_type: OrderType = Field(description=(
        "SELL: STOP_LOSS or STOP_LOSS_LIMIT; BUY: LIMIT_MAKER, TAKE_PROFIT or "
        "TAKE_PROFIT_LIMIT."))
    below_price: Amount | None = None
    below_stop_price: Amount | None = None
    below_time_in_force: OptionalTif = None
    below_trailing_delta: str | None = Field(default=None, description="Not supported.")
    below_iceberg_qty: str | None = Field(default=None, description="Not supported.")
    below_client_order_id: ClientOrderId | None = None

    def legs(self) -> tuple[LegParams, LegParams]:
        return (
            LegParams("above", self.side, self.quantity, self.above_type, self.above_price,
                      self.above_stop_price,
                      self.above_time_in_force, self.above_trailing_delta,
                      self.above_iceberg_qty, self.above_client_order_id),
            LegParams("below", self.side, self.quantity, self.below_type, self.below_price,
                      self.below_stop_price,
                      self.below_time_in_force, self.below_trailing_delta,
                      self.below_iceberg_qty, self.below_client_order_id))


class LegacyOcoParams(ListParams):
    """`POST /api/v3/order/oco` (deprecated by Binance): a LIMIT_MAKER at `price` and a
    STOP_LOSS (or, with stopLimitPrice, STOP_LOSS_LIMIT) at `stopPrice`."""

    price: Amount = Field(description="The LIMIT_MAKER leg's price.")
    stop_price: Amount = Field(description="The stop leg's stop price.")
    stop_limit_price: Amount | None = Field(
        default=None, description="Makes the stop leg a STOP_LOSS_LIMIT at this price.")
    stop_limit_time_in_force: OptionalTif = Field(
        default=None, description="Required with stopLimitPrice.")
    limit_client_order_id: ClientOrderId | None = None
    stop_client_order_id: ClientOrderId | None = None
    limit_iceberg_qty: str | None = Field(default=None, description="Not supported.")
    stop_iceberg_qty: str | None = Field(default=None, description="Not supported.")
    trailing_delta: str | None = Field(default=None, description="Not supported.")

    def legs(self) -> tuple[LegParams, LegParams]:
        """(above, below): the LIMIT_MAKER is above for a SELL, below for a BUY."""
        stop_type = OrderType.STOP_LOSS if self.stop_limit_price is None \
            else OrderType.STOP_LOSS_LIMIT
        if self.stop_limit_price is not None and self.stop_limit_time_in_force is None:
            raise malformed("stopLimitTimeInForce", "was not sent, was empty/null, or malformed")
        limit = LegParams("limit", self.side, self.quantity, OrderType.LIMIT_MAKER, self.price,
                          None, None, None, self.limit_iceberg_qty, self.limit_client_order_id)
        stop = LegParams("stopLimit", self.side, self.quantity, stop_type,
                         self.stop_limit_price, self.stop_price, self.stop_limit_time_in_force,
                         self.trailing_delta, self.stop_iceberg_qty, self.stop_client_order_id)
        return (limit, stop) if self.side is Side.SELL else (stop, limit)


class OtoBase(SignedParams):
    """What `POST /api/v3/orderList/oto` and `/otoco` share: the list and its working
    order (LIMIT or LIMIT_MAKER), and the pending orders' side and quantity."""

    symbol: Symbol
    list_client_order_id: ClientOrderId | None = Field(
        default=None, description="Unique among open lists; generated when not sent.")
    self_trade_prevention_mode: Annotated[
        SelfTradePrevention | None, BeforeValidator(_blank_is_absent)] = Field(
        default=None, description="Defaults to EXPIRE_MAKER.")
    new_order_resp_type: Annotated[ResponseType | None, BeforeValidator(_blank_is_absent)] = Field(
        default=None, description="ACK, RESULT or FULL (orderReports); defaults to FULL.")
    working_type: OrderType = Field(description="LIMIT or LIMIT_MAKER.")
    working_side: Side
    working_price: Amount
    working_quantity: Amount
    working_time_in_force: OptionalTif = None
    working_client_order_id: ClientOrderId | None = None
    working_iceberg_qty: str | None = Field(default=None, description="Not supported.")
    pending_side: Side
    pending_quantity: Amount

    def working(self) -> LegParams:
        return LegParams("working", self.working_side, self.working_quantity,
                         self.working_type, self.working_price, None,
                         self.working_time_in_force, None, self.working_iceberg_qty,
                         self.working_client_order_id)


class OtoParams(OtoBase):
    """`POST /api/v3/orderList/oto`: one pending order, of any type (a MARKET one by
    quantity)."""

    pending_type: OrderType
    pending_price: Amount | None = None
    pending_stop_price: Amount | None = None
    pending_time_in_force: OptionalTif = None
    pending_trailing_delta: str | None = Field(default=None, description="Not supported.")
    pending_iceberg_qty: str | None = Field(default=None, description="Not supported.")
    pending_client_order_id: ClientOrderId | None = None

    def pending(self) -> tuple[LegParams, ...]:
        return (LegParams("pending", self.pending_side, self.pending_quantity,
                          self.pending_type, self.pending_price, self.pending_stop_price,
                          self.pending_time_in_force, self.pending_trailing_delta,
                          self.pending_iceberg_qty, self.pending_client_order_id),)


class OtocoParams(OtoBase):
    """`POST /api/v3/orderList/otoco`: a pending OCO pair, above and below."""

    pending_above_type: OrderType
    pending_above_price: Amount | None = None
    pending_above_stop_price: Amount | None = None
    pending_above_time_in_force: OptionalTif = None
    pending_above_trailing_delta: str | None = Field(default=None, description="Not supported.")
    pending_above_iceberg_qty: str | None = Field(default=None, description="Not supported.")
    pending_above_client_order_id: ClientOrderId | None = None
    pending_below_type: OrderType
    pending_below_price: Amount | None = None
    pending_below_stop_price: Amount | None = None
    pending_below_time_in_force: OptionalTif = None
    pending_below_trailing_delta: str | None = Field(default=None, description="Not supported.")
    pending_below_iceberg_qty: str | None = Field(default=None, description="Not supported.")
    pending_below_client_order_id: ClientOrderId | None = None

    def pending(self) -> tuple[LegParams, ...]:
        """(above, below)."""
        return (
            LegParams("pendingAbove", self.pending_side, self.pending_quantity,
                      self.pending_above_type, self.pending_above_price,
                      self.pending_above_stop_price, self.pending_above_time_in_force,
                      self.pending_above_trailing_delta, self.pending_above_iceberg_qty,
                      self.pending_above_client_order_id),
            LegParams("pendingBelow", self.pending_side, self.pending_quantity,
                      self.pending_below_type, self.pending_below_price,
                      self.pending_below_stop_price, self.pending_below_time_in_force,
                      self.pending_below_trailing_delta, self.pending_below_iceberg_qty,
                      self.pending_below_client_order_id))


class ListRef(SignedParams):
    """Routes naming one list by `orderListId` or its client id."""

    order_list_id: Id | None = Field(default=None, description="The list's id.")


class CancelListParams(ListRef):
    """`DELETE /api/v3/orderList`."""

    symbol: Symbol
    list_client_order_id: ClientOrderId | None = Field(
        default=None, description="The list's client id (when orderListId is not sent).")
    new_client_order_id: ClientOrderId | None = Field(
        default=None, description="Echoed as the cancel's listClientOrderId.")

    @model_validator(mode="after")
    def _names_a_list(self) -> CancelListParams:
        if self.order_list_id is None and self.list_client_order_id is None:
            raise malformed("orderListId", "or 'listClientOrderId' must be sent")
        return self


class QueryListParams(ListRef):
    """`GET /api/v3/orderList`."""

    orig_client_order_id: ClientOrderId | None = Field(
        default=None, description="The list's client id (when orderListId is not sent).")

    @model_validator(mode="after")
    def _names_a_list(self) -> QueryListParams:
        if self.order_list_id is None and self.orig_client_order_id is None:
            raise malformed("orderListId", "or 'origClientOrderId' must be sent")
        return self


class AllListsParams(HistoryParams):
    """`GET /api/v3/allOrderList`."""

    from_id: Id | None = Field(default=None, description="Lists from this id on.")


class OpenListsParams(SignedParams):
    """`GET /api/v3/openOrderList`."""

