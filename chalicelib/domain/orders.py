"""Order vocabulary shared by the API, the lambdas and the matching engine.

Pure definitions: no I/O, no floats. Enum values are Binance spot names, so they can be
written to and read from the public API unchanged.

Units (the whole platform uses them end to end):

* ``qty`` is an integer count of the base asset's smallest unit.
* ``price`` is an integer count of the quote asset's smallest unit paid for
  ``MarketSpec.base_unit`` smallest units of base (normally ``10 ** base_scale``, i.e. the
  price of one whole coin).
* quote amount (notional) of ``qty`` at ``price`` is ``price * qty // base_unit``.
  ``MarketSpec`` requires ``tick_size * lot_size`` to be a multiple of ``base_unit``, so for
  every price on the tick grid and every quantity on the lot grid this division is exact:
  a trade never creates or loses a quote unit through rounding.
* fee rates are integers in parts per million of the amount received
  (``FEE_RATE_SCALE``); fees are rounded up, in the exchange's favour.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass
from enum import StrEnum

from chalicelib.domain.money import MAX_UNITS

FEE_RATE_SCALE = 1_000_000
"""Fee rates are parts per million: 1_000 ppm is 0.1 %."""


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(StrEnum):
    LIMIT = "LIMIT"
    MARKET = "MARKET"
    LIMIT_MAKER = "LIMIT_MAKER"
    STOP_LOSS = "STOP_LOSS"
    STOP_LOSS_LIMIT = "STOP_LOSS_LIMIT"
    TAKE_PROFIT = "TAKE_PROFIT"
    TAKE_PROFIT_LIMIT = "TAKE_PROFIT_LIMIT"

    @property
    def is_conditional(self) -> bool:
        """Waits for the last trade price to reach its ``stopPrice`` before it works."""
        return self in _WORKING_TYPE

    @property
    def working_type(self) -> OrderType:
        """What the order trades as once working: MARKET or LIMIT (itself if not a stop)."""
        return _WORKING_TYPE.get(self, self)

    @property
    def trades_as_market(self) -> bool:
        """MARKET, or a stop that becomes one: no limit price bounds what it spends."""
        return self.working_type is OrderType.MARKET

    def triggers_on_rise(self, side: Side) -> bool:
        """Binance's trigger direction: a STOP_LOSS BUY or a TAKE_PROFIT SELL works once
        the last price is at or above its stop price; the other two at or below."""
        stop_loss = self in (OrderType.STOP_LOSS, OrderType.STOP_LOSS_LIMIT)
        return stop_loss == (side is Side.BUY)


def stop_reached(order_type: OrderType, side: Side, stop_price: int, low: int,
                 high: int) -> bool:
    """Whether trades at prices from ``low`` to ``high`` reach a stop order's stop price."""
    if order_type.triggers_on_rise(side):
        return high >= stop_price
    return low <= stop_price


_WORKING_TYPE = {
    OrderType.STOP_LOSS: OrderType.MARKET,
    OrderType.STOP_LOSS_LIMIT: OrderType.LIMIT,
    OrderType.TAKE_PROFIT: OrderType.MARKET,
    OrderType.TAKE_PROFIT_LIMIT: OrderType.LIMIT,
}


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"


class SelfTradePrevention(StrEnum):
    """Binance ``selfTradePreventionMode``; the taker's mode decides what happens."""

    NONE = "NONE"
    EXPIRE_TAKER = "EXPIRE_TAKER"
    EXPIRE_MAKER = "EXPIRE_MAKER"
    EXPIRE_BOTH = "EXPIRE_BOTH"


class OrderStatus(StrEnum):
    """Binance order statuses, as the API reports them."""

    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    EXPIRED_IN_MATCH = "EXPIRED_IN_MATCH"
    PENDING_NEW = "PENDING_NEW"
    """An OTO list's pending order, placed once its working order has filled."""


class DoneReason(StrEnum):
    """Why an order left the engine (it will never trade again)."""

    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED_IOC = "EXPIRED_IOC"
    """IOC limit or MARKET order: the part that could not trade at once expired."""
    EXPIRED_FOK = "EXPIRED_FOK"
    """FOK order that could not be filled completely; it did not trade at all."""
    EXPIRED_STP = "EXPIRED_STP"
    """Expired by self-trade prevention (taker or maker side)."""
    REJECTED_POST_ONLY = "REJECTED_POST_ONLY"
    """LIMIT_MAKER order that would have taken liquidity; it did not trade."""
    EXPIRED_IN_LIST = "EXPIRED_IN_LIST"
    """An OCO leg whose other leg traded, started working or ended first."""

    @property
    def status(self) -> OrderStatus:
        return _DONE_STATUS[self]


