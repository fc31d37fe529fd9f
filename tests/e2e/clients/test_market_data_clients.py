"""Market data through Binance's own libraries, unmodified (python-binance and
binance-connector): aggregate and historical trades, the statistics tickers (24 h,
rolling windows, trading days; FULL and MINI), checked against the trades the matcher
wrote and against Binance's documented examples."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from binance.error import ClientError
from binance.exceptions import BinanceAPIException
from binance.spot import Spot

from chalicelib.bootstrap import bootstrap_api
from chalicelib.domain.clock import ManualClock
from chalicelib.entrypoints.http.exchange_app import ExchangeApp
from chalicelib.service_layer import trade_history
from chalicelib.settings import Settings
from tests.e2e.clients.conftest import Trader
from tests.e2e.clients.market_data_support import (
    SYMBOL,
    Conn,
    assert_shaped_like,
    example,
    folding_candles,
    sell,
    settled,
    trade_scenario,
)
from tests.e2e.conftest import now_ms
from tests.support.ledger import assert_ledger_invariants
from tests.support.polling import wait_until

HOUR_MS = 3_600_000
TIME_SPAN_TOO_LONG, BAD_COMBINATION = -1127, -1128


@pytest.fixture
def traded(maker: Trader, taker: Trader, db: Conn) -> list[tuple[int, int, int, int, int, bool]]:
    return trade_scenario(maker, taker, db)


def summary(aggs: list[dict[str, Any]]) -> list[tuple[Decimal, Decimal, int, int, bool]]:
    """(price, quantity, first trade, last trade, buyer was maker) of each aggregate."""
    return [(Decimal(a["p"]), Decimal(a["q"]), a["f"], a["l"], a["m"]) for a in aggs]


def expected(rows: list[tuple[int, int, int, int, int, bool]]
             ) -> list[tuple[Decimal, Decimal, int, int, bool]]:
    first = rows[0][0]
    return [(Decimal(20000), Decimal("0.02"), first, first + 1, False),
            (Decimal(20001), Decimal("0.01"), first + 2, first + 2, False),
            (Decimal(20002), Decimal("0.005"), first + 3, first + 3, False),
            (Decimal(20002), Decimal("0.005"), first + 4, first + 4, False)]


@pytest.fixture(params=[trade_history.PAGE, 2], ids=["one-page", "two-trade-pages"])
def page(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Trades read per query: tiny pages make every aggregate span page boundaries."""
    monkeypatch.setattr(trade_history, "PAGE", request.param)
    return int(request.param)


def test_python_binance_reads_aggregates_newest_from_an_id_and_by_time(
        maker: Trader, traded: list[tuple[int, int, int, int, int, bool]], page: int) -> None:
    client = maker.pb
    newest = client.get_aggregate_trades(symbol=SYMBOL)
    assert_shaped_like(newest, example("agg_trades"))
    assert summary(newest) == expected(traded)
    assert [a["a"] for a in newest] == [a["f"] for a in newest]
    assert [a["T"] for a in newest] == [traded[a["f"] - traded[0][0]][4] for a in newest]

    assert summary(client.get_aggregate_trades(symbol=SYMBOL, limit=2)) == expected(traded)[2:]
    second = newest[1]["a"]
    assert summary(client.get_aggregate_trades(symbol=SYMBOL, fromId=second)) == \
        expected(traded)[1:]
    assert summary(client.get_aggregate_trades(symbol=SYMBOL, fromId=second, limit=1)) == \
        expected(traded)[1:2]
    # An id inside the first aggregate starts at the next aggregate.
    assert summary(client.get_aggregate_trades(symbol=SYMBOL, fromId=newest[0]["a"] + 1)) == \
        expected(traded)[1:]
    start = newest[0]["T"]
    assert summary(client.get_aggregate_trades(
        symbol=SYMBOL, startTime=start, endTime=start + HOUR_MS)) == expected(traded)
    assert summary(client.get_aggregate_trades(symbol=SYMBOL, endTime=newest[-1]["T"],
                                               limit=1)) == expected(traded)[3:]
    assert client.get_aggregate_trades(symbol=SYMBOL, startTime=newest[-1]["T"] + 1) == []


