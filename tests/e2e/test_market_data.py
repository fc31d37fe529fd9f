"""Public market data through the API while the matcher trades: depth, trades and tickers
agree with PostgreSQL (the source of truth) after a random order stream, recover exact
values after Redis is flushed in the middle of it, and bad parameters get Binance's
errors.

BTCUSDT: BTC has 8 decimals, USDT 6; tick 0.01 USDT, step 0.0001 BTC."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import psycopg
import pytest
import redis
from chalice.test import Client
from openapi_schema_validator import OAS31Validator, validate

from chalicelib.adapters.market_cache import MarketDataCache
from chalicelib.domain.candles import Interval
from chalicelib.entrypoints.http.openapi import openapi_document
from chalicelib.service_layer import market_data as md
from chalicelib.settings import Settings
from tests.e2e.conftest import ApiKey, Caller, fund, now_ms
from tests.e2e.settling import last_sequence, wait_until_settled
from tests.support.polling import wait_until

Conn = psycopg.Connection[Any]
SYMBOL = "BTCUSDT"


@pytest.fixture
def traders(admin: Caller, alice: Caller, bob: Caller, btcusdt: str,
            matcher: Settings) -> list[ApiKey]:
    for user in (alice, bob):
        fund(admin, user, "USDT", "1000000")
        fund(admin, user, "BTC", "50")
    return [alice.new_api_key(["READ", "TRADE"]), bob.new_api_key(["READ", "TRADE"])]


def get(client: Client, path: str) -> Any:
    response = client.http.get(path)
    assert response.status_code == 200, (path, response.body)
    return response.json_body


def place_random_orders(rng: random.Random, traders: list[ApiKey], count: int) -> None:
    open_ids: list[tuple[ApiKey, int]] = []
    for _ in range(count):
        key = rng.choice(traders)
        if open_ids and rng.random() < 0.15:
            owner, order_id = open_ids.pop(rng.randrange(len(open_ids)))
            owner.delete("/api/v3/order", {"symbol": SYMBOL, "orderId": order_id})
            continue
        side = rng.choice(["BUY", "SELL"])
        params: dict[str, object] = {"symbol": SYMBOL, "side": side,
                                     "quantity": f"0.0{rng.randint(1, 9)}{rng.randint(0, 9)}"}
        if rng.random() < 0.1:
            params["type"] = "MARKET"
        else:
            params.update(type="LIMIT", timeInForce=rng.choice(["GTC", "GTC", "GTC", "IOC"]),
                          price=f"{20000 + rng.randint(-15, 15) * 5}.{rng.randint(0, 9)}0")
        response = key.post_form("/api/v3/order", {**params, "newOrderRespType": "RESULT"})
        assert response.status_code == 200, response.body
        if response.json_body["status"] in ("NEW", "PARTIALLY_FILLED"):
            open_ids.append((key, response.json_body["orderId"]))


def wait_for_redis(db: Conn, redis_client: redis.Redis) -> None:
    """Until the matcher has applied every command and written the last batch to Redis."""
    last = wait_until_settled(db, SYMBOL)
    wait_until(lambda: int(redis_client.get(f"seq:{SYMBOL}") or 0),
               until=lambda published: published >= last, timeout=10,
               what=f"the matcher to publish sequence {last} to Redis")


def units(text: str, scale: int) -> int:
    return int(Decimal(text) * 10**scale)


def expected_book(db: Conn) -> dict[str, object]:
    rows = db.execute(
        "SELECT side, price, sum(quantity - executed_qty) FROM orders WHERE market = %s"
        " AND status IN ('NEW', 'PARTIALLY_FILLED') AND accepted_seq IS NOT NULL"
        " GROUP BY side, price", (SYMBOL,)).fetchall()
    bids = sorted(((int(p), int(q)) for s, p, q in rows if s == "BUY"), reverse=True)
    asks = sorted((int(p), int(q)) for s, p, q in rows if s == "SELL")
    return {"lastUpdateId": last_sequence(db, SYMBOL), "bids": bids, "asks": asks}


def book_units(depth: dict[str, Any]) -> dict[str, object]:
    return {"lastUpdateId": depth["lastUpdateId"],
            "bids": [(units(p, 6), units(q, 8)) for p, q in depth["bids"]],
            "asks": [(units(p, 6), units(q, 8)) for p, q in depth["asks"]]}


def expected_trades(db: Conn, limit: int) -> list[tuple[int, int, int, int, bool]]:
    rows = db.execute("SELECT id, price, quantity, quote_quantity, buyer_is_maker FROM trades"
                      " WHERE market = %s ORDER BY id DESC LIMIT %s", (SYMBOL, limit)).fetchall()
    return [(int(i), int(p), int(q), int(qq), bool(m)) for i, p, q, qq, m in reversed(rows)]


def trade_units(trades: list[dict[str, Any]]) -> list[tuple[int, int, int, int, bool]]:
    return [(t["id"], units(t["price"], 6), units(t["qty"], 8), units(t["quoteQty"], 6),
             t["isBuyerMaker"]) for t in trades]


def assert_matches_postgres(client: Client, db: Conn) -> None:
    book = expected_book(db)
    assert book_units(get(client, "/api/v3/depth?symbol=BTCUSDT&limit=5000")) == book
    top = get(client, "/api/v3/depth?symbol=BTCUSDT&limit=5")
    assert book_units(top) == {**book, "bids": book["bids"][:5],  # type: ignore[index]
                               "asks": book["asks"][:5]}  # type: ignore[index]
    assert trade_units(get(client, "/api/v3/trades?symbol=BTCUSDT&limit=1000")) == \
        expected_trades(db, 1000)
    assert trade_units(get(client, "/api/v3/trades?symbol=BTCUSDT&limit=7")) == \
        expected_trades(db, 7)

    bids, asks = book["bids"], book["asks"]
    best_bid = bids[0] if bids else (0, 0)  # type: ignore[index]
    best_ask = asks[0] if asks else (0, 0)  # type: ignore[index]
    book_ticker = get(client, "/api/v3/ticker/bookTicker?symbol=BTCUSDT")
    assert (units(book_ticker["bidPrice"], 6), units(book_ticker["bidQty"], 8),
            units(book_ticker["askPrice"], 6), units(book_ticker["askQty"], 8)) == (
        *best_bid, *best_ask)

    stats = db.execute(
        "SELECT count(*), sum(quantity), sum(quote_quantity), max(price), min(price), min(id),"
        " max(id), (array_agg(price ORDER BY id))[1], (array_agg(price ORDER BY id DESC))[1],"
        " (array_agg(quantity ORDER BY id DESC))[1] FROM trades WHERE market = %s",
        (SYMBOL,)).fetchone()
    assert stats is not None
    count, volume, quote_volume, high, low, first_id, last_id, open_, last, last_qty = stats
    assert get(client, "/api/v3/ticker/price") == [
        {"symbol": SYMBOL, "price": f"{Decimal(last) / 10**6:.6f}"}]
    ticker = get(client, "/api/v3/ticker/24hr?symbols=%5B%22BTCUSDT%22%5D")[0]
    assert (ticker["count"], units(ticker["volume"], 8), units(ticker["quoteVolume"], 6),
            units(ticker["highPrice"], 6), units(ticker["lowPrice"], 6), ticker["firstId"],
            ticker["lastId"], units(ticker["openPrice"], 6), units(ticker["lastPrice"], 6),
            units(ticker["lastQty"], 8)) == (count, volume, quote_volume, high, low, first_id,
                                              last_id, open_, last, last_qty)
    assert units(ticker["priceChange"], 6) == last - open_
    assert (units(ticker["bidPrice"], 6), units(ticker["askPrice"], 6)) == (
        best_bid[0], best_ask[0])
    avg = get(client, "/api/v3/avgPrice?symbol=BTCUSDT")
    assert (avg["mins"], units(avg["price"], 6)) == (5, quote_volume * 10**8 // volume)


def test_market_data_matches_the_engines_book_and_trades(
    client: Client, traders: list[ApiKey], db: Conn, redis_client: redis.Redis,
) -> None:
    place_random_orders(random.Random(7), traders, 60)
    for side, price in (("SELL", "20500"), ("BUY", "19500")):  # both sides quoted
        traders[0].post_form("/api/v3/order", {"symbol": SYMBOL, "side": side, "type": "LIMIT",
                                               "timeInForce": "GTC", "quantity": "0.01",
                                               "price": price})
    wait_for_redis(db, redis_client)
    book = expected_book(db)
    assert len(expected_trades(db, 1000)) > 10
    assert book["bids"]
    assert book["asks"]

    assert_matches_postgres(client, db)
    # What the matcher wrote to Redis is what the API serves at the default depth.
    cached = get(client, "/api/v3/depth?symbol=BTCUSDT")
    assert book_units(cached) == book_units(get(client, "/api/v3/depth?symbol=BTCUSDT&limit=100"))
    assert cached["lastUpdateId"] == int(redis_client.get(f"seq:{SYMBOL}") or 0)


@pytest.fixture
def polling(db_url: str, test_settings: Settings) -> Iterator[list[str]]:
    """Every market data use case read over and over from another thread meanwhile,
    through the service layer (Chalice's test client is not thread-safe); yields the
    errors seen."""
    failures: list[str] = []
    stop = threading.Event()

    def poll() -> None:
        client = redis.Redis.from_url(test_settings.redis_url)
        cache = MarketDataCache(client)
        with psycopg.connect(db_url, autocommit=True) as conn:
            while not stop.is_set():
                try:
                    md.depth(conn, cache, SYMBOL)
                    md.depth(conn, cache, SYMBOL, 5000)
                    md.recent_trades(conn, cache, SYMBOL)
                    md.ticker_24hr(conn, cache, [SYMBOL], now_ms())
                    md.last_prices(conn, cache, None)
                    md.book_tickers(conn, cache, None)
                    md.average_price(conn, SYMBOL, now_ms())
                    md.klines(conn, cache, SYMBOL, Interval.M1)
                except Exception as exc:  # reported by the test, not lost in the thread
                    failures.append(repr(exc))
                stop.wait(0.01)  # paces the readers; returns at once when the test ends
        client.close()

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    yield failures
    stop.set()
    thread.join(30)


def test_every_endpoint_recovers_after_redis_is_flushed_under_load(
    client: Client, traders: list[ApiKey], db: Conn, redis_client: redis.Redis,
    polling: list[str],
) -> None:
    rng = random.Random(11)
    place_random_orders(rng, traders, 30)
    redis_client.flushdb()
    place_random_orders(rng, traders, 30)
    wait_until_settled(db, SYMBOL)
    redis_client.flushdb()
    assert_matches_postgres(client, db)  # rebuilt from PostgreSQL alone

    place_random_orders(rng, traders, 10)
    wait_for_redis(db, redis_client)
    # What was written back, carried on by the matcher; the 24 h ticker's cache is keyed
    # by the newest trade, so it shows the new trades without waiting for its TTL.
    assert_matches_postgres(client, db)
    assert polling == []


@pytest.mark.parametrize(("path", "status", "code"), [
    ("/api/v3/depth?symbol=NOPE", 400, -1121),
    ("/api/v3/depth", 400, -1102),
    ("/api/v3/depth?symbol=BTCUSDT&limit=5001", 400, -1100),
    ("/api/v3/depth?symbol=BTCUSDT&limit=0", 400, -1100),
    ("/api/v3/depth?symbol=BTCUSDT&limit=ten", 400, -1100),
    ("/api/v3/depth?symbol=BTCUSDT&limit=", 400, -1105),
    ("/api/v3/trades?symbol=BTCUSDT&limit=1001", 400, -1100),
    ("/api/v3/trades?symbol=btcusdt", 400, -1121),
    ("/api/v3/klines?symbol=BTCUSDT", 400, -1102),
    ("/api/v3/klines?symbol=BTCUSDT&interval=2m", 400, -1120),
    ("/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=1001", 400, -1100),
    ("/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime=-5", 400, -1100),
    ("/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime=10&endTime=5", 400, -1023),
    ("/api/v3/klines?symbol=NOPE&interval=1m", 400, -1121),
    ("/api/v3/ticker/24hr?symbol=NOPE", 400, -1121),
    ("/api/v3/ticker/24hr?symbols=%5B%22BTCUSDT%22%2C%22NOPE%22%5D", 400, -1121),
    ("/api/v3/ticker/24hr?symbols=BTCUSDT", 400, -1102),
    ("/api/v3/ticker/price?symbol=BTCUSDT&symbols=%5B%5D", 400, -1102),
    ("/api/v3/ticker/bookTicker?symbol=NOPE", 400, -1121),
    ("/api/v3/avgPrice", 400, -1102),
    # Hostile input: digits of other scripts, NUL, symbols out of Binance's alphabet.
    ("/api/v3/depth?symbol=BTCUSDT&limit=%C2%B2", 400, -1100),
    ("/api/v3/trades?symbol=BTCUSDT&limit=%C2%B2", 400, -1100),
    ("/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime=%C2%B2", 400, -1100),
    ("/api/v3/klines?symbol=BTCUSDT&interval=1m&endTime=%D9%A3", 400, -1100),
    ("/api/v3/klines?symbol=BTCUSDT&interval=1m&endTime=99999999999999999999", 400, -1100),
    ("/api/v3/klines?symbol=BTCUSDT&interval=1m%00", 400, -1100),
    ("/api/v3/depth?symbol=BTC%00USDT", 400, -1100),
    ("/api/v3/trades?symbol=BTCUSDT%C2%B2", 400, -1100),
    ("/api/v3/avgPrice?symbol=" + "A" * 41, 400, -1100),
    ("/api/v3/avgPrice?symbol=", 400, -1102),
    ("/api/v3/klines?symbol=BTCUSDT&interval=1m&endTime=9223372036854775808", 400, -1102),
    ("/api/v3/ticker/price?symbol=BTC%00USDT", 400, -1100),
    ("/api/v3/ticker/bookTicker?symbols=%5B%22BTC%5Cu0000USDT%22%5D", 400, -1102),
    ("/api/v3/exchangeInfo?symbol=BTC%00USDT", 400, -1100),
    ("/api/v3/exchangeInfo?symbols=%5B%22BTC%5Cu0000USDT%22%5D", 400, -1102),
])
def test_bad_parameters_get_binance_errors(client: Client, btcusdt: str, path: str,
                                           status: int, code: int) -> None:
    response = client.http.get(path)
    assert (response.status_code, response.json_body["code"]) == (status, code), response.body


def test_an_empty_market_answers_zeros_like_binance(client: Client, btcusdt: str) -> None:
    assert get(client, "/api/v3/depth?symbol=BTCUSDT") == {
        "lastUpdateId": 0, "bids": [], "asks": []}
    assert get(client, "/api/v3/trades?symbol=BTCUSDT") == []
    assert get(client, "/api/v3/klines?symbol=BTCUSDT&interval=1h") == []
    assert get(client, "/api/v3/ticker/price?symbol=BTCUSDT") == {
        "symbol": SYMBOL, "price": "0.000000"}
    assert get(client, "/api/v3/ticker/bookTicker") == [{
        "symbol": SYMBOL, "bidPrice": "0.000000", "bidQty": "0.00000000",
        "askPrice": "0.000000", "askQty": "0.00000000"}]
    assert get(client, "/api/v3/avgPrice?symbol=BTCUSDT") == {
        "mins": 5, "price": "0.000000", "closeTime": 0}
    ticker = get(client, "/api/v3/ticker/24hr?symbol=BTCUSDT")
    zero_price, zero_qty = "0.000000", "0.00000000"
    assert {k: v for k, v in ticker.items() if k not in ("openTime", "closeTime")} == {
        "symbol": SYMBOL, "priceChange": zero_price, "priceChangePercent": "0.000",
        "weightedAvgPrice": zero_price, "prevClosePrice": zero_price, "lastPrice": zero_price,
        "lastQty": zero_qty, "bidPrice": zero_price, "bidQty": zero_qty,
        "askPrice": zero_price, "askQty": zero_qty, "openPrice": zero_price,
        "highPrice": zero_price, "lowPrice": zero_price, "volume": zero_qty,
        "quoteVolume": zero_price, "firstId": -1, "lastId": -1, "count": 0}
    assert ticker["closeTime"] - ticker["openTime"] >= 24 * 3600 * 1000


def test_market_data_routes_carry_binance_weights(client: Client, btcusdt: str) -> None:
    first = client.http.get("/api/v3/trades?symbol=BTCUSDT")
    second = client.http.get("/api/v3/depth?symbol=BTCUSDT")
    used = int(second.headers["X-MBX-USED-WEIGHT-1M"]) - int(first.headers["X-MBX-USED-WEIGHT-1M"])
    assert used == 5


@pytest.mark.parametrize("query", [
    "startTime=9223372036854775807", "endTime=9223372036854775807",
    "startTime=0&endTime=9223372036854775807", "startTime=9223372036854775807&limit=1000",
])
def test_klines_take_any_time_up_to_bigint(client: Client, btcusdt: str, query: str) -> None:
    response = client.http.get(f"/api/v3/klines?symbol=BTCUSDT&interval=1M&{query}")
    assert response.status_code == 200, response.body
    assert response.json_body == []


def documented_answer(path: str, status: int = 200) -> dict[str, Any]:
    document = openapi_document()
    schema = document["paths"][path]["get"]["responses"][str(status)]["content"][
        "application/json"]["schema"]
    return {**schema, "components": document["components"]}


def test_answers_match_the_openapi_document(
    client: Client, traders: list[ApiKey], db: Conn, redis_client: redis.Redis,
) -> None:
    place_random_orders(random.Random(3), traders, 30)
    wait_for_redis(db, redis_client)
    for path, query in [
        ("/api/v3/depth", "symbol=BTCUSDT"), ("/api/v3/trades", "symbol=BTCUSDT"),
        ("/api/v3/klines", "symbol=BTCUSDT&interval=1m"), ("/api/v3/avgPrice", "symbol=BTCUSDT"),
        ("/api/v3/ticker/24hr", "symbol=BTCUSDT"), ("/api/v3/ticker/24hr", ""),
        ("/api/v3/ticker/price", "symbol=BTCUSDT"), ("/api/v3/ticker/price", ""),
        ("/api/v3/ticker/bookTicker", "symbols=%5B%22BTCUSDT%22%5D"),
        ("/api/v3/exchangeInfo", ""), ("/api/v3/time", ""), ("/api/v3/ping", ""),
    ]:
        answer = get(client, f"{path}?{query}")
        validate(answer, documented_answer(path), cls=OAS31Validator)
    assert get(client, "/api/v3/trades?symbol=BTCUSDT")  # the item schemas were exercised
    account = traders[0].get("/api/v3/account")
    assert account.status_code == 200, account.body
    validate(account.json_body, documented_answer("/api/v3/account"), cls=OAS31Validator)
