"""Settlement math: what each engine event does to orders, trades and the ledger."""

from __future__ import annotations

from chalicelib.adapters.ledger import AccountKind, AccountRef, Bucket, LedgerTransaction
from chalicelib.domain.orders import (
    CommandKind,
    DoneReason,
    MarketSpec,
    OrderStatus,
    OrderType,
    RejectReason,
    Side,
    TimeInForce,
)
from matching_cluster.engine import Accepted, Amended, OrderDone, Rejected, Trade
from matching_cluster.service.settlement import (
    MARKET_HALTED,
    MarketInfo,
    OrderState,
    reject_halted,
    settle,
)

UNIT = 10**8
SPEC = MarketSpec(symbol="BTCUSDT", base_unit=UNIT, tick_size=100, lot_size=10**6,
                  min_qty=10**6, max_qty=1000 * UNIT, maker_fee_ppm=1_000, taker_fee_ppm=2_000)
MARKET = MarketInfo(SPEC, "BTC", "USDT", "TRADING")
BUYER, SELLER = 1, 2


def order(order_id: int, user_id: int, side: Side, *, price: int = 0, qty: int = 0,
          locked: int, order_type: OrderType = OrderType.LIMIT) -> OrderState:
    return OrderState(order_id, user_id, side, order_type, price, qty, 0, 0, locked,
                      OrderStatus.NEW, accepted_seq=1)


def moves(tx: LedgerTransaction) -> dict[tuple[int | None, str, Bucket], int]:
    """Net amount per (user or None for the fee account, asset, bucket)."""
    out: dict[tuple[int | None, str, Bucket], int] = {}
    for p in tx.postings:
        key = (p.account.user_id, p.account.asset, p.bucket)
        out[key] = out.get(key, 0) + p.amount
    return out