_DONE_STATUS = {
    DoneReason.FILLED: OrderStatus.FILLED,
    DoneReason.CANCELED: OrderStatus.CANCELED,
    DoneReason.EXPIRED_IOC: OrderStatus.EXPIRED,
    DoneReason.EXPIRED_FOK: OrderStatus.EXPIRED,
    DoneReason.EXPIRED_STP: OrderStatus.EXPIRED_IN_MATCH,
    DoneReason.REJECTED_POST_ONLY: OrderStatus.REJECTED,
    DoneReason.EXPIRED_IN_LIST: OrderStatus.EXPIRED,
}


class CommandKind(StrEnum):
    """Which command a rejection answers, so consumers know what (not) to undo."""

    PLACE = "PLACE"
    CANCEL = "CANCEL"
    CANCEL_ALL = "CANCEL_ALL"
    AMEND = "AMEND"
    CANCEL_REPLACE = "CANCEL_REPLACE"
    PLACE_OCO = "PLACE_OCO"
    PLACE_OTO = "PLACE_OTO"


class RejectReason(StrEnum):
    """Why a command was refused without changing the book."""

    UNKNOWN_ORDER = "UNKNOWN_ORDER"
    """No open order with that id for that user (also for someone else's order)."""
    DUPLICATE_ORDER_ID = "DUPLICATE_ORDER_ID"
    INVALID_ORDER = "INVALID_ORDER"
    """Contradictory parameters, e.g. MARKET with both quantity and quote amount."""
    INVALID_PRICE = "INVALID_PRICE"
    PRICE_OFF_TICK = "PRICE_OFF_TICK"
    INVALID_QUANTITY = "INVALID_QUANTITY"
    QTY_OFF_LOT = "QTY_OFF_LOT"
    QTY_TOO_SMALL = "QTY_TOO_SMALL"
    QTY_TOO_LARGE = "QTY_TOO_LARGE"
    NOTIONAL_TOO_SMALL = "NOTIONAL_TOO_SMALL"
    NOTIONAL_TOO_LARGE = "NOTIONAL_TOO_LARGE"
    """Larger than any amount the ledger can hold (``money.MAX_UNITS``)."""
    AMEND_NOT_REDUCING = "AMEND_NOT_REDUCING"
    WOULD_TRIGGER_IMMEDIATELY = "WOULD_TRIGGER_IMMEDIATELY"
    """A stop order whose stop price the last trade price has already reached."""
    WOULD_MATCH_IMMEDIATELY = "WOULD_MATCH_IMMEDIATELY"
    """An OCO's LIMIT_MAKER leg would take liquidity: the list is refused."""
    OCO_BAD_PRICES = "OCO_BAD_PRICES"
    """An OCO's above leg is not above the last price, or its below leg not below."""
    IN_ORDER_LIST = "IN_ORDER_LIST"
    """Amend or cancel-replace of an OCO leg: only cancelling the list is supported."""

    @property
    def binance_code(self) -> int:
        return _BINANCE_ERRORS[self][0]

    @property
    def binance_msg(self) -> str:
        return _BINANCE_ERRORS[self][1]


# The one mapping from a refusal's reason to the code and message a Binance client
# expects, whether the API refused the order or the engine did.
_BINANCE_ERRORS: dict[RejectReason, tuple[int, str]] = {
    RejectReason.UNKNOWN_ORDER: (-2011, "Unknown order sent."),
    RejectReason.DUPLICATE_ORDER_ID: (-2010, "Duplicate order sent."),
    RejectReason.INVALID_ORDER: (-1106, "Parameter sent when not required."),
    RejectReason.INVALID_PRICE: (-1013, "Filter failure: PRICE_FILTER"),
    RejectReason.PRICE_OFF_TICK: (-1013, "Filter failure: PRICE_FILTER"),
    RejectReason.INVALID_QUANTITY: (-1013, "Filter failure: LOT_SIZE"),
    RejectReason.QTY_OFF_LOT: (-1013, "Filter failure: LOT_SIZE"),
    RejectReason.QTY_TOO_SMALL: (-1013, "Filter failure: LOT_SIZE"),
    RejectReason.QTY_TOO_LARGE: (-1013, "Filter failure: LOT_SIZE"),
    RejectReason.NOTIONAL_TOO_SMALL: (-1013, "Filter failure: NOTIONAL"),
    RejectReason.NOTIONAL_TOO_LARGE: (-1013, "Filter failure: NOTIONAL"),
    # Binance has no dedicated code for this; -2010 is its generic "order rejected".
    RejectReason.AMEND_NOT_REDUCING: (-2010, "newQty must be less than the order's quantity."),
    RejectReason.WOULD_TRIGGER_IMMEDIATELY: (-2010, "Order would trigger immediately."),
    RejectReason.WOULD_MATCH_IMMEDIATELY: (-2010, "Order would immediately match and take."),
    RejectReason.OCO_BAD_PRICES: (
        -2010, "The relationship of the prices for the orders is not correct."),
    RejectReason.IN_ORDER_LIST: (-2010, "Unsupported order combination"),
}