def test_python_binance_iterates_every_aggregate(
        maker: Trader, traded: list[tuple[int, int, int, int, int, bool]]) -> None:
    client = maker.pb
    every = list(client.aggregate_trade_iter(SYMBOL))
    assert summary(every) == expected(traded)
    after_first = list(client.aggregate_trade_iter(SYMBOL, last_id=every[0]["a"]))
    assert summary(after_first) == expected(traded)[1:]
    since = list(client.aggregate_trade_iter(SYMBOL, start_str=every[0]["T"]))
    assert summary(since) == expected(traded)


def test_the_connector_reads_aggregates(
        maker: Trader, traded: list[tuple[int, int, int, int, int, bool]], page: int) -> None:
    spot = maker.spot
    newest = spot.agg_trades(SYMBOL)
    assert_shaped_like(newest, example("agg_trades"))
    assert summary(newest) == expected(traded)
    assert summary(spot.agg_trades(SYMBOL, fromId=newest[2]["a"], limit=5)) == \
        expected(traded)[2:]
    start = newest[0]["T"]
    assert summary(spot.agg_trades(SYMBOL, startTime=start, endTime=start + HOUR_MS,
                                   limit=1)) == expected(traded)[:1]


@pytest.mark.parametrize(("query", "code"), [
    ({"startTime": 0, "endTime": HOUR_MS + 1}, TIME_SPAN_TOO_LONG),
    ({"fromId": 1, "startTime": 0}, BAD_COMBINATION),
    ({"fromId": 1, "endTime": 0}, BAD_COMBINATION),
])
def test_aggregate_queries_binance_refuses_are_refused_by_both_libraries(
        maker: Trader, query: dict[str, int], code: int) -> None:
    with pytest.raises(BinanceAPIException) as refused:
        maker.pb.get_aggregate_trades(symbol=SYMBOL, **query)
    assert (refused.value.status_code, refused.value.code) == (400, code)
    with pytest.raises(ClientError) as also_refused:
        maker.spot.agg_trades(SYMBOL, **query)
    assert (also_refused.value.status_code, also_refused.value.error_code) == (400, code)


def test_both_libraries_read_historical_trades_from_an_id(
        maker: Trader, traded: list[tuple[int, int, int, int, int, bool]]) -> None:
    first = traded[0][0]
    older = maker.pb.get_historical_trades(symbol=SYMBOL, fromId=first + 1, limit=3)
    assert_shaped_like(older, example("historical_trades"))
    assert [(t["id"], Decimal(t["qty"]), t["time"]) for t in older] == [
        (i, Decimal(q).scaleb(-8), ms) for i, _, _, q, ms, _ in traded[1:4]]
    assert maker.spot.historical_trades(SYMBOL, fromId=first + 1, limit=3) == older
    assert maker.pb.get_historical_trades(symbol=SYMBOL) == \
        maker.pb.get_recent_trades(symbol=SYMBOL)
    assert maker.spot.historical_trades(SYMBOL, fromId=first + 5) == []


# --- statistics tickers


@pytest.fixture
def a_day_later(api_app: ExchangeApp, matcher: Settings) -> Iterator[int]:
    """The API's clock 25 hours ahead: every trade so far is older than any window."""
    later = ManualClock(now_ms() + 25 * HOUR_MS)
    shifted = bootstrap_api(matcher, clock=later)
    api_app.use_services(shifted)
    yield later.time_ms
    api_app.use_services(bootstrap_api(matcher))
    shifted.close()


def statistics(ticker: dict[str, Any]) -> tuple[Decimal, ...]:
    """open, high, low, last, volume, quote volume, first id, last id, count."""
    return (Decimal(ticker["openPrice"]), Decimal(ticker["highPrice"]),
            Decimal(ticker["lowPrice"]), Decimal(ticker["lastPrice"]),
            Decimal(ticker["volume"]), Decimal(ticker["quoteVolume"]),
            Decimal(ticker["firstId"]), Decimal(ticker["lastId"]), Decimal(ticker["count"]))


