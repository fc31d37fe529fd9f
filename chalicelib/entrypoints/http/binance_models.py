"""The parameters of the Binance order routes, parsed whole before anything is reserved.

Names on the wire are Binance's (camelCase). Unknown parameters are ignored, as
Binance clients send extras; every known one is checked here, so a request that
would fail on any parameter fails before funds are locked or a command is published.
Amounts stay decimal text: their scale is the market's, checked once it is loaded.

Validators raise ``ApiError`` themselves where Binance has a specific code (pydantic
passes exceptions other than ``ValueError`` through); everything else pydantic
reports is turned into Binance's codes by ``binance_error``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic.alias_generators import to_camel

from chalicelib.domain.errors import ApiError, ErrorCode, bad_request, malformed
from chalicelib.domain.orders import OrderType, SelfTradePrevention, Side, TimeInForce
from chalicelib.domain.params import MAX_BIGINT, parse_count

SYMBOL_PATTERN = r"^[A-Z0-9\-_.]{1,40}$"
DECIMAL_PATTERN = r"^[0-9]{1,40}(\.[0-9]{1,40})?$"
CLIENT_ORDER_ID_PATTERN = r"^[.A-Z:/a-z0-9_\-]{1,36}$"


class ResponseType(StrEnum):
    """How much of the placed order `POST /api/v3/order` answers with."""

    ACK = "ACK"
    RESULT = "RESULT"
    FULL = "FULL"


def _wire_name(info: ValidationInfo) -> str:
    return to_camel(info.field_name or "")


def _blank_is_absent(value: Any) -> Any:
    """Binance clients send empty optional parameters; they count as not sent."""
    return None if value == "" else value


def _symbol(value: Any) -> Any:
    if not isinstance(value, str) or value == "":
        return _blank_is_absent(value)
    upper = value.upper()
    if len(upper) > 40 or not all(c.isascii() and (c.isalnum() or c in "-_.") for c in upper):
        raise bad_request(ErrorCode.ILLEGAL_CHARS,
                          "Illegal characters found in parameter 'symbol'; legal range is "
                          f"'{SYMBOL_PATTERN}'.")
    return upper


def _count(value: Any, info: ValidationInfo) -> Any:
    """ASCII digits within BIGINT, or Binance's -1100/-1102 naming the parameter."""
    if not isinstance(value, str) or value == "":
        return _blank_is_absent(value)
    return parse_count(value, _wire_name(info))


def _limit(value: Any) -> Any:
    if not isinstance(value, str) or value == "":
        return _blank_is_absent(value)
    return parse_count(value, "limit", minimum=1, maximum=1000)


Symbol = Annotated[str, Field(
    pattern=SYMBOL_PATTERN, description="The market, e.g. BTCUSDT (case-insensitive).",
    examples=["BTCUSDT"]), BeforeValidator(_symbol)]
Id = Annotated[int, Field(ge=0, le=MAX_BIGINT), BeforeValidator(_count)]
Amount = Annotated[str, Field(
    pattern=DECIMAL_PATTERN, max_length=80, examples=["0.001"],
    description="A plain decimal; at most the asset's scale of fractional digits."),
    BeforeValidator(_blank_is_absent)]
ClientOrderId = Annotated[str, Field(
    pattern=CLIENT_ORDER_ID_PATTERN, description="A client-chosen id, unique among open orders.")]
Limit = Annotated[int, Field(ge=1, le=1000, description="How many rows to return (1-1000)."),
                  BeforeValidator(_limit)]


class BinanceParams(BaseModel):
    """Query and form-body parameters of a Binance route; unknown names are ignored."""

    model_config = ConfigDict(extra="ignore", alias_generator=to_camel, populate_by_name=True,
                              frozen=True)


class SignedParams(BinanceParams):
    """What every SIGNED route carries; checked by the signature check before parsing.
    A request with the web app's bearer token instead of an API key needs neither
    timestamp nor signature."""

    timestamp: str | None = Field(
        default=None, description="Milliseconds since the epoch when the request was made; "
        "required with an API key.", examples=["1700000000000"])
    recv_window: str | None = Field(
        default=None, description="Milliseconds after `timestamp` the request stays valid "
        "(default 5000, at most 60000).", examples=["5000"])
    signature: str | None = Field(
        default=None, description="HMAC-SHA256 of the query string and body, in hex, keyed "
        "by the secret; required with an API key.")


