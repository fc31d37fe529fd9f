"""Market data in Redis only moves forward: a stale batch (from an instance that lost
its partition just after committing) cannot overwrite newer data."""

from __future__ import annotations

import redis

from chalicelib.adapters.market_cache import MarketDataCache, MarketWrite
from chalicelib.domain.stream_events import TradeEvent, decode_trade, encode


def update(cache: MarketDataCache, seq: int, price: int) -> dict[str, Exception]:
    trade = TradeEvent(market="BTCUSDT", seq=seq, trade_id=seq, time_ms=seq, price=price,
                       qty=1, quote_qty=price, buyer_is_maker=False, maker_order_id=1,
                       taker_order_id=2)
    return cache.write([MarketWrite("BTCUSDT", seq, [(price, seq)], [], [encode(trade)],
                                    trade)])


def test_newer_batches_apply_and_stale_ones_are_ignored(redis_client: redis.Redis) -> None:
    cache = MarketDataCache(redis_client)
    for seq, price in ((10, 100), (7, 70), (12, 120), (13, 130)):
        assert update(cache, seq, price) == {}

    book = cache.book("BTCUSDT")
    assert book is not None
    assert (book.seq, book.bids) == (13, [(130, 13)])
    assert cache.last_price("BTCUSDT") == 130
    assert cache.last_trade_id("BTCUSDT") == 13
    assert redis_client.hget("ticker:BTCUSDT", "last_price") == b"130"
    held = redis_client.lrange("trades:BTCUSDT", 0, -1)
    assert [decode_trade(t).trade_id for t in held] == [13, 12, 10]
