"""Settlement charges each side its fee tier's rate where that is lower than the
market's (the engine charged the market's): the trade row, the fee account and the
balances all carry the tier's fee, rounded up as the engine rounds."""

from __future__ import annotations

from chalicelib.domain.fees import Rates
from chalicelib.domain.ledger import Bucket
from chalicelib.domain.orders import MarketSpec, OrderStatus, OrderType, Side
from matching_cluster.engine import Trade
from matching_cluster.service.settlement import MarketInfo, OrderState, settle

UNIT = 10**8
SPEC = MarketSpec(symbol="BTCUSDT", base_unit=UNIT, tick_size=100, lot_size=10**6,
                  min_qty=10**6, max_qty=1000 * UNIT, maker_fee_ppm=1_000, taker_fee_ppm=2_000)
MARKET = MarketInfo(SPEC, "BTC", "USDT", "TRADING")
BUYER, SELLER = 1, 2
MAKER_ORDER, TAKER_ORDER = 11, 10
PRICE, QTY = 5_000_000, 3 * UNIT // 10 + 7 * 10**6  # 0.37 BTC at 50,000
QUOTE = SPEC.notional(PRICE, QTY)


def resting(order_id: int, user_id: int, side: Side, locked: int) -> OrderState:
    return OrderState(order_id, user_id, side, OrderType.LIMIT, PRICE, QTY, 0, 0, locked,
                      OrderStatus.NEW, accepted_seq=1)


def engine_trade(buyer_is_maker: bool) -> Trade:
    """The engine's trade, charged at the market's rates (maker 0.1 %, taker 0.2 %)."""
    maker_gets, taker_gets = (QTY, QUOTE) if buyer_is_maker else (QUOTE, QTY)
    maker, taker = (BUYER, SELLER) if buyer_is_maker else (SELLER, BUYER)
    return Trade(5, 1, MAKER_ORDER, maker, TAKER_ORDER, taker, buyer_is_maker, PRICE, QTY,
                 QUOTE, maker_fee=-(-maker_gets * 1_000 // 10**6),
                 taker_fee=-(-taker_gets * 2_000 // 10**6))


def fees_posted(tier_rates: dict[int, Rates], buyer_is_maker: bool) -> tuple[int, int, Trade]:
    """(BTC fee, USDT fee) the fee account gets, and the trade as settled."""
    buyer_order, seller_order = ((MAKER_ORDER, TAKER_ORDER) if buyer_is_maker
                                 else (TAKER_ORDER, MAKER_ORDER))
    buyer = resting(buyer_order, BUYER, Side.BUY, SPEC.notional(PRICE, QTY))
    seller = resting(seller_order, SELLER, Side.SELL, QTY)
    out = settle(MARKET, [engine_trade(buyer_is_maker)],
                 {buyer.order_id: buyer, seller.order_id: seller}, tier_rates)
    fee_btc = sum(v for (a, _), v in out.moves.items() if a.user_id is None and a.asset == "BTC")
    fee_usdt = sum(v for (a, _), v in out.moves.items()
                   if a.user_id is None and a.asset == "USDT")
    received = sum(v for (a, b), v in out.moves.items()
                   if a.user_id == BUYER and a.asset == "BTC" and b is Bucket.AVAILABLE)
    assert received + fee_btc == QTY
    return fee_btc, fee_usdt, out.trades[0]


def test_without_tiers_the_engines_fees_stand() -> None:
    fee_btc, fee_usdt, trade = fees_posted({}, buyer_is_maker=False)

    assert trade == engine_trade(buyer_is_maker=False)
    assert (fee_btc, fee_usdt) == (trade.taker_fee, trade.maker_fee)


def test_a_taker_buyers_tier_lowers_its_fee_rounded_up() -> None:
    fee_btc, fee_usdt, trade = fees_posted({BUYER: Rates(0, 333)}, buyer_is_maker=False)

    assert fee_btc == trade.taker_fee == -(-QTY * 333 // 10**6) == 12_321
    assert fee_usdt == trade.maker_fee == QUOTE // 1000  # the seller has no tier


def test_a_maker_buyers_tier_and_a_tier_above_the_market_rate() -> None:
    tiers = {BUYER: Rates(0, 0), SELLER: Rates(9_000, 9_000)}

    fee_btc, fee_usdt, trade = fees_posted(tiers, buyer_is_maker=True)

    assert (fee_btc, trade.maker_fee) == (0, 0)
    assert fee_usdt == trade.taker_fee == -(-QUOTE * 2_000 // 10**6)  # never raised