class NewOrderParams(SignedParams):
    """`POST /api/v3/order` and `POST /api/v3/order/test`."""

    symbol: Symbol
    side: Side = Field(description="BUY or SELL.")
    order_type: OrderType = Field(alias="type", description=(
        "LIMIT, MARKET, LIMIT_MAKER, STOP_LOSS, STOP_LOSS_LIMIT, TAKE_PROFIT or "
        "TAKE_PROFIT_LIMIT."))
    time_in_force: Annotated[TimeInForce | None, BeforeValidator(_blank_is_absent)] = Field(
        default=None, description="Required for LIMIT, STOP_LOSS_LIMIT and TAKE_PROFIT_LIMIT.")
    quantity: Amount | None = Field(
        default=None, description="Base asset quantity; required unless a MARKET order "
        "sends quoteOrderQty.")
    quote_order_qty: Amount | None = Field(
        default=None, description="MARKET orders only: quote asset amount to spend or receive.")
    price: Amount | None = Field(default=None, description="Required for LIMIT, LIMIT_MAKER, "
                                 "STOP_LOSS_LIMIT and TAKE_PROFIT_LIMIT.")
    stop_price: Amount | None = Field(
        default=None, description="Required for STOP_LOSS(_LIMIT) and TAKE_PROFIT(_LIMIT): "
        "the last trade price that sets the order working.")
    trailing_delta: str | None = Field(
        default=None, description="Not supported (exchangeInfo: allowTrailingStop false); "
        "refused with -1106.")
    new_client_order_id: ClientOrderId | None = Field(
        default=None, description="Generated when not sent.")
    self_trade_prevention_mode: Annotated[
        SelfTradePrevention | None, BeforeValidator(_blank_is_absent)] = Field(
        default=None, description="Defaults to EXPIRE_MAKER.")
    new_order_resp_type: Annotated[ResponseType | None, BeforeValidator(_blank_is_absent)] = Field(
        default=None, description="ACK, RESULT or FULL; defaults to ACK for LIMIT_MAKER and "
        "FULL otherwise.")


class OrderRef(SignedParams):
    """Routes naming one order by `orderId` or `origClientOrderId`."""

    symbol: Symbol
    order_id: Id | None = Field(default=None, description="The exchange's order id.")
    orig_client_order_id: ClientOrderId | None = Field(
        default=None, description="The order's client order id (when orderId is not sent).")

    @model_validator(mode="after")
    def _names_an_order(self) -> OrderRef:
        if self.order_id is None and self.orig_client_order_id is None:
            raise malformed("orderId", "or 'origClientOrderId' must be sent")
        return self


class QueryOrderParams(OrderRef):
    """`GET /api/v3/order`."""


class CancelOrderParams(OrderRef):
    """`DELETE /api/v3/order`."""

    new_client_order_id: ClientOrderId | None = Field(
        default=None, description="Echoed as the cancel's clientOrderId.")


class AmendOrderParams(OrderRef):
    """`PUT /api/v3/order/amend/keepPriority`: reduce an open order's quantity in place."""

    new_client_order_id: ClientOrderId | None = Field(
        default=None, description="Accepted for compatibility; the order keeps its id.")
    new_qty: Amount = Field(description="The new quantity, below the current one.")


class CancelAllParams(SignedParams):
    """`DELETE /api/v3/openOrders`."""

    symbol: Symbol


class OpenOrdersParams(SignedParams):
    """`GET /api/v3/openOrders`: one market, or every market when no symbol is sent."""

    symbol: Annotated[str | None, BeforeValidator(_symbol)] = Field(
        default=None, pattern=SYMBOL_PATTERN,
        description="The market; every market when not sent (weight 80).")


class HistoryParams(SignedParams):
    """What Binance's history routes page by: the newest `limit` rows unless a start
    is sent; a time window spans at most 24 hours."""

    start_time: Id | None = Field(default=None, description="From this time on (ms).")
    end_time: Id | None = Field(default=None, description="Up to this time (ms).")
    limit: Limit = 500


class ListOrdersParams(HistoryParams):
    """`GET /api/v3/allOrders`."""

    symbol: Symbol
    order_id: Id | None = Field(default=None, description="Orders from this id on.")


class MyTradesParams(HistoryParams):
    """`GET /api/v3/myTrades`."""

    symbol: Symbol
    order_id: Id | None = Field(default=None, description="Only this order's trades.")
    from_id: Id | None = Field(default=None, description="Trades from this id on.")


P = TypeVar("P", bound=BinanceParams)

# Binance's own answer to a value outside an enum, by parameter.
ENUM_ERRORS = {
    "side": ApiError(400, ErrorCode.INVALID_SIDE, "Invalid side."),
    "type": ApiError(400, ErrorCode.INVALID_ORDER_TYPE, "Invalid orderType."),
    "timeInForce": ApiError(400, ErrorCode.INVALID_TIME_IN_FORCE, "Invalid timeInForce."),
    "selfTradePreventionMode": ApiError(400, ErrorCode.MANDATORY_PARAM_EMPTY_OR_MALFORMED,
                                        "Invalid selfTradePreventionMode."),
}


def binance_error(exc: ValidationError) -> ApiError:
    """The first problem pydantic found, as Binance words it."""
    first = exc.errors()[0]
    name = str(first["loc"][0]) if first["loc"] else "parameters"
    if first["type"] == "missing" or first.get("input") in (None, ""):
        return malformed(name, "was not sent, was empty/null, or malformed")
    if first["type"] == "enum" and name in ENUM_ERRORS:
        known = ENUM_ERRORS[name]
        return ApiError(known.status, known.code, known.msg)
    return malformed(name)


def parse_params(model: type[P], params: dict[str, str]) -> P:
    """The route's parameters, or the 400 Binance answers for the first bad one."""
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise binance_error(exc) from exc
