"""OHLCV candles ("klines") for Binance's intervals, folded from trades. Pure code.

Times are milliseconds since the epoch, UTC. A candle opens at an aligned open time and
closes one millisecond before the next one opens, as Binance's klines do:

* ``1s`` .. ``1d`` and ``3d`` are fixed-length buckets counted from the epoch, so
  ``open = t - t % length``. For ``3d`` that means candles open on days whose number
  since 1970-01-01 is a multiple of 3 (Binance's 3d klines follow the same epoch grid:
  they do not restart at months or weeks).
* ``1w`` opens on Monday 00:00 UTC. The epoch was a Thursday, so the grid of weeks is
  shifted by four days (1970-01-05 was the first Monday).
* ``1M`` opens at 00:00 UTC on the first day of the calendar month.

Amounts are integers of smallest units (prices in quote units per whole base unit,
volumes in base units, quote volumes in quote units), never floats.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS
# 1970-01-01 was a Thursday; Binance's weeks start on Monday, four days later.
FIRST_MONDAY_MS = 4 * DAY_MS


class Interval(StrEnum):
    S1 = "1s"
    M1 = "1m"
    M3 = "3m"
    M5 = "5m"
    M15 = "15m"
    M30 = "30m"
    H1 = "1h"
    H2 = "2h"
    H4 = "4h"
    H6 = "6h"
    H8 = "8h"
    H12 = "12h"
    D1 = "1d"
    D3 = "3d"
    W1 = "1w"
    MONTH1 = "1M"


# Every interval whose candles are fixed-length buckets on the epoch's grid.
FIXED_LENGTH_MS: dict[Interval, int] = {
    Interval.S1: 1000,
    Interval.M1: MINUTE_MS,
    Interval.M3: 3 * MINUTE_MS,
    Interval.M5: 5 * MINUTE_MS,
    Interval.M15: 15 * MINUTE_MS,
    Interval.M30: 30 * MINUTE_MS,
    Interval.H1: HOUR_MS,
    Interval.H2: 2 * HOUR_MS,
    Interval.H4: 4 * HOUR_MS,
    Interval.H6: 6 * HOUR_MS,
    Interval.H8: 8 * HOUR_MS,
    Interval.H12: 12 * HOUR_MS,
    Interval.D1: DAY_MS,
    Interval.D3: 3 * DAY_MS,
}

# The intervals the candles function folds and stores; 1s candles are built from the
# trades when asked for.
INTERVALS: tuple[Interval, ...] = tuple(i for i in Interval if i is not Interval.S1)


def open_time(interval: Interval, time_ms: int) -> int:
    """The open time of the ``interval`` candle that contains ``time_ms``."""
    if interval is Interval.W1:
        return time_ms - (time_ms - FIRST_MONDAY_MS) % WEEK_MS
    if interval is Interval.MONTH1:
        moment = datetime.fromtimestamp(time_ms // 1000, UTC)
        return _ms(datetime(moment.year, moment.month, 1, tzinfo=UTC))
    length = FIXED_LENGTH_MS[interval]
    return time_ms - time_ms % length


def next_open_time(interval: Interval, open_ms: int) -> int:
    """The open time of the candle after the one opening at ``open_ms``."""
    if interval is Interval.W1:
        return open_ms + WEEK_MS
    if interval is Interval.MONTH1:
        start = datetime.fromtimestamp(open_ms // 1000, UTC)
        year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
        return _ms(datetime(year, month, 1, tzinfo=UTC))
    return open_ms + FIXED_LENGTH_MS[interval]


def close_time(interval: Interval, open_ms: int) -> int:
    """Binance's close time: one millisecond before the next candle opens."""
    return next_open_time(interval, open_ms) - 1


def next_candle_end(traded_ms: int, after_ms: int) -> int | None:
    """The first moment after ``after_ms`` at which a candle (of any interval, 1s
    included) holding a trade at ``traded_ms`` has ended: the next open time of the
    soonest such candle still running at ``after_ms``; None once even the month has."""
    ends = (next_open_time(i, open_time(i, traded_ms)) for i in Interval)
    return min((end for end in ends if end > after_ms), default=None)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp()) * 1000


@dataclass(frozen=True, slots=True)
class Trade:
    """What a candle needs of one trade."""

    trade_id: int
    time_ms: int
    price: int
    qty: int
    quote_qty: int
    buyer_is_maker: bool


@dataclass(frozen=True, slots=True)
class Candle:
    market: str
    interval: Interval
    open_time: int
    close_time: int
    open: int
    high: int
    low: int
    close: int
    volume: int
    quote_volume: int
    trade_count: int
    # Binance's "taker buy" volumes: trades whose buyer was the taker.
    taker_buy_volume: int
    taker_buy_quote_volume: int
    first_trade_id: int
    last_trade_id: int

    @property
    def key(self) -> tuple[str, Interval, int]:
        return self.market, self.interval, self.open_time