def traded_statistics(rows: list[tuple[int, int, int, int, int, bool]]) -> tuple[Decimal, ...]:
    first = rows[0][0]
    quote = Decimal("0.02") * 20000 + Decimal("0.01") * 20001 + Decimal("0.01") * 20002
    return (Decimal(20000), Decimal(20002), Decimal(20000), Decimal(20002), Decimal("0.04"),
            quote, Decimal(first), Decimal(first + 4), Decimal(5))


def test_both_libraries_read_the_24h_ticker_full_and_mini(
        maker: Trader, traded: list[tuple[int, int, int, int, int, bool]]) -> None:
    full = maker.pb.get_ticker(symbol=SYMBOL)
    assert_shaped_like(full, example("ticker_24hr"))
    assert statistics(full) == traded_statistics(traded)
    assert (Decimal(full["priceChange"]), full["priceChangePercent"],
            Decimal(full["prevClosePrice"]), Decimal(full["lastQty"])) == (
        Decimal(2), "0.010", Decimal(0), Decimal("0.005"))
    mini = maker.spot.ticker_24hr(SYMBOL, type="MINI")
    assert_shaped_like(mini, example("ticker_mini"))
    assert statistics(mini) == traded_statistics(traded)
    (listed,) = maker.spot.ticker_24hr(symbols=[SYMBOL], type="MINI")
    assert statistics(listed) == statistics(mini)


def test_both_libraries_read_rolling_window_tickers(
        maker: Trader, traded: list[tuple[int, int, int, int, int, bool]]) -> None:
    hour = maker.pb.get_symbol_ticker_window(symbol=SYMBOL, windowSize="1h")
    assert_shaped_like(hour, example("ticker_window"))
    assert statistics(hour) == traded_statistics(traded)
    assert hour["openTime"] % 60_000 == 0
    assert hour["closeTime"] - hour["openTime"] in range(HOUR_MS, HOUR_MS + 60_000)
    (mini,) = maker.spot.rolling_window_ticker(symbols=[SYMBOL], windowSize="15m",
                                               type="MINI")
    assert_shaped_like(mini, example("ticker_mini"))
    assert statistics(mini) == traded_statistics(traded)
    week = maker.spot.rolling_window_ticker(SYMBOL, windowSize="7d")
    assert week["closeTime"] - week["openTime"] >= 7 * 24 * HOUR_MS


@pytest.mark.parametrize("zone", ["0", "8", "+08:00", "-1:00", "05:45", "-12:00", "14"])
def test_trading_day_tickers_cover_the_day_of_the_time_zone(
        maker: Trader, traded: list[tuple[int, int, int, int, int, bool]], zone: str) -> None:
    day = maker.spot.query("/api/v3/ticker/tradingDay", {"symbol": SYMBOL, "timeZone": zone})
    assert_shaped_like(day, example("ticker_trading_day"))
    sign = -1 if zone.startswith("-") else 1
    hours, _, minutes = zone.lstrip("+-").partition(":")
    offset = sign * (int(hours) * HOUR_MS + int(minutes or 0) * 60_000)
    assert (day["openTime"] + offset) % (24 * HOUR_MS) == 0
    assert day["closeTime"] == day["openTime"] + 24 * HOUR_MS - 1
    assert day["openTime"] <= traded[0][4] <= day["closeTime"] or day["count"] == 0
    if day["count"]:
        assert statistics(day) == traded_statistics(traded)
    (plain,) = maker.spot.trading_day_ticker(symbols=[SYMBOL])
    assert plain["openTime"] % (24 * HOUR_MS) == 0
    mini = maker.spot.query("/api/v3/ticker/tradingDay",
                            {"symbol": SYMBOL, "timeZone": zone, "type": "MINI"})
    assert_shaped_like(mini, example("ticker_mini"))


