"""Market data use cases against real PostgreSQL and Redis: what Redis lacks is rebuilt
from one PostgreSQL snapshot and written back without ever overwriting newer data;
klines join the candles table and Redis; the 24 h ticker adds candles and the trades
not folded into them yet.

BTCUSDT from the matching helpers: BTC has 8 decimals, USDT 2."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
import redis

from chalicelib.adapters.market_cache import RECENT_TRADES, MarketDataCache
from chalicelib.adapters.market_data_pg import read_market_snapshot
from chalicelib.domain.candles import Candle, Interval
from chalicelib.domain.errors import ApiError
from chalicelib.domain.stream_events import TradeEvent, decode_trade, encode, encode_kline_member
from chalicelib.service_layer import market_data as md
from tests.integration.matching.support import create_market, create_users

Conn = psycopg.Connection[Any]
SYMBOL = "BTCUSDT"
BTC = 10**8
MINUTE = 60_000
NOW = 1_700_000_000_000 // MINUTE * MINUTE + 30_000  # half a minute past a minute


@pytest.fixture
def cache(db: Conn, redis_client: redis.Redis) -> MarketDataCache:
    create_market(db)
    return MarketDataCache(redis_client)


def rest(db: Conn, side: str, price: int, qty: int, executed: int = 0,
         accepted_seq: int | None = 1) -> None:
    user = create_users(db, 1)[0]
    db.execute(
        "INSERT INTO orders (user_id, market, client_order_id, side, type, time_in_force,"
        " price, quantity, executed_qty, status, accepted_seq)"
        " VALUES (%s, %s, 'c', %s, 'LIMIT', 'GTC', %s, %s, %s, %s, %s)",
        (user, SYMBOL, side, price, qty, executed, "PARTIALLY_FILLED" if executed else "NEW",
         accepted_seq))


def set_sequence(db: Conn, seq: int) -> None:
    db.execute("INSERT INTO market_sequences (market, last_sequence) VALUES (%s, %s)"
               " ON CONFLICT (market) DO UPDATE SET last_sequence = excluded.last_sequence",
               (SYMBOL, seq))


def trade(db: Conn, trade_id: int, price: int, qty: int, time_ms: int,
          buyer_is_maker: bool = False) -> None:
    db.execute(
        "INSERT INTO trades (market, id, sequence, price, quantity, quote_quantity,"
        " maker_order_id, taker_order_id, maker_user_id, taker_user_id, buyer_is_maker,"
        " maker_fee, maker_fee_asset, taker_fee, taker_fee_asset, executed_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, 1, 2, 1, 2, %s, 0, 'BTC', 0, 'USDT',"
        " to_timestamp(%s))",
        (SYMBOL, trade_id, trade_id * 10, price, qty, price * qty // BTC, buyer_is_maker,
         time_ms / 1000))


def candle(db: Conn, interval: Interval, open_time: int, ohlc: tuple[int, int, int, int],
           volume: int, ids: tuple[int, int], quote_volume: int | None = None) -> None:
    db.execute(
        "INSERT INTO candles (market, interval, open_time, close_time, open, high, low, close,"
        " volume, quote_volume, trade_count, taker_buy_volume, taker_buy_quote_volume,"
        " first_trade_id, last_trade_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
        " 0, 0, %s, %s)",
        (SYMBOL, interval.value, open_time, open_time + MINUTE - 1, *ohlc, volume,
         quote_volume or ohlc[3] * volume // BTC, ids[1] - ids[0] + 1, *ids))


def cached_kline(redis_client: redis.Redis, open_time: int, close: int, last_id: int) -> None:
    candle = Candle(SYMBOL, Interval.M1, open_time, open_time + MINUTE - 1, 100, close, 100,
                    close, 5, 9, 1, 0, 0, last_id, last_id)
    redis_client.zadd(f"klines:{SYMBOL}:1m", {encode_kline_member(candle): open_time})


def test_depth_is_rebuilt_from_postgres_and_written_back(
    db: Conn, cache: MarketDataCache, redis_client: redis.Redis,
) -> None:
    rest(db, "BUY", 10_000, 3 * BTC)
    rest(db, "BUY", 10_000, 2 * BTC, executed=BTC)
    rest(db, "BUY", 9_900, BTC)
    rest(db, "BUY", 9_800, BTC, accepted_seq=None)  # not accepted by the matcher yet
    rest(db, "SELL", 10_100, BTC)
    trade(db, 1, 10_050, BTC // 2, NOW)
    set_sequence(db, 42)

    depth = md.depth(db, cache, SYMBOL, 1)

    assert (depth.book.seq, depth.book.bids, depth.book.asks) == (
        42, [(10_000, 4 * BTC)], [(10_100, BTC)])
    assert json.loads(redis_client.get(f"book:{SYMBOL}") or b"") == {
        "seq": 42, "bids": [["10000", str(4 * BTC)], ["9900", str(BTC)]],
        "asks": [["10100", str(BTC)]]}
    assert redis_client.get(f"seq:{SYMBOL}") == b"42"
    assert redis_client.hgetall(f"ticker:{SYMBOL}") == {
        b"seq": b"42", b"best_bid": b"10000", b"bid_qty": str(4 * BTC).encode(),
        b"best_ask": b"10100", b"ask_qty": str(BTC).encode(), b"last_price": b"10050"}
    assert json.loads(redis_client.get(f"last:{SYMBOL}") or b"") == {
        "seq": 10, "price": "10050", "trade_id": 1}
    assert md.depth(db, cache, SYMBOL, 5000).book.bids == [(10_000, 4 * BTC), (9_900, BTC)]


def test_a_rebuild_never_overwrites_what_the_matcher_wrote_later(
    db: Conn, cache: MarketDataCache, redis_client: redis.Redis,
) -> None:
    rest(db, "BUY", 10_000, BTC)
    set_sequence(db, 7)
    stale = read_market_snapshot(db, SYMBOL, RECENT_TRADES)
    newer = json.dumps({"seq": 9, "bids": [["10000", "5"]], "asks": []})
    redis_client.set(f"seq:{SYMBOL}", 9)
    redis_client.set(f"book:{SYMBOL}", newer)

    assert cache.restore(stale) is False
    assert redis_client.get(f"book:{SYMBOL}") == newer.encode()
    assert md.depth(db, cache, SYMBOL).book.seq == 9


def test_trades_with_a_gap_in_redis_are_read_from_postgres(
    db: Conn, cache: MarketDataCache, redis_client: redis.Redis,
) -> None:
    for trade_id in range(1, 6):
        trade(db, trade_id, 10_000 + trade_id, BTC, NOW + trade_id, buyer_is_maker=True)
    set_sequence(db, 50)
    for trade_id in (3, 5):  # the publisher lost the batch of trade 4
        redis_client.lpush(f"trades:{SYMBOL}", encode(TradeEvent(
            market=SYMBOL, seq=trade_id * 10, trade_id=trade_id, time_ms=NOW + trade_id,
            price=10_000 + trade_id, qty=BTC, quote_qty=1, buyer_is_maker=True,
            maker_order_id=1, taker_order_id=2)))

    found = md.recent_trades(db, cache, SYMBOL, 2).trades

    assert [(t.trade_id, t.price, t.time_ms, t.buyer_is_maker) for t in found] == [
        (4, 10_004, NOW + 4, True), (5, 10_005, NOW + 5, True)]
    # Written back whole: Redis now answers for all five.
    assert [decode_trade(t).trade_id for t in redis_client.lrange(f"trades:{SYMBOL}", 0, -1)
            ] == [5, 4, 3, 2, 1]
    assert [t.trade_id for t in md.recent_trades(db, cache, SYMBOL, 500).trades] == [
        1, 2, 3, 4, 5]


def test_klines_join_the_candles_table_and_redis(
    db: Conn, cache: MarketDataCache, redis_client: redis.Redis,
) -> None:
    base = NOW // MINUTE * MINUTE - 10 * MINUTE
    for i in range(5):  # stored minutes 0..4
        candle(db, Interval.M1, base + i * MINUTE, (100, 200, 100, 150), BTC, (i + 1, i + 1))
    for i in range(3, 7):  # Redis holds minutes 3..6, fresher than the table for 3 and 4
        cached_kline(redis_client, base + i * MINUTE, 300 + i, i + 1)

    def closes(**kw: Any) -> list[tuple[int, int]]:
        found = md.klines(db, cache, SYMBOL, Interval.M1, **kw).candles
        return [((c.open_time - base) // MINUTE, c.close) for c in found]

    assert closes() == [(0, 150), (1, 150), (2, 150), (3, 303), (4, 304), (5, 305), (6, 306)]
    assert closes(limit=5) == [(2, 150), (3, 303), (4, 304), (5, 305), (6, 306)]
    assert closes(start_ms=base + MINUTE, limit=3) == [(1, 150), (2, 150), (3, 303)]
    assert closes(end_ms=base + 4 * MINUTE, limit=2) == [(3, 303), (4, 304)]
    assert closes(start_ms=base + 4 * MINUTE, end_ms=base + 5 * MINUTE) == [(4, 304), (5, 305)]
    assert md.klines(db, cache, SYMBOL, Interval.H1).candles == []


def test_the_24hr_ticker_adds_candles_and_the_trades_not_folded_yet(
    db: Conn, cache: MarketDataCache, redis_client: redis.Redis,
) -> None:
    start = (NOW - 24 * 60 * MINUTE) // MINUTE * MINUTE
    trade(db, 1, 9_000, BTC, start - 1)  # before the window: the previous close
    candle(db, Interval.M1, start - MINUTE, (9_000, 9_000, 9_000, 9_000), BTC, (1, 1))
    trade(db, 2, 10_000, BTC, start)
    trade(db, 3, 12_000, BTC, start + 5)
    candle(db, Interval.M1, start, (10_000, 12_000, 10_000, 12_000), 2 * BTC, (2, 3),
           quote_volume=22_000)
    db.execute("INSERT INTO candle_progress (market, last_trade_id) VALUES (%s, 3)", (SYMBOL,))
    trade(db, 4, 8_000, 2 * BTC, NOW - 10)  # not in candles yet
    trade(db, 5, 11_000, BTC, NOW - 5)
    rest(db, "BUY", 10_900, BTC)
    set_sequence(db, 60)

    [ticker] = md.ticker_24hr(db, cache, [SYMBOL], NOW)

    assert (ticker.open_time, ticker.close_time) == (start, NOW)
    assert (ticker.open, ticker.high, ticker.low, ticker.last, ticker.last_qty,
            ticker.prev_close) == (10_000, 12_000, 8_000, 11_000, BTC, 9_000)
    assert (ticker.volume, ticker.quote_volume, ticker.count, ticker.first_id,
            ticker.last_id) == (5 * BTC, 22_000 + 16_000 + 11_000, 4, 2, 5)
    assert ticker.weighted_avg_price == 49_000 // 5
    assert (ticker.price_change, ticker.price_change_percent_milli) == (1_000, 10_000)
    assert (ticker.top.bid_price, ticker.top.ask_price) == (10_900, 0)

    trade(db, 6, 20_000, BTC, NOW)
    # Within the cache's second the statistics are shared until the matcher publishes
    # a newer trade; the book is always current.
    assert md.ticker_24hr(db, cache, None, NOW + 1)[0].last == 11_000
    redis_client.set(f"last:{SYMBOL}", json.dumps({"seq": 61, "price": "20000",
                                                   "trade_id": 6}))
    assert md.ticker_24hr(db, cache, None, NOW + 1)[0].last == 20_000


def test_the_average_price_is_over_the_last_five_minutes(db: Conn,
                                                         cache: MarketDataCache) -> None:
    trade(db, 1, 5_000, BTC, NOW - 6 * MINUTE)
    assert (md.average_price(db, SYMBOL, NOW).price,
            md.average_price(db, SYMBOL, NOW).close_time) == (5_000, NOW - 6 * MINUTE)
    trade(db, 2, 10_000, BTC, NOW - 4 * MINUTE)
    trade(db, 3, 13_000, 2 * BTC, NOW - MINUTE)
    average = md.average_price(db, SYMBOL, NOW)
    assert (average.minutes, average.price, average.close_time) == (5, 12_000, NOW - MINUTE)


def test_unknown_symbols_and_bad_limits_are_refused(db: Conn, cache: MarketDataCache) -> None:
    with pytest.raises(ApiError) as unknown:
        md.ticker_24hr(db, cache, [SYMBOL, "ETHUSDT"], NOW)
    with pytest.raises(ApiError) as too_deep:
        md.depth(db, cache, SYMBOL, 5001)
    with pytest.raises(ApiError) as bad_interval:
        md.parse_interval("7m")
    assert [e.value.code for e in (unknown, too_deep, bad_interval)] == [-1121, -1100, -1120]