def with_quiet_intervals(candles: Sequence[Candle], limit: int, *,
                         newest: bool) -> list[Candle]:
    """At most ``limit`` of ``candles`` (one market and interval, by open time) with the
    intervals between them that had no trade, as Binance lists them: volume 0, every
    price the previous close. Only traded candles are stored. ``newest`` keeps the
    newest ones, else the oldest; nothing beyond ``limit`` is ever built."""
    if not newest:
        out: list[Candle] = []
        for candle in candles:
            if out:
                quiet = next_open_time(candle.interval, out[-1].open_time)
                while quiet < candle.open_time and len(out) < limit:
                    out.append(_quiet(out[-1], quiet))
                    quiet = next_open_time(candle.interval, quiet)
            if len(out) >= limit:
                break
            out.append(candle)
        return out
    backwards: list[Candle] = []
    for i in range(len(candles) - 1, -1, -1):
        backwards.append(candles[i])
        if i == 0 or len(backwards) >= limit:
            break
        earlier = candles[i - 1]
        quiet = open_time(earlier.interval, candles[i].open_time - 1)
        while quiet > earlier.open_time and len(backwards) < limit:
            backwards.append(_quiet(earlier, quiet))
            quiet = open_time(earlier.interval, quiet - 1)
    return backwards[:limit][::-1]


def _quiet(previous: Candle, open_ms: int) -> Candle:
    price, trade_id = previous.close, previous.last_trade_id
    return Candle(previous.market, previous.interval, open_ms,
                  close_time(previous.interval, open_ms), price, price, price, price,
                  0, 0, 0, 0, 0, trade_id, trade_id)


def candle_of(market: str, interval: Interval, trade: Trade) -> Candle:
    """The candle of a single trade."""
    start = open_time(interval, trade.time_ms)
    taker_buy = not trade.buyer_is_maker
    return Candle(
        market=market, interval=interval, open_time=start,
        close_time=close_time(interval, start), open=trade.price, high=trade.price,
        low=trade.price, close=trade.price, volume=trade.qty, quote_volume=trade.quote_qty,
        trade_count=1, taker_buy_volume=trade.qty if taker_buy else 0,
        taker_buy_quote_volume=trade.quote_qty if taker_buy else 0,
        first_trade_id=trade.trade_id, last_trade_id=trade.trade_id)


def merge(earlier: Candle, later: Candle) -> Candle:
    """One candle of the same period from two that cover disjoint trades.

    Open comes from the candle with the lower first trade id and close from the one with
    the higher last trade id (trade ids grow with time within a market), so the result
    does not depend on which argument holds which trades.
    """
    opening = earlier if earlier.first_trade_id <= later.first_trade_id else later
    closing = earlier if earlier.last_trade_id >= later.last_trade_id else later
    return Candle(
        market=earlier.market, interval=earlier.interval, open_time=earlier.open_time,
        close_time=earlier.close_time, open=opening.open, high=max(earlier.high, later.high),
        low=min(earlier.low, later.low), close=closing.close,
        volume=earlier.volume + later.volume,
        quote_volume=earlier.quote_volume + later.quote_volume,
        trade_count=earlier.trade_count + later.trade_count,
        taker_buy_volume=earlier.taker_buy_volume + later.taker_buy_volume,
        taker_buy_quote_volume=earlier.taker_buy_quote_volume + later.taker_buy_quote_volume,
        first_trade_id=min(earlier.first_trade_id, later.first_trade_id),
        last_trade_id=max(earlier.last_trade_id, later.last_trade_id))


def fold(market: str, trades: Iterable[Trade],
         intervals: Iterable[Interval] = INTERVALS) -> list[Candle]:
    """The candles of ``trades`` (one market's) for every interval, in trade id order.

    Returns one candle per (interval, open time) the trades fall in, ordered by interval
    then open time.
    """
    ordered = sorted(trades, key=lambda t: t.trade_id)
    candles: dict[tuple[str, Interval, int], Candle] = {}
    for interval in intervals:
        for trade in ordered:
            candle = candle_of(market, interval, trade)
            held = candles.get(candle.key)
            candles[candle.key] = candle if held is None else merge(held, candle)
    position = {interval: i for i, interval in enumerate(Interval)}
    return sorted(candles.values(), key=lambda c: (position[c.interval], c.open_time))


def touched_keys(market: str, trades: Iterable[Trade],
                 intervals: Iterable[Interval] = INTERVALS) -> set[tuple[str, Interval, int]]:
    """The (market, interval, open time) of every candle the trades fall in."""
    times = {t.time_ms for t in trades}
    return {(market, interval, open_time(interval, time_ms))
            for interval in intervals for time_ms in times}