def ceil_fee(amount: int, rate_ppm: int) -> int:
    """Fee on ``amount`` at ``rate_ppm`` parts per million, rounded up (exchange's favour)."""
    return -(-amount * rate_ppm // FEE_RATE_SCALE)


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """A market's matching filters and fees, all integers (see the module docstring).

    ``min_qty`` and ``max_qty`` are on the lot grid, so Binance's
    ``(qty - minQty) % stepSize == 0`` is the same check as ``qty % lot_size == 0``.
    ``min_notional`` is in quote units; 0 disables it.
    """

    symbol: str
    base_unit: int
    tick_size: int
    lot_size: int
    min_qty: int
    max_qty: int
    min_notional: int = 0
    maker_fee_ppm: int = 0
    taker_fee_ppm: int = 0

    def __post_init__(self) -> None:
        problem = self.problem()
        if problem:
            raise ValueError(f"invalid market spec {self.symbol!r}: {problem}")

    def problem(self) -> str | None:
        """What is wrong with this spec, or None (used by ``__post_init__``)."""
        if any(type(v) is not int for v in (self.base_unit, *astuple(self.filters))):
            return "every number must be an int"
        problem = filters_problem(self.filters, base_unit=self.base_unit)
        return None if problem is None else str(problem)

    @property
    def filters(self) -> MarketFilters:
        return MarketFilters(self.tick_size, self.lot_size, self.min_qty, self.max_qty,
                             self.min_notional, self.maker_fee_ppm, self.taker_fee_ppm)

    def notional(self, price: int, qty: int) -> int:
        """Quote amount of ``qty`` at ``price`` (exact for on-grid values)."""
        return price * qty // self.base_unit


@dataclass(frozen=True)
class MarketFilters:
    """A market's filters and fees as an admin sets them (units as ``MarketSpec``)."""

    tick_size: int
    lot_size: int
    min_qty: int
    max_qty: int
    min_notional: int
    maker_fee_ppm: int
    taker_fee_ppm: int


@dataclass(frozen=True)
class SettingProblem:
    """Why a market's filters are unusable: the setting at fault and what it must be."""

    setting: str
    requirement: str

    def __str__(self) -> str:
        return f"{self.setting} {self.requirement}"


def filters_problem(filters: MarketFilters, *, base_unit: int,
                    max_fee_ppm: int = FEE_RATE_SCALE) -> SettingProblem | None:
    """The first reason the filters cannot work with the ledger or the matching engine."""
    if base_unit < 1:
        return SettingProblem("base_unit", "must be at least 1")
    for setting, minimum in (("tick_size", 1), ("lot_size", 1), ("min_qty", 1),
                             ("max_qty", filters.min_qty), ("min_notional", 0)):
        problem = amount_problem(setting, getattr(filters, setting), minimum)
        if problem:
            return problem
    for setting in ("maker_fee_ppm", "taker_fee_ppm"):
        if not 0 <= getattr(filters, setting) <= max_fee_ppm:
            return SettingProblem(setting, f"must be between 0 and {max_fee_ppm}")
    for setting in ("min_qty", "max_qty"):
        if getattr(filters, setting) % filters.lot_size:
            return SettingProblem(setting, "must be a multiple of lot_size")
    # Exact notionals: see the module docstring.
    if filters.tick_size * filters.lot_size % base_unit:
        return SettingProblem("tick_size", f"times lot_size must be a multiple of {base_unit}"
                              " (one whole base unit), so that every notional is exact")
    return None


def amount_problem(setting: str, value: int, minimum: int) -> SettingProblem | None:
    """An amount setting below ``minimum`` or beyond what the ledger can hold."""
    if value < minimum:
        return SettingProblem(setting, f"must be at least {minimum}")
    if value > MAX_UNITS:
        return SettingProblem(setting, "is too large")
    return None


OPEN_STATUSES = (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)
"""The statuses of an order that may still trade."""


@dataclass(frozen=True)
class Market:
    """A market as the API shows it: its spec and its assets' symbols and scales."""

    spec: MarketSpec
    base_asset: str
    quote_asset: str
    base_scale: int
    quote_scale: int
    status: str


@dataclass(frozen=True)
class NewOrder:
    """An order as a user asked for it, in the market's units; 0 is "not sent"."""

    user_id: int
    market: str
    client_order_id: str
    side: Side
    order_type: OrderType
    tif: TimeInForce | None
    price: int
    qty: int
    quote_qty: int
    stp: SelfTradePrevention
    stop_price: int = 0
    api_key_id: int | None = None
    """The API key that signed it, if one did: the placement checks the key still exists."""


@dataclass(frozen=True)
class Lock:
    """The funds placing an order locks. A MARKET order its own size does not bound
    locks the whole available balance, which is also its ``spend_cap``."""

    asset: str
    amount: int
    spend_cap: int
