"""Parameters and answers of the market data routes added for Binance's clients:
aggregate and historical trades (more to come here rather than in ``api_models``)."""

from __future__ import annotations

from pydantic import BaseModel, RootModel

from chalicelib.entrypoints.http.api_models import (
    Count,
    Millis,
    SymbolParams,
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
