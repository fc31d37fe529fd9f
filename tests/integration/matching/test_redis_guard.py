"""Market data in Redis only moves forward: a stale batch (from an instance that lost
its partition just after committing) cannot overwrite newer data."""

from __future__ import annotations

import json

import redis

from matching_cluster.service.publishing import GUARDED_MARKET_UPDATE

KEYS = ["seq:BTCUSDT", "book:BTCUSDT", "ticker:BTCUSDT", "trades:BTCUSDT", "last:BTCUSDT"]


def update(client: redis.Redis, seq: int, price: str) -> int:
    script = client.register_script(GUARDED_MARKET_UPDATE)
    trade = json.dumps({"seq": seq, "price": price})
    return int(script(keys=KEYS, args=[seq, json.dumps({"seq": seq}),
                                       json.dumps({"seq": str(seq), "last_price": price}),
                                       trade, 2, trade]))


def test_newer_batches_apply_and_stale_ones_are_ignored(redis_client: redis.Redis) -> None:
    assert update(redis_client, 10, "100") == 1
    assert update(redis_client, 7, "70") == 0
    assert update(redis_client, 12, "120") == 1
    assert update(redis_client, 13, "130") == 1

    assert json.loads(redis_client.get("book:BTCUSDT") or b"{}") == {"seq": 13}
    assert redis_client.hget("ticker:BTCUSDT", "last_price") == b"130"
    assert [json.loads(t)["seq"] for t in redis_client.lrange("trades:BTCUSDT", 0, -1)] == [
        13, 12]
    assert json.loads(redis_client.get("last:BTCUSDT") or b"{}")["price"] == "130"
