"""Fees: per trade, on what each side receives, rounded up in the exchange's favour."""

from __future__ import annotations

import pytest

from chalicelib.domain.orders import FEE_RATE_SCALE, MarketSpec, ceil_fee
from matching_cluster.engine import Trade

from .support import BUY, SELL, limit, new_book, seed, trades

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("each_engine")]

# price per single base unit, so quote = price * qty; maker 0.1 %, taker 0.25 %
FEE_SPEC = MarketSpec(
    symbol="FEEUSD", base_unit=1, tick_size=1, lot_size=1, min_qty=1, max_qty=10**12,
    maker_fee_ppm=1_000, taker_fee_ppm=2_500,
)


def one_trade(taker_side: str, price: int, qty: int, spec: MarketSpec = FEE_SPEC) -> Trade:
    book = new_book(spec=spec)
    maker_side = SELL if taker_side == "BUY" else BUY
    seed(book, limit(1, 1, maker_side, price, qty))
    (trade,) = trades(book.apply(limit(2, 2, BUY if taker_side == "BUY" else SELL, price, qty)))
    return trade


def test_buyer_taker_pays_in_base_seller_maker_in_quote_rounded_up() -> None:
    trade = one_trade("BUY", price=7, qty=1_000)
    assert trade.quote_qty == 7_000
    assert trade.taker_fee == 3  # 1000 base * 0.25 % = 2.5 -> 3
    assert trade.maker_fee == 7  # 7000 quote * 0.1 % = 7 exactly
    assert not trade.buyer_is_maker
    assert (trade.buyer_fee, trade.seller_fee) == (3, 7)


def test_seller_taker_pays_in_quote_buyer_maker_in_base() -> None:
    trade = one_trade("SELL", price=3, qty=1_500)
    assert trade.quote_qty == 4_500
    assert trade.taker_fee == 12  # 4500 quote * 0.25 % = 11.25 -> 12
    assert trade.maker_fee == 2  # 1500 base * 0.1 % = 1.5 -> 2
    assert trade.buyer_is_maker
    assert (trade.buyer_fee, trade.seller_fee) == (2, 12)


def test_exact_fee_is_not_rounded() -> None:
    trade = one_trade("BUY", price=5, qty=400)
    assert trade.taker_fee == 1  # 400 * 0.25 % = 1.0
    assert trade.maker_fee == 2  # 2000 * 0.1 % = 2.0


def test_the_smallest_fill_pays_at_least_one_unit() -> None:
    trade = one_trade("BUY", price=1, qty=1)
    assert (trade.taker_fee, trade.maker_fee) == (1, 1)


def test_each_trade_is_rounded_on_its_own() -> None:
    book = new_book(spec=FEE_SPEC)
    seed(book, limit(1, 1, SELL, 10, 1), limit(2, 3, SELL, 10, 1))
    fills = trades(book.apply(limit(3, 2, BUY, 10, 2)))
    # 2 * ceil(1 * 0.25 %) = 2, where one fill of 2 would have paid ceil(0.005) = 1
    assert [t.taker_fee for t in fills] == [1, 1]


def test_zero_rates_charge_nothing() -> None:
    spec = MarketSpec(symbol="FREE", base_unit=1, tick_size=1, lot_size=1, min_qty=1,
                      max_qty=10**9)
    trade = one_trade("BUY", price=9, qty=999, spec=spec)
    assert (trade.maker_fee, trade.taker_fee) == (0, 0)


def test_full_rate_takes_everything_received() -> None:
    spec = MarketSpec(symbol="ALL", base_unit=1, tick_size=1, lot_size=1, min_qty=1,
                      max_qty=10**9, maker_fee_ppm=FEE_RATE_SCALE, taker_fee_ppm=FEE_RATE_SCALE)
    trade = one_trade("SELL", price=9, qty=7, spec=spec)
    assert (trade.buyer_fee, trade.seller_fee) == (7, 63)


def test_scaled_market_fee_on_exact_notional() -> None:
    # BTC/USDT-like units: BTC 8 decimals, USDT 6; tick 0.01 USDT, lot 0.0001 BTC.
    spec = MarketSpec(symbol="BTCUSDT", base_unit=10**8, tick_size=10**4, lot_size=10**4,
                      min_qty=10**4, max_qty=10**12, maker_fee_ppm=1_000, taker_fee_ppm=1_000)
    trade = one_trade("BUY", price=30_123_45 * 10**4, qty=12_345 * 10**4, spec=spec)
    # 30,123.45 USDT * 1.2345 BTC = 37,187.399025 USDT exactly
    assert trade.quote_qty == 37_187_399_025
    assert trade.maker_fee == 37_187_400  # 37.187399025 USDT -> rounded up to 37.187400
    assert trade.taker_fee == 123_450  # 0.0012345 BTC exactly


@pytest.mark.parametrize(
    ("amount", "rate", "fee"),
    [(0, 1_000, 0), (1, 1, 1), (999, 1_000, 1), (1_000, 1_000, 1), (1_001, 1_000, 2),
     (10**18, 2_500, 25 * 10**14), (5, 0, 0)],
)
def test_ceil_fee(amount: int, rate: int, fee: int) -> None:
    assert ceil_fee(amount, rate) == fee
