"""Settlement math: what each engine event does to orders, trades and the ledger."""

from __future__ import annotations

import dataclasses
from typing import Any

from chalicelib.domain.ledger import AccountKind, AccountRef, Bucket
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
    Settlement,
    reject_halted,
    settle,
    settlement_reference,
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


def moves(out: Settlement) -> dict[tuple[int | None, str, Bucket], int]:
    """Net amount per (user or None for the fee account, asset, bucket), as posted."""
    tx = out.ledger_transaction("BTCUSDT:commands:1-1")
    if tx is None:
        return {}
    assert tx.kind == "SETTLEMENT"
    net: dict[tuple[int | None, str, Bucket], int] = {}
    for p in tx.postings:
        key = (p.account.user_id, p.account.asset, p.bucket)
        assert key not in net, "one posting per account and bucket"
        net[key] = p.amount
    return net


def test_a_limit_buyer_gets_its_price_improvement_back_and_fees_go_to_the_fee_account() -> None:
    # Buyer (taker) bid 51,000 for 0.3 BTC and fills at the seller's 50,000.
    qty, price, limit = 3 * UNIT // 10, 5_000_000, 5_100_000
    buyer = order(10, BUYER, Side.BUY, price=limit, qty=qty, locked=SPEC.notional(limit, qty))
    seller = order(11, SELLER, Side.SELL, price=price, qty=UNIT, locked=UNIT)
    quote = SPEC.notional(price, qty)
    trade = Trade(5, 1, 11, SELLER, 10, BUYER, False, price, qty, quote,
                  maker_fee=quote // 1000, taker_fee=qty * 2 // 1000)

    out = settle(MARKET, [trade], {10: buyer, 11: seller})

    assert moves(out) == {
        (BUYER, "USDT", Bucket.LOCKED): -SPEC.notional(limit, qty),
        (BUYER, "USDT", Bucket.AVAILABLE): SPEC.notional(limit - price, qty),
        (BUYER, "BTC", Bucket.AVAILABLE): qty - qty * 2 // 1000,
        (SELLER, "BTC", Bucket.LOCKED): -qty,
        (SELLER, "USDT", Bucket.AVAILABLE): quote - quote // 1000,
        (None, "BTC", Bucket.AVAILABLE): qty * 2 // 1000,
        (None, "USDT", Bucket.AVAILABLE): quote // 1000,
    }
    fee_accounts = {a for (a, _), amount in out.moves.items() if a.user_id is None and amount}
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

    # The fill spent 500,000 of the 1,000,000 lock (no price improvement at market), and
    # being done released the other 500,000: the whole lock is gone, half came back.
    assert moves(out)[BUYER, "USDT", Bucket.LOCKED] == -1_000_000
    assert moves(out)[BUYER, "USDT", Bucket.AVAILABLE] == 500_000
    assert (buyer.locked_amount, buyer.status, buyer.done_reason) == (
        0, OrderStatus.EXPIRED, "EXPIRED_IOC")


def test_amending_a_buy_down_releases_the_lock_of_the_removed_quantity() -> None:
    buyer = order(30, BUYER, Side.BUY, price=5_000_000, qty=UNIT,
                  locked=SPEC.notional(5_000_000, UNIT))
    amended = Amended(9, 30, BUYER, Side.BUY, 5_000_000, UNIT, UNIT // 4, UNIT // 4)

    out = settle(MARKET, [amended], {30: buyer})

    assert moves(out) == {
        (BUYER, "USDT", Bucket.AVAILABLE): SPEC.notional(5_000_000, 3 * UNIT // 4),
        (BUYER, "USDT", Bucket.LOCKED): -SPEC.notional(5_000_000, 3 * UNIT // 4)}
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

    assert moves(out) == {(SELLER, "BTC", Bucket.LOCKED): -UNIT,
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
    assert moves(out) == {(BUYER, "USDT", Bucket.LOCKED): -5_000_000,
                          (BUYER, "USDT", Bucket.AVAILABLE): 5_000_000}


def test_a_batch_posts_one_net_amount_per_account_and_bucket_that_balances() -> None:
    # The seller sells 0.1 BTC twice at 50,000 to the same buyer resting at 50,000.
    qty, price = UNIT // 10, 5_000_000
    quote = SPEC.notional(price, qty)
    buyer = order(60, BUYER, Side.BUY, price=price, qty=UNIT, locked=SPEC.notional(price, UNIT))
    seller = order(61, SELLER, Side.SELL, price=price, qty=UNIT, locked=UNIT)
    trades = [Trade(seq, trade_id, 60, BUYER, 61, SELLER, True, price, qty, quote,
                    maker_fee=qty // 1000, taker_fee=quote * 2 // 1000)
              for seq, trade_id in ((3, 1), (4, 2))]

    out = settle(MARKET, trades, {60: buyer, 61: seller})

    assert moves(out) == {
        (BUYER, "USDT", Bucket.LOCKED): -2 * quote,
        (BUYER, "BTC", Bucket.AVAILABLE): 2 * (qty - qty // 1000),
        (SELLER, "BTC", Bucket.LOCKED): -2 * qty,
        (SELLER, "USDT", Bucket.AVAILABLE): 2 * (quote - quote * 2 // 1000),
        (None, "BTC", Bucket.AVAILABLE): 2 * (qty // 1000),
        (None, "USDT", Bucket.AVAILABLE): 2 * (quote * 2 // 1000),
    }
    assert out.trades == trades
    assert settlement_reference("BTCUSDT", [9, 4, 7]) == "BTCUSDT:commands:4-9"
    assert Settlement().ledger_transaction("BTCUSDT:commands:1-1") is None


def test_an_order_states_copy_carries_every_field_and_changes_apart_from_it() -> None:
    """``copy`` names the fields one by one (a tenth of ``copy.copy``'s cost on the
    matcher's hot path): a field added to OrderState and not to it fails here."""
    base = order(1, BUYER, Side.BUY, price=3, qty=4, locked=5)
    for field in dataclasses.fields(OrderState):
        # Any value will do: only its identity is checked.
        mark: dict[str, Any] = {field.name: object()}
        marked = dataclasses.replace(base, **mark)
        assert getattr(marked.copy(), field.name) is getattr(marked, field.name), field.name
    copied = base.copy()
    copied.executed_qty += 1
    assert base.executed_qty == 0
