"""The market-data cache's fake: what ``adapters.market_cache`` keeps in Redis, in
memory, with the same sequence guards and limits, and time to live read from a clock."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from chalicelib.adapters.market_cache import (
    BOOK_LEVELS,
    RECENT_KLINES,
    RECENT_TRADES,
    MarketWrite,
)
from chalicelib.domain.candles import Candle, Interval
from chalicelib.domain.clock import Clock
from chalicelib.domain.market_data import BookSnapshot, MarketSnapshot, TopOfBook
from chalicelib.domain.stream_events import (
    Level,
    TradeEvent,
    decode_kline_member,
    decode_trade,
    encode,
    encode_kline_member,
)


@dataclass
class HeldMarket:
    """One market's keys; None (or empty) for a key not held."""

    seq: int | None = None
    book: BookSnapshot | None = None
    ticker: dict[str, str] = field(default_factory=dict)
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
        trades = [decode_trade(item) for item in self._held(market).trades[:limit]]
        if not trades:
            return None
        contiguous = all(a.trade_id == b.trade_id + 1 for a, b in itertools.pairwise(trades))
        complete = len(trades) == limit or trades[-1].trade_id == 1
        return trades if contiguous and complete else None

    def top_of_book(self, market: str) -> TopOfBook | None:
        ticker = self._held(market).ticker
        if "best_bid" not in ticker or "best_ask" not in ticker:
            return None
        return TopOfBook(int(ticker["best_bid"] or 0), int(ticker["bid_qty"] or 0),
                         int(ticker["best_ask"] or 0), int(ticker["ask_qty"] or 0))

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
            held.ticker.update(_ticker(w.seq, w.bids, w.asks, w.last_trade))
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
            book.seq, _book(book.seq, book.bids, book.asks),
            _ticker(book.seq, book.bids, book.asks, newest), newest,
            [encode(t) for t in snap.trades])
        return True

    def put_klines(self, candles: Iterable[Candle]) -> None:
        """As ``RecentKlines.put``: a candle replaces the one at its open time unless
        that one is a later state; the newest ``RECENT_KLINES`` are kept."""
        for c in candles:
            held = self._klines.setdefault((c.market, c.interval), {})
            there = held.get(c.open_time)
            if there is not None and _last_trade_id(c, there) > c.last_trade_id:
                continue
            held[c.open_time] = encode_kline_member(c)
            for open_time in sorted(held)[:-RECENT_KLINES]:
                del held[open_time]

    def oldest_kline_time(self, market: str, interval: Interval) -> int | None:
        return min(self._klines.get((market, interval), {}), default=None)

    def klines(self, market: str, interval: Interval, start_ms: int, end_ms: int, limit: int,
               *, newest: bool) -> list[Candle]:
        held = self._klines.get((market, interval), {})
        times = [t for t in sorted(held) if start_ms <= t <= end_ms]
        chosen = times[-limit:] if newest else times[:limit]
        return [decode_kline_member(market, interval, held[t]) for t in chosen]

    def ticker_stats(self, market: str, last_trade_id: int) -> dict[str, int] | None:
        stats, expires_ms = self._stats.get((market, last_trade_id), ({}, -1))
        # Redis keeps a key through its expiry's millisecond.
        return dict(stats) if self.clock.now_ms() <= expires_ms else None

    def cache_ticker_stats(self, market: str, last_trade_id: int, stats: dict[str, int],
                           ttl_ms: int) -> None:
        self._stats[(market, last_trade_id)] = (dict(stats), self.clock.now_ms() + ttl_ms)


def _book(seq: int, bids: list[Level], asks: list[Level]) -> BookSnapshot:
    return BookSnapshot(seq, bids[:BOOK_LEVELS], asks[:BOOK_LEVELS])


def _ticker(seq: int, bids: list[Level], asks: list[Level],
            last_trade: TradeEvent | None) -> dict[str, str]:
    bid = (str(bids[0][0]), str(bids[0][1])) if bids else ("", "")
    ask = (str(asks[0][0]), str(asks[0][1])) if asks else ("", "")
    fields = {"seq": str(seq), "best_bid": bid[0], "bid_qty": bid[1], "best_ask": ask[0],
              "ask_qty": ask[1]}
    return fields if last_trade is None else {**fields, "last_price": str(last_trade.price)}


def _last_trade_id(candle: Candle, member: bytes) -> int:
    return decode_kline_member(candle.market, candle.interval, member).last_trade_id
