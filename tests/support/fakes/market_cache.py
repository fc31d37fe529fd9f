"""The market-data cache's fake: what ``adapters.market_cache`` keeps in Redis, in
memory, with the same sequence guards and limits, and time to live read from a clock."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from chalicelib.adapters.market_cache import (
    BOOK_LEVELS,
    RECENT_KLINES,
    RECENT_TRADES,
    MarketWrite,
)
from chalicelib.domain import stream_events as wire
from chalicelib.domain.candles import Candle, Interval
from chalicelib.domain.clock import Clock
from chalicelib.domain.market_data import BookSnapshot, MarketSnapshot, TopOfBook
from chalicelib.domain.stream_events import Level, TradeEvent


@dataclass
class HeldMarket:
    """One market's keys; None (or empty) for a key not held."""

    seq: int | None = None
    book: BookSnapshot | None = None
    last_trade: TradeEvent | None = None
    trades: list[bytes] = field(default_factory=list)  # encoded, newest first


class FakeMarketCache:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.markets: dict[str, HeldMarket] = {}
        self._klines: dict[tuple[str, Interval], dict[int, bytes]] = {}
        self._stats: dict[tuple[str, int], tuple[dict[str, int], int]] = {}

    def _held(self, market: str) -> HeldMarket:
        return self.markets.setdefault(market, HeldMarket())

    def book(self, market: str) -> BookSnapshot | None:
        return self._held(market).book

    def newest_trades(self, market: str, limit: int) -> list[TradeEvent] | None:
        trades = [wire.decode_trade(item) for item in self._held(market).trades[:limit]]
        if not trades:
            return None
        newest = trades[0].trade_id
        without_gap = [t.trade_id for t in trades] == list(range(newest, newest - len(trades), -1))
        since_the_first = trades[-1].trade_id == 1
        return trades if without_gap and (len(trades) == limit or since_the_first) else None

    def top_of_book(self, market: str) -> TopOfBook | None:
        """Redis's ``ticker:`` hash, written with the book each time: its top."""
        book = self._held(market).book
        return None if book is None else book.top()

    def last_price(self, market: str) -> int | None:
        last = self._held(market).last_trade
        return None if last is None else last.price

    def last_trade_id(self, market: str) -> int:
        last = self._held(market).last_trade
        return 0 if last is None else last.trade_id

    def write(self, writes: Sequence[MarketWrite]) -> dict[str, Exception]:
        """Each market's update unless it holds that sequence or a newer one."""
        for w in writes:
            held = self._held(w.market)
            if (held.seq or 0) >= w.seq:
                continue
            held.seq = w.seq
            held.book = _book(w.seq, w.bids, w.asks)
            held.last_trade = w.last_trade or held.last_trade
            kept = w.trade_events[-RECENT_TRADES:]
            held.trades = [*reversed(kept), *held.trades][:RECENT_TRADES] if kept else held.trades
        return {}

    def restore(self, snap: MarketSnapshot) -> bool:
        held = self._held(snap.market)
        book = snap.book
        if (-1 if held.seq is None else held.seq) > book.seq:
            return False
        newest = snap.trades[0] if snap.trades else None
        self.markets[snap.market] = HeldMarket(
            book.seq, _book(book.seq, book.bids, book.asks), newest,
            [wire.encode(t) for t in snap.trades])
        return True

    def put_klines(self, candles: Iterable[Candle]) -> None:
        """As ``RecentKlines.put``: a candle replaces the one at its open time unless
        that one is a later state; the newest ``RECENT_KLINES`` are kept."""
        for c in candles:
            held = self._klines.setdefault((c.market, c.interval), {})
            there = held.get(c.open_time)
            if there is not None and _last_trade_id(c, there) > c.last_trade_id:
                continue
            held[c.open_time] = wire.encode_kline_member(c)
            for open_time in sorted(held)[:-RECENT_KLINES]:
                del held[open_time]

    def oldest_kline_time(self, market: str, interval: Interval) -> int | None:
        return min(self._klines.get((market, interval), {}), default=None)

    def klines(self, market: str, interval: Interval, start_ms: int, end_ms: int, limit: int,
               *, newest: bool) -> list[Candle]:
        held = self._klines.get((market, interval), {})
        times = [t for t in sorted(held) if start_ms <= t <= end_ms]
        chosen = times[-limit:] if newest else times[:limit]
        return [wire.decode_kline_member(market, interval, held[t]) for t in chosen]

    def ticker_stats(self, market: str, last_trade_id: int) -> dict[str, int] | None:
        stats, expires_ms = self._stats.get((market, last_trade_id), ({}, -1))
        # Redis keeps a key through its expiry's millisecond.
        return dict(stats) if self.clock.now_ms() <= expires_ms else None

    def cache_ticker_stats(self, market: str, last_trade_id: int, stats: dict[str, int],
                           ttl_ms: int) -> None:
        self._stats[(market, last_trade_id)] = (dict(stats), self.clock.now_ms() + ttl_ms)


def _book(seq: int, bids: list[Level], asks: list[Level]) -> BookSnapshot:
    return BookSnapshot(seq, bids[:BOOK_LEVELS], asks[:BOOK_LEVELS])


def _last_trade_id(candle: Candle, member: bytes) -> int:
    return wire.decode_kline_member(candle.market, candle.interval, member).last_trade_id
