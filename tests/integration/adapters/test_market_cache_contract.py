"""The market-data cache, real (Redis) and fake: what a write, a restore and the candles
function leave readable, the sequence guards, the limits, and the 24 h statistics'
time to live."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import pytest
import redis

from chalicelib.adapters.market_cache import (
    BOOK_LEVELS,
    RECENT_KLINES,
    RECENT_TRADES,
    ClosedKlines,
    MarketDataCache,
    MarketWrite,
    Notice,
    RecentKlines,
)
from chalicelib.domain.candles import Candle, Interval
from chalicelib.domain.clock import ManualClock
from chalicelib.domain.market_data import BookSnapshot, MarketSnapshot, TopOfBook
from chalicelib.domain.stream_events import Level, TradeEvent, encode
from chalicelib.service_layer.ports import MarketCache
from tests.support.fakes.market_cache import FakeMarketCache
from tests.support.polling import wait_until

SYMBOL = "BTCUSDT"
MINUTE_MS = 60_000
TTL_MS = 50


@dataclass(frozen=True)
class CacheRig:
    cache: MarketCache
    write: Callable[[Sequence[MarketWrite]], dict[str, Exception]]
    put_klines: Callable[[Iterable[Candle]], None]
    let_time_pass: Callable[[int], None]


@pytest.fixture(params=["fake", "redis"])
def rig(request: pytest.FixtureRequest) -> CacheRig:
    if request.param == "fake":
        clock = ManualClock(1_700_000_000_000)
        fake = FakeMarketCache(clock)
        return CacheRig(fake, fake.write, fake.put_klines, clock.advance)
    client: redis.Redis = request.getfixturevalue("redis_client")
    real = MarketDataCache(client)
    # Redis keeps its own time: the only way to let it pass is to wait.
    return CacheRig(real, real.write, RecentKlines(client).put,
                    lambda ms: time.sleep(ms / 1000))


def trade(trade_id: int, price: int = 100) -> TradeEvent:
    return TradeEvent(market=SYMBOL, seq=trade_id, trade_id=trade_id, time_ms=trade_id,
                      price=price, qty=1, quote_qty=price, buyer_is_maker=False,
                      maker_order_id=1, taker_order_id=2)


def batch(seq: int, trade_ids: Iterable[int] = (), bids: list[Level] | None = None,
          asks: list[Level] | None = None) -> MarketWrite:
    trades = [trade(i, price=100 + i) for i in trade_ids]
    return MarketWrite(SYMBOL, seq, [(99, 5)] if bids is None else bids,
                       [(101, 7)] if asks is None else asks, [encode(t) for t in trades],
                       trades[-1] if trades else None)


def candle(open_time: int, last_trade_id: int, close: int = 100) -> Candle:
    return Candle(SYMBOL, Interval.M1, open_time, open_time + MINUTE_MS - 1, close, close,
                  close, close, 1, close, 1, 0, 0, last_trade_id, last_trade_id)


def ids(trades: list[TradeEvent] | None) -> list[int] | None:
    return None if trades is None else [t.trade_id for t in trades]


def test_nothing_is_answered_for_what_is_not_held(rig: CacheRig) -> None:
    cache = rig.cache
    assert (cache.book(SYMBOL), cache.newest_trades(SYMBOL, 10), cache.top_of_book(SYMBOL),
            cache.last_price(SYMBOL), cache.last_trade_id(SYMBOL)) == (None, None, None, None, 0)
    assert cache.oldest_kline_time(SYMBOL, Interval.M1) is None
    assert cache.klines(SYMBOL, Interval.M1, 0, 2**62, 10, newest=True) == []
    assert cache.ticker_stats(SYMBOL, 0) is None


def test_a_write_is_read_back_top_levels_and_newest_trades_first(rig: CacheRig) -> None:
    bids = [(1000 - i, i + 1) for i in range(BOOK_LEVELS + 5)]
    assert rig.write([batch(3, [1, 2, 3], bids=bids, asks=[])]) == {}

    cache = rig.cache
    assert cache.book(SYMBOL) == BookSnapshot(3, bids[:BOOK_LEVELS], [])
    assert cache.top_of_book(SYMBOL) == TopOfBook(1000, 1, 0, 0)
    assert (cache.last_price(SYMBOL), cache.last_trade_id(SYMBOL)) == (103, 3)
    assert cache.newest_trades(SYMBOL, 2) == [trade(3, 103), trade(2, 102)]


def test_a_write_no_newer_than_what_is_held_changes_nothing(rig: CacheRig) -> None:
    rig.write([batch(5, [1, 2])])
    rig.write([batch(5, [3], bids=[(98, 1)]), batch(4, [3], bids=[(97, 1)])])
    rig.write([batch(6, bids=[(96, 2)])])  # no trade in this batch: the last one stays

    cache = rig.cache
    assert cache.book(SYMBOL) == BookSnapshot(6, [(96, 2)], [(101, 7)])
    assert (cache.last_price(SYMBOL), cache.last_trade_id(SYMBOL)) == (102, 2)
    assert ids(cache.newest_trades(SYMBOL, 5)) == [2, 1]


def test_newest_trades_are_answered_only_without_a_gap(rig: CacheRig) -> None:
    rig.write([batch(2, [1, 2])])
    rig.write([batch(5, [4, 5])])  # trade 3 never reached the cache

    assert ids(rig.cache.newest_trades(SYMBOL, 2)) == [5, 4]
    assert rig.cache.newest_trades(SYMBOL, 3) is None


def test_newest_trades_are_answered_only_when_all_asked_for_are_held(rig: CacheRig) -> None:
    rig.write([batch(5, range(1, 6))])
    rig.write([batch(RECENT_TRADES + 5, range(6, RECENT_TRADES + 6))])

    cache = rig.cache
    newest = ids(cache.newest_trades(SYMBOL, RECENT_TRADES))
    assert newest == list(range(RECENT_TRADES + 5, 5, -1))
    assert cache.newest_trades(SYMBOL, RECENT_TRADES + 1) is None


def test_a_restore_writes_a_whole_state_unless_a_newer_one_is_held(rig: CacheRig) -> None:
    rig.write([batch(7, [1, 2])])
    cache = rig.cache
    older = MarketSnapshot(SYMBOL, BookSnapshot(6, [(50, 1)], []), [])
    same = MarketSnapshot(SYMBOL, BookSnapshot(7, [(99, 5)], []), [])

    assert cache.restore(older) is False
    assert cache.book(SYMBOL) == BookSnapshot(7, [(99, 5)], [(101, 7)])
    assert cache.restore(same) is True
    assert cache.book(SYMBOL) == same.book
    assert cache.top_of_book(SYMBOL) == TopOfBook(99, 5, 0, 0)
    assert (cache.last_price(SYMBOL), cache.newest_trades(SYMBOL, 1)) == (None, None)


def test_a_restore_brings_back_the_trades_newest_first(rig: CacheRig) -> None:
    trades = [trade(i, price=100 + i) for i in (3, 2, 1)]

    assert rig.cache.restore(MarketSnapshot(SYMBOL, BookSnapshot(3, [], [(101, 1)]), trades))

    assert rig.cache.newest_trades(SYMBOL, 5) == trades
    assert (rig.cache.last_price(SYMBOL), rig.cache.last_trade_id(SYMBOL)) == (103, 3)


def test_klines_by_open_time_newest_or_oldest_within_the_range(rig: CacheRig) -> None:
    rig.put_klines([candle(i * MINUTE_MS, i) for i in (4, 1, 3, 2, 5)])

    cache = rig.cache
    opens = [c.open_time // MINUTE_MS
             for c in cache.klines(SYMBOL, Interval.M1, MINUTE_MS, 4 * MINUTE_MS, 2,
                                   newest=True)]
    assert opens == [3, 4]
    oldest = cache.klines(SYMBOL, Interval.M1, 2 * MINUTE_MS, 2**62, 2, newest=False)
    assert oldest == [candle(2 * MINUTE_MS, 2), candle(3 * MINUTE_MS, 3)]
    assert cache.oldest_kline_time(SYMBOL, Interval.M1) == MINUTE_MS
    assert cache.klines(SYMBOL, Interval.M5, 0, 2**62, 10, newest=True) == []


def test_a_candle_replaces_an_earlier_state_never_a_later_one(rig: CacheRig) -> None:
    rig.put_klines([candle(0, 5, close=105)])
    rig.put_klines([candle(0, 4, close=104)])
    assert rig.cache.klines(SYMBOL, Interval.M1, 0, 0, 5, newest=True) == [candle(0, 5, 105)]
    rig.put_klines([candle(0, 6, close=106)])
    assert rig.cache.klines(SYMBOL, Interval.M1, 0, 0, 5, newest=True) == [candle(0, 6, 106)]


def test_only_the_newest_candles_are_kept(rig: CacheRig) -> None:
    rig.put_klines([candle(i * MINUTE_MS, i + 1) for i in range(RECENT_KLINES + 2)])

    assert rig.cache.oldest_kline_time(SYMBOL, Interval.M1) == 2 * MINUTE_MS


def test_ticker_stats_are_kept_per_last_trade_until_their_time_to_live_passes(
    rig: CacheRig
) -> None:
    stats = {"open": 1, "high": 2, "count": 3}
    rig.cache.cache_ticker_stats(SYMBOL, 7, stats, TTL_MS)

    assert rig.cache.ticker_stats(SYMBOL, 7) == stats
    assert rig.cache.ticker_stats(SYMBOL, 8) is None
    rig.let_time_pass(TTL_MS + 1)
    assert rig.cache.ticker_stats(SYMBOL, 7) is None


def test_writes_go_on_after_redis_lost_its_scripts(redis_client: redis.Redis) -> None:
    """A restarted, failed-over or flushed Redis answers NOSCRIPT: the script is loaded
    again and each update runs once, guards included."""
    cache, klines, finals = (MarketDataCache(redis_client), RecentKlines(redis_client),
                             ClosedKlines(redis_client))
    assert cache.write([batch(1, [1])]) == {}
    klines.put([candle(0, 1, close=101)])
    finals.advance({SYMBOL: MINUTE_MS})

    redis_client.script_flush()
    assert cache.write([batch(2, [2, 3], bids=[(98, 1)]), batch(2, [2, 3])]) == {}
    redis_client.script_flush()
    klines.put([candle(0, 2, close=102), candle(0, 1, close=101)])
    redis_client.script_flush()
    finals.advance({SYMBOL: 2 * MINUTE_MS})

    assert cache.book(SYMBOL) == BookSnapshot(2, [(98, 1)], [(101, 7)])
    assert ids(cache.newest_trades(SYMBOL, 10)) == [3, 2, 1]
    assert cache.klines(SYMBOL, Interval.M1, 0, 0, 5, newest=True) == [candle(0, 2, 102)]
    assert finals.sent_before([SYMBOL]) == {SYMBOL: 2 * MINUTE_MS}


def test_a_notice_goes_out_after_the_writes_it_follows(redis_client: redis.Redis) -> None:
    """Sent in the writes' round trip, after them, or alone when nothing is written. When
    Redis lost its scripts the notice goes out once more, after the writes ran (the
    script cache is the server's: whether a write finds it depends on other clients, so
    a notice may come once or twice)."""
    cache = MarketDataCache(redis_client)
    channel = f"test-notice:{uuid.uuid4().hex}"
    listener = redis_client.pubsub(ignore_subscribe_messages=True)
    listener.subscribe(channel)
    wait_until(lambda: redis_client.pubsub_numsub(channel), timeout=10,
               what="the subscription", until=lambda n: n[0][1] >= 1)
    received: list[bytes] = []

    def read_notices() -> list[bytes]:
        message = listener.get_message(timeout=0.1)
        if message is not None:
            received.append(bytes(message["data"]))
        return received

    try:
        assert cache.write([batch(1, [1])], Notice(channel, b"first")) == {}
        wait_until(read_notices, timeout=10, what="the first notice",
                   until=lambda r: b"first" in r)
        assert cache.book(SYMBOL) == BookSnapshot(1, [(99, 5)], [(101, 7)])
        redis_client.script_flush()
        assert cache.write([batch(2, [2], bids=[(98, 1)])], Notice(channel, b"second")) == {}
        assert cache.book(SYMBOL) == BookSnapshot(2, [(98, 1)], [(101, 7)])
        assert cache.write([], Notice(channel, b"alone")) == {}
        wait_until(read_notices, timeout=10, what="the notice alone",
                   until=lambda r: b"alone" in r)
    finally:
        listener.close()

    assert list(dict.fromkeys(received)) == [b"first", b"second", b"alone"]
    assert received.count(b"alone") == 1
    assert received.count(b"second") <= 2
