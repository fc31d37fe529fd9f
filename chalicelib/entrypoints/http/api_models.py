"""Parameters and answers of the public /api/v3 routes, the signed account route and the
withdrawal route, as pydantic models: the handlers parse with them and the OpenAPI
document is generated from them.

As in ``binance_models``, validators raise ``ApiError`` themselves where Binance has a
specific code (pydantic passes exceptions other than ``ValueError`` through): -1100 for
characters out of a parameter's alphabet, -1105 for an empty one, -1120 for an interval.
Ranges the service layer checks (limits, start before end) are only described here, so
each is answered in one place.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, RootModel, ValidationInfo
from pydantic.alias_generators import to_camel

from chalicelib.domain.candles import Interval
from chalicelib.domain.errors import ErrorCode, bad_request, malformed
from chalicelib.domain.params import MAX_BIGINT, parse_count
from chalicelib.entrypoints.http.binance_models import BinanceParams, SignedParams
from chalicelib.service_layer import market_data as md
from chalicelib.service_layer import wallet

MARKET_SYMBOL_PATTERN = r"^[A-Za-z0-9\-_.]{1,40}$"
_QUOTED_SYMBOL = r'"[A-Za-z0-9\-_.]{1,40}"'
SYMBOL_LIST_PATTERN = rf"^\[ *({_QUOTED_SYMBOL} *(, *{_QUOTED_SYMBOL} *)*)?\]$"
_SYMBOL_TEXT = re.compile(MARKET_SYMBOL_PATTERN)


def _market_symbol(value: Any) -> Any:
    """Any case passes here (an unknown market is -1121 later, as the tests pin down);
    characters outside Binance's symbol alphabet, NUL included, are -1100."""
    if value == "":
        raise malformed("symbol", "was not sent, was empty/null, or malformed")
    if isinstance(value, str) and not _SYMBOL_TEXT.fullmatch(value):
        raise bad_request(ErrorCode.ILLEGAL_CHARS,
                          "Illegal characters found in parameter 'symbol'; legal range is "
                          f"'{MARKET_SYMBOL_PATTERN}'.")
    return value


def _count(value: Any, info: ValidationInfo) -> Any:
    """ASCII digits within BIGINT, or Binance's -1105/-1100/-1102 naming the parameter."""
    return parse_count(value, to_camel(info.field_name or "")) if isinstance(value, str) \
        else value


def _interval(value: Any) -> Any:
    return md.parse_interval(value) if isinstance(value, str) else value


MarketSymbol = Annotated[str, Field(
    pattern=MARKET_SYMBOL_PATTERN, description="The market, e.g. BTCUSDT.",
    examples=["BTCUSDT"]), BeforeValidator(_market_symbol)]
SymbolList = Annotated[str, Field(
    pattern=SYMBOL_LIST_PATTERN, max_length=4200,
    description='A JSON list of markets, e.g. ["BTCUSDT","ETHUSDT"]; not with `symbol`.',
    examples=['["BTCUSDT","ETHUSDT"]'])]
Millis = Annotated[int, Field(ge=0, le=MAX_BIGINT, description="Milliseconds since the epoch."),
                   BeforeValidator(_count)]
Count = Annotated[int, Field(ge=0, le=MAX_BIGINT), BeforeValidator(_count)]


def limit_field(default: int, maximum: int) -> Any:
    """A `limit` the service layer bounds (Binance's -1100 outside 1..maximum)."""
    return Field(default=default, json_schema_extra={"minimum": 1, "maximum": maximum},
                 description=f"How many to return (1-{maximum}).")


class SymbolParams(BinanceParams):
    """`symbol`: `GET /api/v3/avgPrice`."""

    symbol: MarketSymbol


class DepthParams(SymbolParams):
    """`GET /api/v3/depth`."""

    limit: Count = limit_field(md.DEPTH_LIMIT_DEFAULT, md.DEPTH_LIMIT_MAX)


class TradesParams(SymbolParams):
    """`GET /api/v3/trades`."""

    limit: Count = limit_field(md.TRADES_LIMIT_DEFAULT, md.TRADES_LIMIT_MAX)


class KlinesParams(SymbolParams):
    """`GET /api/v3/klines`: from `startTime` on if given, else the newest to `endTime`."""

    interval: Annotated[Interval, BeforeValidator(_interval)] = Field(
        description="The candle interval.")
    start_time: Millis | None = None
    end_time: Millis | None = None
    limit: Count = limit_field(md.KLINES_LIMIT_DEFAULT, md.KLINES_LIMIT_MAX)


class MarketsParams(BinanceParams):
    """`symbol` or `symbols` or neither (every market): exchangeInfo and the tickers."""

    symbol: MarketSymbol | None = None
    symbols: SymbolList | None = None


_PERMISSION = r"[A-Z0-9_]{1,40}"
PERMISSION_PATTERN = rf'^({_PERMISSION}|\[ *("{_PERMISSION}" *(, *"{_PERMISSION}" *)*)?\])$'


