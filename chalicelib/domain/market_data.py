"""Value types of public market data: books, trades and their totals. Pure code.

Amounts are integers of smallest units; prices are quote units per whole base unit.
A trade is a ``stream_events.TradeEvent``: the public sees the same fields wherever
it meets a trade.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.candles import Candle
from chalicelib.domain.stream_events import Level, TradeEvent


@dataclass(frozen=True, slots=True)
class MarketScales:
    symbol: str
    base_scale: int
    quote_scale: int

    @property
    def base_unit(self) -> int:
        return int(10**self.base_scale)


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """Aggregated price levels, best first, as of market sequence ``seq``."""

    seq: int
    bids: list[Level]
    asks: list[Level]

    def top(self) -> TopOfBook:
        """The best bid and ask (0 for an empty side)."""
        bid, ask = (self.bids[:1] or [(0, 0)])[0], (self.asks[:1] or [(0, 0)])[0]
        return TopOfBook(bid[0], bid[1], ask[0], ask[1])


@dataclass(frozen=True, slots=True)
class MarketSnapshot:
    """A market's book and newest trades (newest first), as of ``book.seq``."""

    market: str
    book: BookSnapshot
    trades: list[TradeEvent]


@dataclass(frozen=True, slots=True)
class TopOfBook:
    bid_price: int
    bid_qty: int
    ask_price: int
    ask_qty: int


@dataclass(frozen=True, slots=True)
class LastTrade:
    price: int
    qty: int
    time_ms: int


@dataclass(frozen=True, slots=True)
class TradeTotals:
    """What a run of consecutive trades adds up to: open/close are its first and last
    trade's price, ``first_id``/``last_id`` their ids."""

    open: int
    high: int
    low: int
    close: int
    volume: int
    quote_volume: int
    count: int
    first_id: int
    last_id: int

    def then(self, later: TradeTotals) -> TradeTotals:
        """These trades followed by ``later`` ones."""
        return TradeTotals(self.open, max(self.high, later.high), min(self.low, later.low),
                           later.close, self.volume + later.volume,
                           self.quote_volume + later.quote_volume, self.count + later.count,
                           self.first_id, later.last_id)


@dataclass(frozen=True, slots=True)
class Window:
    """The trades of a time window (``totals`` None without any), the price of the last
    trade before it (0 if none) and the market's last trade."""

    totals: TradeTotals | None
    prev_close: int
    last: LastTrade | None


@dataclass(frozen=True, slots=True)
class Fill:
    """One trade of an order, from that order's side."""

    trade_id: int
    price: int
    qty: int
    quote_qty: int
    time_ms: int
    is_maker: bool
    commission: int
    commission_asset: str


@dataclass(frozen=True, slots=True)
class Prevention:
    """What self-trade prevention prevented of an order it expired: the prevented match
    that expired it (its id and the other order), and the maker quantity prevented over
    all the order's prevented matches and in that last one."""

    prevented_match_id: int
    counter_order_id: int
    prevented_qty: int
    last_prevented_qty: int


# --- what the market data use cases answer: the data with its market's scales

@dataclass(frozen=True, slots=True)
class Depth:
    market: MarketScales
    book: BookSnapshot


@dataclass(frozen=True, slots=True)
class Trades:
    market: MarketScales
    trades: list[TradeEvent]  # oldest first, as Binance lists them


@dataclass(frozen=True, slots=True)
class Klines:
    market: MarketScales
    candles: list[Candle]  # by open time


@dataclass(frozen=True, slots=True)
class Ticker24hr:
    """Binance's rolling 24 h statistics of one market. The window starts on a minute
    boundary (the 1m candles it is built from): [open_time, close_time] covers between
    24 h and 24 h + 1 min. Without trades in it, open/high/low equal the last price and
    first_id/last_id are -1, as Binance reports them."""

    market: MarketScales
    open_time: int
    close_time: int
    open: int
    high: int
    low: int
    last: int
    last_qty: int
    prev_close: int
    volume: int
    quote_volume: int
    weighted_avg_price: int
    first_id: int
    last_id: int
    count: int
    top: TopOfBook

    @property
    def price_change(self) -> int:
        return self.last - self.open

    @property
    def price_change_percent_milli(self) -> int:
        """The change in thousandths of a percent (Binance prints three decimals),
        rounded half away from zero."""
        if self.open == 0:
            return 0
        magnitude = (abs(self.price_change) * 100_000 * 2 + self.open) // (2 * self.open)
        return magnitude if self.price_change >= 0 else -magnitude


@dataclass(frozen=True, slots=True)
class LastPrice:
    market: MarketScales
    price: int


@dataclass(frozen=True, slots=True)
class BookTicker:
    market: MarketScales
    top: TopOfBook


@dataclass(frozen=True, slots=True)
class AveragePrice:
    market: MarketScales
    minutes: int
    price: int
    close_time: int