def test_windows_after_the_trades_are_empty_and_the_24h_ticker_keeps_the_previous_close(
        maker: Trader, traded: list[tuple[int, int, int, int, int, bool]],
        a_day_later: int) -> None:
    full = maker.pb.get_ticker(symbol=SYMBOL)
    empty = (Decimal(20002),) * 4 + (Decimal(0), Decimal(0), Decimal(-1), Decimal(-1),
                                      Decimal(0))
    assert statistics(full) == empty
    assert Decimal(full["prevClosePrice"]) == Decimal(20002)
    assert full["closeTime"] == a_day_later
    assert statistics(maker.pb.get_symbol_ticker_window(symbol=SYMBOL, windowSize="1d")) == empty
    assert statistics(maker.spot.trading_day_ticker(SYMBOL)) == empty


@pytest.mark.parametrize(("query", "code"), [
    ({"symbol": SYMBOL, "windowSize": "60m"}, -1100),
    ({"symbol": SYMBOL, "windowSize": "8d"}, -1100),
    ({"symbol": SYMBOL, "windowSize": "0h"}, -1100),
    ({"windowSize": "1h"}, -1102),
])
def test_bad_windows_are_refused(maker: Trader, query: dict[str, str], code: int) -> None:
    with pytest.raises(ClientError) as refused:
        maker.spot.query("/api/v3/ticker", query)
    assert (refused.value.status_code, refused.value.error_code) == (400, code)


@pytest.mark.parametrize("zone", ["+15:00", "-13", "8:60", "UTC", "+"])
def test_bad_time_zones_are_refused(maker: Trader, zone: str) -> None:
    with pytest.raises(BinanceAPIException) as refused:
        maker.pb._get("ticker/tradingDay", data={"symbol": SYMBOL, "timeZone": zone})
    assert (refused.value.status_code, refused.value.code) == (400, -1100)


@pytest.mark.parametrize(("path", "query", "weight"), [
    ("/api/v3/aggTrades", {"symbol": SYMBOL}, 4),
    ("/api/v3/historicalTrades", {"symbol": SYMBOL}, 25),
    ("/api/v3/ticker", {"symbol": SYMBOL}, 4),
    ("/api/v3/ticker", {"symbols": f'["{SYMBOL}"]'}, 4),
    ("/api/v3/ticker/tradingDay", {"symbol": SYMBOL}, 4),
    ("/api/v3/ticker/24hr", {"symbol": SYMBOL, "type": "MINI"}, 2),
    ("/api/v3/ticker/24hr", {"symbols": f'["{SYMBOL}"]'}, 2),
    ("/api/v3/ticker/price", {"symbols": f'["{SYMBOL}"]'}, 4),
    ("/api/v3/ticker/bookTicker", {"symbols": f'["{SYMBOL}"]'}, 4),
    ("/api/v3/ticker/bookTicker", {"symbol": SYMBOL}, 2),
])
def test_market_data_routes_weigh_what_binance_documents(
        api_url: str, btcusdt: str, path: str, query: dict[str, str], weight: int) -> None:
    spot = Spot(base_url=api_url, show_limit_usage=True)
    before = int(spot.query(path, query)["limit_usage"]["x-mbx-used-weight-1m"])
    after = int(spot.query(path, query)["limit_usage"]["x-mbx-used-weight-1m"])
    assert after - before == weight or after == weight  # (a new minute began)


# --- klines: 1s from the trades, time zones merged from finer stored candles

DAY_MS = 24 * HOUR_MS


def kline_totals(rows: list[list[Any]]) -> tuple[Decimal, ...]:
    """open of the first, high, low, close of the last, volume, quote volume, trades."""
    return (Decimal(rows[0][1]), max(Decimal(r[2]) for r in rows),
            min(Decimal(r[3]) for r in rows if Decimal(r[5])), Decimal(rows[-1][4]),
            sum((Decimal(r[5]) for r in rows), Decimal(0)),
            sum((Decimal(r[7]) for r in rows), Decimal(0)),
            Decimal(sum(r[8] for r in rows)))


def traded_totals() -> tuple[Decimal, ...]:
    quote = Decimal("0.02") * 20000 + Decimal("0.01") * 20001 + Decimal("0.01") * 20002
    return (Decimal(20000), Decimal(20002), Decimal(20000), Decimal(20002), Decimal("0.04"),
            quote, Decimal(5))


