"""CCXT's Binance class, unmodified but for its URLs and without keys, reads the market
data a bot starts from: fetch_trades (aggregate trades), fetch_ohlcv (klines, 1s
here), fetch_ticker(s) (24 h), fetch_order_book, fetch_bids_asks, fetch_last_prices."""

from __future__ import annotations

from decimal import Decimal

import ccxt
import pytest

from tests.e2e.clients.conftest import Trader
from tests.e2e.clients.market_data_support import Conn, sell, settled, trade_scenario
from tests.e2e.clients.test_ccxt_startup import ccxt_binance

PAIR = "BTC/USDT"
SCENARIO_TRADES = [(20000, Decimal("0.01")), (20000, Decimal("0.01")), (20001, Decimal("0.01")),
                   (20002, Decimal("0.005")), (20002, Decimal("0.005"))]
Rows = list[tuple[int, int, int, int, int, bool]]


@pytest.fixture
def traded(maker: Trader, taker: Trader, db: Conn) -> Rows:
    return trade_scenario(maker, taker, db)


@pytest.fixture
def public(api_url: str) -> ccxt.binance:
    exchange = ccxt_binance(api_url)
    exchange.load_markets()
    return exchange


def test_fetch_trades_reads_the_aggregates(public: ccxt.binance, traded: Rows) -> None:
    trades = public.fetch_trades(PAIR)
    first = traded[0][0]
    assert [(t["id"], t["price"], t["amount"], t["side"], t["timestamp"]) for t in trades] == [
        (str(first), 20000.0, 0.02, "buy", traded[0][4]),
        (str(first + 2), 20001.0, 0.01, "buy", traded[2][4]),
        (str(first + 3), 20002.0, 0.005, "buy", traded[3][4]),
        (str(first + 4), 20002.0, 0.005, "buy", traded[4][4])]
    assert public.fetch_trades(PAIR, since=traded[0][4], limit=2) == trades[:2]
    assert public.fetch_trades(PAIR, since=traded[-1][4] + 1) == []


def one_second_candles(traded: Rows) -> list[list[float]]:
    """[open time, open, high, low, close, volume] of each second the scenario's trades
    fall in: usually one, two when they straddle a second boundary."""
    by_second: dict[int, list[tuple[int, Decimal]]] = {}
    for (_, _, _, _, ms, _), price_qty in zip(traded, SCENARIO_TRADES, strict=True):
        by_second.setdefault(ms // 1000 * 1000, []).append(price_qty)
    return [[start, float(trades[0][0]), float(max(p for p, _ in trades)),
             float(min(p for p, _ in trades)), float(trades[-1][0]),
             float(sum((q for _, q in trades), Decimal(0)))]
            for start, trades in by_second.items()]


def test_fetch_ohlcv_reads_one_second_klines(public: ccxt.binance, traded: Rows) -> None:
    candles = public.fetch_ohlcv(PAIR, "1s")
    assert candles == one_second_candles(traded)
    assert public.fetch_ohlcv(PAIR, "1s", since=candles[0][0] - 10_000, limit=5) == candles
    assert public.fetch_ohlcv(PAIR, "1s", since=candles[-1][0] + 1000) == []


def test_tickers_and_the_book_through_ccxt(public: ccxt.binance, maker: Trader,
                                           traded: Rows, db: Conn) -> None:
    sell(maker, "0.02", "20010")
    settled(db)

    ticker = public.fetch_ticker(PAIR)
    assert (ticker["open"], ticker["high"], ticker["low"], ticker["last"],
            ticker["baseVolume"], ticker["change"], ticker["ask"]) == (
        20000.0, 20002.0, 20000.0, 20002.0, 0.04, 2.0, 20010.0)
    assert public.fetch_tickers([PAIR])[PAIR]["last"] == 20002.0
    book = public.fetch_order_book(PAIR, limit=5)
    assert (book["bids"], book["asks"]) == ([], [[20010.0, 0.02]])
    assert public.fetch_bids_asks([PAIR])[PAIR]["ask"] == 20010.0
    assert public.fetch_last_prices([PAIR])[PAIR]["price"] == 20002.0