class ExchangeInfoParams(MarketsParams):
    """`GET /api/v3/exchangeInfo`: `permissions` and `symbolStatus` filter the markets
    and are not sent with `symbol`/`symbols`."""

    permissions: str | None = Field(
        default=None, pattern=PERMISSION_PATTERN, max_length=400,
        description='One permission or a JSON list, e.g. SPOT or ["MARGIN","LEVERAGED"]; '
        "every market here is SPOT.", examples=["SPOT"])
    show_permission_sets: bool = Field(
        default=True, description="`false` leaves each market's `permissionSets` empty.")
    symbol_status: str | None = Field(
        default=None, description="TRADING, HALT or BREAK: only markets in that status.",
        examples=["TRADING"])


class AccountParams(SignedParams):
    """`GET /api/v3/account`."""

    omit_zero_balances: bool | None = Field(
        default=None, description="`true` leaves out assets with nothing free or locked.")


class WithdrawApplyParams(SignedParams):
    """`POST /sapi/v1/capital/withdraw/apply`: an API key's alone, so always signed."""

    timestamp: str = Field(description="Milliseconds since the epoch when the request was "
                                       "made.", examples=["1700000000000"])
    signature: str = Field(description="HMAC-SHA256 of the query string and body, in hex, "
                                       "keyed by the secret.")

    coin: str = Field(min_length=1, max_length=20, pattern=r"^[A-Z0-9]{1,20}$",
                      description="The asset, e.g. BTC.", examples=["BTC"])
    address: str = Field(pattern=f"^{wallet.ADDRESS.pattern}$", description="Where to send it.")
    amount: str = Field(max_length=80, pattern=r"^[0-9]{1,40}(\.[0-9]{1,40})?$",
                        description="A plain decimal at most at the asset's scale.",
                        examples=["0.01"])
    withdraw_order_id: str | None = Field(
        default=None, pattern=f"^{wallet.IDEMPOTENCY_KEY.pattern}$",
        description="The client's id for this withdrawal; a repeat with the same id "
        "withdraws nothing more (without one, the signature plays that part).")
    network: str | None = Field(default=None, max_length=20,
                                description="Accepted for compatibility; one network per coin.")


# Answers. Amounts are decimal strings at the asset's scale, times in ms.

Level = Annotated[list[str], Field(min_length=2, max_length=2,
                                   description="[price, quantity]")]


class Answer(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class EmptyAnswer(Answer):
    """`{}`."""

    model_config = ConfigDict(extra="forbid")


class ServerTime(Answer):
    server_time: int


class Depth(Answer):
    last_update_id: int
    bids: list[Level]
    asks: list[Level]


class Trade(Answer):
    id: int
    price: str
    qty: str
    quote_qty: str
    time: int
    is_buyer_maker: bool
    is_best_match: bool


class Trades(RootModel[list[Trade]]):
    """Oldest first."""


class Klines(RootModel[list[list[int | str]]]):
    """[openTime, open, high, low, close, volume, closeTime, quoteVolume, trades,
    takerBuyVolume, takerBuyQuoteVolume, "0"], oldest first."""


class TopOfBook(Answer):
    bid_price: str
    bid_qty: str
    ask_price: str
    ask_qty: str


class BookTicker(TopOfBook):
    symbol: str


class Ticker24hr(TopOfBook):
    symbol: str
    price_change: str
    price_change_percent: str
    weighted_avg_price: str
    prev_close_price: str
    last_price: str
    last_qty: str
    open_price: str
    high_price: str
    low_price: str
    volume: str
    quote_volume: str
    open_time: int
    close_time: int
    first_id: int
    last_id: int
    count: int


class PriceTicker(Answer):
    symbol: str
    price: str


class AveragePrice(Answer):
    mins: int
    price: str
    close_time: int


class Tickers24hr(RootModel[Ticker24hr | list[Ticker24hr]]):
    """One object for `symbol=`, otherwise a list."""


class PriceTickers(RootModel[PriceTicker | list[PriceTicker]]):
    """One object for `symbol=`, otherwise a list."""


class BookTickers(RootModel[BookTicker | list[BookTicker]]):
    """One object for `symbol=`, otherwise a list."""


class ExchangeInfo(Answer):
    model_config = ConfigDict(extra="allow")

    timezone: str
    server_time: int
    rate_limits: list[dict[str, Any]]
    exchange_filters: list[dict[str, Any]]
    symbols: list[dict[str, Any]]


class WithdrawApplied(Answer):
    id: str


class AssetBalance(Answer):
    asset: str
    free: str
    locked: str


class CommissionRates(Answer):
    maker: str
    taker: str
    buyer: str
    seller: str


class Account(Answer):
    """Fees differ per market: the commissions are the highest of them."""

    maker_commission: int
    taker_commission: int
    buyer_commission: int
    seller_commission: int
    commission_rates: CommissionRates
    can_trade: bool
    can_withdraw: bool
    can_deposit: bool
    brokered: bool
    require_self_trade_prevention: bool
    prevent_sor: bool
    update_time: int
    account_type: str
    balances: list[AssetBalance]
    permissions: list[str]
    uid: int