def test_one_second_klines_are_built_from_the_trades(
        maker: Trader, traded: list[tuple[int, int, int, int, int, bool]]) -> None:
    rows = maker.pb.get_klines(symbol=SYMBOL, interval="1s")
    assert_shaped_like(rows, example("klines"))
    assert kline_totals(rows) == traded_totals()
    assert all(r[0] % 1000 == 0 and r[6] == r[0] + 999 for r in rows)
    assert rows[0][0] == traded[0][4] // 1000 * 1000
    assert maker.spot.ui_klines(SYMBOL, "1s") == rows
    assert maker.spot.klines(SYMBOL, "1s", startTime=0, limit=1) == rows[:1]
    history = maker.pb.get_historical_klines(SYMBOL, "1s", traded[0][4] - 5000)
    assert history == rows
    assert maker.pb.get_klines(symbol=SYMBOL, interval="1s", startTime=rows[-1][0] + 1000) == []


@pytest.fixture
def folded(maker: Trader, traded: list[tuple[int, int, int, int, int, bool]],
           matcher: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The traded scenario folded into stored candles by the candles function."""
    with folding_candles(matcher, monkeypatch):
        wait_until(lambda: maker.pb.get_klines(symbol=SYMBOL, interval="1m"),
                   until=lambda rows: sum(r[8] for r in rows) == len(traded),
                   timeout=30, what="the candles function to fold every trade")
        yield


@pytest.mark.parametrize(("interval", "zone", "offset"), [
    ("1d", "+08:00", 8 * HOUR_MS), ("1d", "-1", -HOUR_MS), ("1h", "05:45", 345 * 60_000),
    ("4h", "-3:30", -210 * 60_000), ("1w", "14", 14 * HOUR_MS), ("1M", "-12:00", -12 * HOUR_MS),
    ("3d", "+5:45", 345 * 60_000),
])
def test_klines_in_a_time_zone_start_at_its_boundaries(
        maker: Trader, folded: None, interval: str, zone: str, offset: int) -> None:
    (row,) = maker.pb.get_klines(symbol=SYMBOL, interval=interval, timeZone=zone)
    assert kline_totals([row]) == traded_totals()
    local_open = datetime.fromtimestamp((row[0] + offset) / 1000, UTC)
    local_close = datetime.fromtimestamp((row[6] + 1 + offset) / 1000, UTC)
    if interval == "1M":
        assert (local_open.day, local_open.hour, local_open.minute) == (1, 0, 0)
        assert (local_close.day, local_close.hour, local_close.minute) == (1, 0, 0)
    elif interval == "1w":
        assert (local_open.weekday(), local_open.hour, local_open.minute) == (0, 0, 0)
        assert row[6] + 1 - row[0] == 7 * DAY_MS
    else:
        length = {"1h": HOUR_MS, "4h": 4 * HOUR_MS, "1d": DAY_MS, "3d": 3 * DAY_MS}[interval]
        assert (row[0] + offset) % length == 0
        assert row[6] + 1 - row[0] == length
    assert maker.spot.ui_klines(SYMBOL, interval, timeZone=zone) == [row]


def test_a_zone_on_utcs_boundaries_answers_the_stored_candles(maker: Trader,
                                                              folded: None) -> None:
    utc = maker.pb.get_klines(symbol=SYMBOL, interval="1h")
    assert kline_totals(utc) == traded_totals()
    for zone in ("0", "+08:00", "-5"):
        assert maker.pb.get_klines(symbol=SYMBOL, interval="1h", timeZone=zone) == utc
    assert maker.spot.klines(SYMBOL, "1m", timeZone="05:45") == \
        maker.spot.klines(SYMBOL, "1m")


@pytest.mark.parametrize("zone", ["+15:00", "-12:01", "abc"])
def test_klines_refuse_a_bad_time_zone(maker: Trader, btcusdt: str, zone: str) -> None:
    with pytest.raises(ClientError) as refused:
        maker.spot.klines(SYMBOL, "1d", timeZone=zone)
    assert (refused.value.status_code, refused.value.error_code) == (400, -1100)


# --- the first routes, through every method of both libraries that reads them


def test_both_libraries_read_the_book_the_trades_and_the_prices(
        maker: Trader, taker: Trader, traded: list[tuple[int, int, int, int, int, bool]],
        db: Conn) -> None:
    taker.pb.create_order(symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="GTC",
                          quantity="0.01", price="19990")
    sell(maker, "0.02", "20010")
    settled(db)

    book = maker.pb.get_order_book(symbol=SYMBOL, limit=5)
    assert_shaped_like(book, example("depth"))
    assert [[Decimal(p), Decimal(q)] for p, q in book["bids"]] == [[19990, Decimal("0.01")]]
    assert [[Decimal(p), Decimal(q)] for p, q in book["asks"]] == [[20010, Decimal("0.02")]]
    assert maker.spot.depth(SYMBOL, limit=5) == book

    recent = maker.pb.get_recent_trades(symbol=SYMBOL, limit=2)
    assert_shaped_like(recent, example("historical_trades"))
    assert [t["id"] for t in recent] == [traded[3][0], traded[4][0]]
    assert maker.spot.trades(SYMBOL, limit=2) == recent

    average = maker.pb.get_avg_price(symbol=SYMBOL)
    assert_shaped_like(average, example("avg_price"))
    quote = Decimal("0.02") * 20000 + Decimal("0.01") * 20001 + Decimal("0.01") * 20002
    assert Decimal(average["price"]) == (quote / Decimal("0.04")).quantize(Decimal("0.000001"),
                                                                        rounding="ROUND_DOWN")
    assert maker.spot.avg_price(SYMBOL) == average

    last = maker.pb.get_symbol_ticker(symbol=SYMBOL)
    assert_shaped_like(last, example("ticker_price"))
    assert Decimal(last["price"]) == 20002
    assert maker.spot.ticker_price(SYMBOL) == last
    assert [last] == [t for t in maker.pb.get_all_tickers() if t["symbol"] == SYMBOL]

    best = maker.pb.get_orderbook_ticker(symbol=SYMBOL)
    assert_shaped_like(best, example("book_ticker"))
    assert (Decimal(best["bidPrice"]), Decimal(best["askPrice"])) == (Decimal(19990),
                                                                       Decimal(20010))
    assert maker.spot.book_ticker(symbols=[SYMBOL]) == [best]
    assert [best] == [t for t in maker.pb.get_orderbook_tickers() if t["symbol"] == SYMBOL]
    assert_ledger_invariants(db)


def test_python_binance_reads_ui_klines_and_iterates_historical_klines(
        maker: Trader, traded: list[tuple[int, int, int, int, int, bool]]) -> None:
    rows = maker.pb.get_ui_klines(symbol=SYMBOL, interval="1s")
    assert kline_totals(rows) == traded_totals()
    generated = list(maker.pb.get_historical_klines_generator(SYMBOL, "1s",
                                                              traded[0][4] - 60_000))
    assert generated == rows


@pytest.mark.parametrize(("path", "count", "weight"), [
    ("/api/v3/ticker/24hr", 20, 2), ("/api/v3/ticker/24hr", 21, 40),
    ("/api/v3/ticker/24hr", 101, 80), ("/api/v3/ticker", 50, 200), ("/api/v3/ticker", 13, 52),
    ("/api/v3/ticker/tradingDay", 51, 200),
])
def test_symbol_lists_weigh_by_their_length(api_url: str, btcusdt: str, path: str,
                                            count: int, weight: int) -> None:
    """Weighed before the answer: lists of unknown markets are refused, and weigh."""
    spot = Spot(base_url=api_url, show_limit_usage=True)
    symbols = "[" + ",".join(f'"NO{i}USDT"' for i in range(count)) + "]"

    def used() -> int:
        with pytest.raises(ClientError) as refused:
            spot.query(path, {"symbols": symbols})
        return int(refused.value.header["X-MBX-USED-WEIGHT-1M"])

    before, after = used(), used()
    assert after - before == weight or after == weight  # (a new minute began)
