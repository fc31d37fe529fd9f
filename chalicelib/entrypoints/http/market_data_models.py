"""Parameters and answers of the market data routes added for Binance's clients:
aggregate and historical trades, rolling window and trading day tickers, the MINI
tickers (here rather than in ``api_models``, which holds the first routes')."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field, RootModel

from chalicelib.domain.ticker_windows import DEFAULT_WINDOW
from chalicelib.entrypoints.http.api_models import (
    Answer,
    Count,
    KlinesParams,
    MarketsParams,
    Millis,
    SymbolParams,
    Tickers24hr,
    limit_field,
)
from chalicelib.service_layer import market_data as md
from chalicelib.service_layer import trade_history as history


class HistoricalTradesParams(SymbolParams):
    """`GET /api/v3/historicalTrades`: from trade `fromId` on, else the newest."""

    from_id: Count | None = None
    limit: Count = limit_field(md.TRADES_LIMIT_DEFAULT, md.TRADES_LIMIT_MAX)


class AggTradesParams(SymbolParams):
    """`GET /api/v3/aggTrades`: from aggregate `fromId` on, or from `startTime` on (at
    most an hour to `endTime`), else the newest."""

    from_id: Count | None = None
    start_time: Millis | None = None
    end_time: Millis | None = None
    limit: Count = limit_field(history.AGG_TRADES_LIMIT_DEFAULT, history.AGG_TRADES_LIMIT_MAX)


class AggTrade(BaseModel):
    """Binance's one-letter fields: `a` aggregate id (its first trade's id), `p` price,
    `q` quantity, `f`/`l` first and last trade id, `T` time, `m` buyer was the maker,
    `M` best match."""

    a: int
    p: str
    q: str
    f: int
    l: int  # noqa: E741 (Binance's name)
    T: int
    m: bool
    M: bool


class AggTrades(RootModel[list[AggTrade]]):
    """Oldest first."""


class ZonedKlinesParams(KlinesParams):
    """`GET /api/v3/klines` and `uiKlines`: intervals begin in `timeZone` (startTime and
    endTime stay UTC)."""

    time_zone: str = Field(default="0", max_length=6,
                           description="Hours or hours:minutes from UTC, -12:00 to +14:00.")


class TickerType(StrEnum):
    """Every statistic (FULL) or only prices and volumes (MINI)."""

    FULL = "FULL"
    MINI = "MINI"


class Ticker24hrParams(MarketsParams):
    """`GET /api/v3/ticker/24hr`."""

    type: TickerType = TickerType.FULL


class WindowTickerParams(MarketsParams):
    """`GET /api/v3/ticker`: `symbol` or `symbols` (at most 100) is mandatory."""

    window_size: str = Field(default=DEFAULT_WINDOW, pattern=r"^[0-9]{1,2}[mhd]$",
                             description="1m..59m, 1h..23h or 1d..7d.")
    type: TickerType = TickerType.FULL


class TradingDayParams(MarketsParams):
    """`GET /api/v3/ticker/tradingDay`: `symbol` or `symbols` (at most 100) is mandatory."""

    time_zone: str = Field(default="0", max_length=6,
                           description="Hours or hours:minutes from UTC, -12:00 to +14:00.")
    type: TickerType = TickerType.FULL


class MiniTicker(Answer):
    symbol: str
    open_price: str
    high_price: str
    low_price: str
    last_price: str
    volume: str
    quote_volume: str
    open_time: int
    close_time: int
    first_id: int
    last_id: int
    count: int


class WindowTicker(MiniTicker):
    """FULL: the MINI fields and the change, its percentage and the average price."""

    price_change: str
    price_change_percent: str
    weighted_avg_price: str


class MiniTickers(RootModel[MiniTicker | list[MiniTicker]]):
    """One object for `symbol=`, otherwise a list."""


class WindowTickers(RootModel[WindowTicker | list[WindowTicker] | MiniTicker
                              | list[MiniTicker]]):
    """One object for `symbol=`, otherwise a list; MINI or FULL."""


class Tickers24hrAnswer(RootModel[Tickers24hr | MiniTickers]):
    """FULL or MINI; one object for `symbol=`, otherwise a list."""