def test_a_limit_buyer_gets_its_price_improvement_back_and_fees_go_to_the_fee_account() -> None:
    # Buyer (taker) bid 51,000 for 0.3 BTC and fills at the seller's 50,000.
    qty, price, limit = 3 * UNIT // 10, 5_000_000, 5_100_000
    buyer = order(10, BUYER, Side.BUY, price=limit, qty=qty, locked=SPEC.notional(limit, qty))
    seller = order(11, SELLER, Side.SELL, price=price, qty=UNIT, locked=UNIT)
    quote = SPEC.notional(price, qty)
    trade = Trade(5, 1, 11, SELLER, 10, BUYER, False, price, qty, quote,
                  maker_fee=quote // 1000, taker_fee=qty * 2 // 1000)

    out = settle(MARKET, [trade], {10: buyer, 11: seller})

    (tx,) = out.ledger
    assert (tx.kind, tx.reference) == ("TRADE", "BTCUSDT:1")
    assert moves(tx) == {
        (BUYER, "USDT", Bucket.LOCKED): -SPEC.notional(limit, qty),
        (BUYER, "USDT", Bucket.AVAILABLE): SPEC.notional(limit - price, qty),
        (BUYER, "BTC", Bucket.AVAILABLE): qty - qty * 2 // 1000,
        (SELLER, "BTC", Bucket.LOCKED): -qty,
        (SELLER, "USDT", Bucket.AVAILABLE): quote - quote // 1000,
        (None, "BTC", Bucket.AVAILABLE): qty * 2 // 1000,
        (None, "USDT", Bucket.AVAILABLE): quote // 1000,
    }
    fee_accounts = {p.account for p in tx.postings if p.account.user_id is None}
    assert fee_accounts == {AccountRef.system(AccountKind.FEE, "BTC"),
                            AccountRef.system(AccountKind.FEE, "USDT")}
    assert (buyer.locked_amount, buyer.executed_qty, buyer.cumulative_quote_qty) == (0, qty, quote)
    assert (seller.locked_amount, seller.status) == (UNIT - qty, OrderStatus.PARTIALLY_FILLED)
    assert out.trades == [trade]
    assert set(out.changed_orders) == {10, 11}


def test_a_market_buy_spends_the_quote_amount_and_releases_the_rest_when_done() -> None:
    buyer = order(20, BUYER, Side.BUY, locked=1_000_000, order_type=OrderType.MARKET)
    seller = order(21, SELLER, Side.SELL, price=5_000_000, qty=10**7, locked=10**7)
    trade = Trade(3, 7, 21, SELLER, 20, BUYER, False, 5_000_000, 10**7, 500_000, 500, 20_000)
    done = OrderDone(4, 20, BUYER, Side.BUY, DoneReason.EXPIRED_IOC, 10**7, 500_000, 0)

    out = settle(MARKET, [trade, done], {20: buyer, 21: seller})

    trade_tx, release = out.ledger
    assert moves(trade_tx)[BUYER, "USDT", Bucket.LOCKED] == -500_000
    assert (BUYER, "USDT", Bucket.AVAILABLE) not in moves(trade_tx)  # no improvement
    assert (release.kind, release.reference) == ("ORDER_RELEASE", "order:20")
    assert moves(release) == {(BUYER, "USDT", Bucket.LOCKED): -500_000,
                              (BUYER, "USDT", Bucket.AVAILABLE): 500_000}
    assert (buyer.locked_amount, buyer.status, buyer.done_reason) == (
        0, OrderStatus.EXPIRED, "EXPIRED_IOC")


def test_amending_a_buy_down_releases_the_lock_of_the_removed_quantity() -> None:
    buyer = order(30, BUYER, Side.BUY, price=5_000_000, qty=UNIT,
                  locked=SPEC.notional(5_000_000, UNIT))
    amended = Amended(9, 30, BUYER, Side.BUY, 5_000_000, UNIT, UNIT // 4, UNIT // 4)

    out = settle(MARKET, [amended], {30: buyer})

    (tx,) = out.ledger
    assert (tx.kind, tx.reference) == ("ORDER_AMEND", "order:30:9")
    assert moves(tx)[BUYER, "USDT", Bucket.AVAILABLE] == SPEC.notional(5_000_000, 3 * UNIT // 4)
    assert (buyer.quantity, buyer.locked_amount) == (UNIT // 4, SPEC.notional(5_000_000, UNIT // 4))


def test_a_rejected_place_releases_its_whole_lock_but_other_rejections_move_nothing() -> None:
    placed = order(40, SELLER, Side.SELL, price=5_000_000, qty=UNIT, locked=UNIT)
    placed.accepted_seq = None
    live = order(41, SELLER, Side.SELL, price=5_000_000, qty=UNIT, locked=UNIT)
    events = [
        Rejected(1, CommandKind.PLACE, 40, SELLER, RejectReason.PRICE_OFF_TICK),
        Rejected(2, CommandKind.PLACE, 41, SELLER, RejectReason.DUPLICATE_ORDER_ID),
        Rejected(3, CommandKind.CANCEL, 41, SELLER, RejectReason.UNKNOWN_ORDER),
    ]

    out = settle(MARKET, events, {40: placed, 41: live})

    (tx,) = out.ledger
    assert moves(tx) == {(SELLER, "BTC", Bucket.LOCKED): -UNIT,
                         (SELLER, "BTC", Bucket.AVAILABLE): UNIT}
    assert (placed.status, placed.done_reason, placed.locked_amount) == (
        OrderStatus.REJECTED, "PRICE_OFF_TICK", 0)
    assert (live.status, live.locked_amount) == (OrderStatus.NEW, UNIT)
    assert set(out.changed_orders) == {40}


def test_accepted_records_the_sequence_and_a_halted_place_is_rejected_with_its_lock_freed(
) -> None:
    accepted = order(50, BUYER, Side.BUY, price=5_000_000, qty=UNIT, locked=5_000_000)
    accepted.accepted_seq = None
    halted = order(51, BUYER, Side.BUY, price=5_000_000, qty=UNIT, locked=5_000_000)
    halted.accepted_seq = None

    out = settle(MARKET, [Accepted(12, 50, BUYER, Side.BUY, OrderType.LIMIT, TimeInForce.GTC,
                                   5_000_000, UNIT, 0)], {50: accepted})
    reject_halted(MARKET, halted, out)

    assert accepted.accepted_seq == 12
    assert out.changed_orders[50].last_seq == 12
    assert (halted.status, halted.done_reason, halted.locked_amount) == (
        OrderStatus.REJECTED, MARKET_HALTED, 0)
    assert [tx.reference for tx in out.ledger] == ["order:51"]
