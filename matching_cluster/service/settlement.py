"""What one batch of engine events does to the database, computed without I/O.

``settle`` turns a market's events plus the current state of the orders they touch into
the rows the batch transaction writes: trade rows, the orders' new state and the money
each (account, bucket) gains or loses. Amounts are exact ints (see
``chalicelib.domain.orders``).

The money of a market's batch is posted as ONE ledger transaction of net amounts per
(account, bucket), not one per trade: a batch of hundreds of trades between a few
accounts then costs a few ledger rows instead of about seven per trade, which is most of
settlement's database work. Every trade's own amounts and fees stay in its ``trades``
row, and the ledger transaction's reference names the commands it settled. Each
event's moves balance per asset, so their sum does too.

Lock accounting: an order's ``locked_amount`` is what it may still consume (quote for a
BUY, base for a SELL). A fill takes from it what the fill consumed at the order's own
lock price; whatever is left when the order is done goes back to AVAILABLE. A stop order
locks at placement what the order it stands for locks; its ``Triggered`` event moves no
money, it only marks the order working. An OCO list's lock is on one of its legs (the
other's ``locked_amount`` is 0); it moves to the other leg when that one starts working.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from chalicelib.domain.fees import Rates, fee
from chalicelib.domain.ledger import (
    AccountKind,
    AccountRef,
    Bucket,
    LedgerTransaction,
    Posting,
)
from chalicelib.domain.order_commands import OrderCommand
from chalicelib.domain.orders import (
    CommandKind,
    DoneReason,
    MarketSpec,
    OrderStatus,
    OrderType,
    RejectReason,
    Side,
)
from matching_cluster.engine import (
    Accepted,
    Amended,
    Event,
    OrderDone,
    PreventedMatch,
    Rejected,
    Trade,
    Triggered,
)

MARKET_HALTED = "MARKET_HALTED"
"""``done_reason`` of a PLACE the matcher refused because the market is not TRADING."""

_OPEN = (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)
_UNDONE = (*_OPEN, OrderStatus.PENDING_NEW)


@dataclass(frozen=True, slots=True)
class MarketInfo:
    spec: MarketSpec
    base_asset: str
    quote_asset: str
    status: str

    @property
    def symbol(self) -> str:
        return self.spec.symbol

    @property
    def trading(self) -> bool:
        return self.status == "TRADING"


@dataclass(slots=True)
class OrderState:
    """The columns of an ``orders`` row that settlement reads or writes."""

    order_id: int
    user_id: int
    side: Side
    order_type: OrderType
    price: int  # 0 for MARKET orders
    quantity: int  # 0 for a MARKET order sized by quote amount
    executed_qty: int
    cumulative_quote_qty: int
    locked_amount: int
    status: OrderStatus
    accepted_seq: int | None = None
    done_reason: str | None = None
    last_seq: int = 0  # the latest event that changed it (for order-events)
    working_seq: int | None = None  # a stop order's Triggered event (None: not yet)
    oco_sibling: int = 0  # an OCO leg's other leg (0: not in an OCO)

    @classmethod
    def placed(cls, command: OrderCommand) -> OrderState:
        """The row the API inserted with ``command`` (a PLACE that carries its lock)."""
        return cls(command.order_id, command.user_id, command.side, command.order_type,
                   command.price, command.qty, 0, 0, command.locked, OrderStatus.NEW)

    def copy(self) -> OrderState:
        return OrderState(self.order_id, self.user_id, self.side, self.order_type, self.price,
                          self.quantity, self.executed_qty, self.cumulative_quote_qty,
                          self.locked_amount, self.status, self.accepted_seq,
                          self.done_reason, self.last_seq, self.working_seq, self.oco_sibling)

    @property
    def is_resting(self) -> bool:
        """Accepted and not done: in the book (or a stop order waiting to be)."""
        return self.status in _OPEN and self.accepted_seq is not None


Moves = dict[tuple[AccountRef, Bucket], int]
UserAmounts = defaultdict[tuple[int, str], int]
"""Net amount per (user id, asset) in one bucket."""


@dataclass(slots=True)
class Settlement:
    trades: list[Trade] = field(default_factory=list)
    prevented_matches: list[PreventedMatch] = field(default_factory=list)
    changed_orders: dict[int, OrderState] = field(default_factory=dict)
    # Net amounts over the batch, keyed by plain tuples while events are settled: a
    # batch adds up several amounts per trade, and an AccountRef key hashes in Python.
    available: UserAmounts = field(default_factory=lambda: defaultdict(int))
    locked: UserAmounts = field(default_factory=lambda: defaultdict(int))
    fees: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    """The exchange's fee account's gain per asset."""

    @property
    def moves(self) -> Moves:
        """Net amount per (account, bucket) over the batch; zero nets move nothing."""
        moves: Moves = {}
        for bucket, amounts in ((Bucket.AVAILABLE, self.available),
                                (Bucket.LOCKED, self.locked)):
            for (user_id, asset), amount in amounts.items():
                moves[_user(user_id, asset), bucket] = amount
        for asset, amount in self.fees.items():
            moves[_fee_account(asset), Bucket.AVAILABLE] = amount
        return moves

    def ledger_transaction(self, reference: str) -> LedgerTransaction | None:
        """The batch's money as one ledger transaction (None if nothing moved)."""
        postings = [Posting(account, bucket, amount)
                    for (account, bucket), amount in self.moves.items() if amount]
        return LedgerTransaction(SETTLEMENT, reference, postings) if postings else None


SETTLEMENT = "SETTLEMENT"
"""Ledger kind of a market's settled batch; see ``settlement_reference``."""


def settlement_reference(market: str, command_ids: Sequence[int]) -> str:
    """Unique per batch: a command is applied once, so its id names one batch only."""
    return f"{market}:commands:{min(command_ids)}-{max(command_ids)}"


def order_ids_of(events: Iterable[Event]) -> set[int]:
    """Every order whose state settlement needs for these events (a rejected cancel or
    amend, or a duplicate id, moves nothing: see ``_rejected``)."""
    ids: set[int] = set()
    for e in events:
        if isinstance(e, Trade):
            ids.add(e.maker_order_id)
            ids.add(e.taker_order_id)
        elif isinstance(e, PreventedMatch):
            continue  # the OrderDone events that follow it name the orders it expires
        elif not isinstance(e, Rejected) or _frees_its_lock(e):
            ids.add(e.order_id)
    return ids


def settle(
    market: MarketInfo, events: Iterable[Event], orders: dict[int, OrderState],
    tier_rates: Mapping[int, Rates] | None = None,
) -> Settlement:
    """Rows and postings for ``events``; updates the states in ``orders`` in place.
    ``tier_rates``: the fee-tier rates of the users who have one (``charged``)."""
    out = Settlement()
    for event in events:
        if isinstance(event, Trade):
            _trade(market, charged(market.spec, event, tier_rates or {}), orders, out)
        elif isinstance(event, Accepted):
            _accepted(orders[event.order_id], event.seq, out)
        elif isinstance(event, OrderDone):
            _done(market, event, orders, out)
        elif isinstance(event, Amended):
            _amended(market, event, orders[event.order_id], out)
        elif isinstance(event, Triggered):
            _touch(orders[event.order_id], event.seq, out).working_seq = event.seq
        elif isinstance(event, Rejected):
            _rejected(market, event, orders.get(event.order_id), out)
        elif isinstance(event, PreventedMatch):
            out.prevented_matches.append(event)  # moves nothing: only recorded
    return out


def charged(spec: MarketSpec, t: Trade, tier_rates: Mapping[int, Rates]) -> Trade:
    """The trade with each side's fee at its fee tier's rate where that is lower than
    the market's (the engine charges the market's), rounded up as the engine rounds."""
    maker_tier, taker_tier = tier_rates.get(t.maker_user_id), tier_rates.get(t.taker_user_id)
    if maker_tier is None and taker_tier is None:
        return t
    market_rates = Rates(spec.maker_fee_ppm, spec.taker_fee_ppm)
    maker_ppm = market_rates.lowest(maker_tier).maker_ppm
    taker_ppm = market_rates.lowest(taker_tier).taker_ppm
    # The buyer receives the base quantity, the seller the quote amount.
    maker_gets, taker_gets = (t.qty, t.quote_qty) if t.buyer_is_maker else (t.quote_qty, t.qty)
    return t._replace(maker_fee=fee(maker_gets, maker_ppm), taker_fee=fee(taker_gets, taker_ppm))


def reject_halted(market: MarketInfo, order: OrderState, out: Settlement) -> None:
    """A PLACE for a market that is not TRADING: refused before the engine sees it."""
    _finish_unaccepted(market, order, MARKET_HALTED, out)


def _trade(market: MarketInfo, t: Trade, orders: dict[int, OrderState], out: Settlement) -> None:
    base, quote = market.base_asset, market.quote_asset
    buyer_id, seller_id = (
        (t.maker_order_id, t.taker_order_id) if t.buyer_is_maker
        else (t.taker_order_id, t.maker_order_id)
    )
    buyer, seller = orders[buyer_id], orders[seller_id]
    # A LIMIT buyer locked at its own limit price; a better fill price frees the difference.
    taken = (
        t.quote_qty if buyer.order_type.trades_as_market
        else market.spec.notional(buyer.price, t.qty)
    )
    available, locked = out.available, out.locked
    buyer_quote = (buyer.user_id, quote)
    locked[buyer_quote] -= taken
    available[buyer_quote] += taken - t.quote_qty
    available[buyer.user_id, base] += t.qty - t.buyer_fee
    locked[seller.user_id, base] -= t.qty
    available[seller.user_id, quote] += t.quote_qty - t.seller_fee
    out.fees[base] += t.buyer_fee
    out.fees[quote] += t.seller_fee
    out.trades.append(t)
    _fill(_touch(buyer, t.seq, out), t, taken)
    _fill(_touch(seller, t.seq, out), t, t.qty)


def _fill(order: OrderState, t: Trade, taken_from_lock: int) -> None:
    order.executed_qty += t.qty
    order.cumulative_quote_qty += t.quote_qty
    order.locked_amount -= taken_from_lock
    order.status = OrderStatus.PARTIALLY_FILLED


def _accepted(order: OrderState, seq: int, out: Settlement) -> None:
    """On the book (or waiting for its stop price); an OTO's pending order is placed."""
    _touch(order, seq, out).accepted_seq = seq
    if order.status is OrderStatus.PENDING_NEW:
        order.status = OrderStatus.NEW


def _done(market: MarketInfo, e: OrderDone, orders: dict[int, OrderState],
          out: Settlement) -> None:
    order = _touch(orders[e.order_id], e.seq, out)
    if (e.reason is DoneReason.EXPIRED_IN_LIST and order.locked_amount
            and order.status in _OPEN and orders[order.oco_sibling].status in _OPEN):
        # The OCO's lock is on this leg, and the other leg started working: the engine
        # expires this one before the other trades, so the lock moves to it whole. (An
        # OTO's pending pair ending unplaced gives its lock back instead.)
        heir = _touch(orders[order.oco_sibling], e.seq, out)
        heir.locked_amount += order.locked_amount
        order.locked_amount = 0
    _release(market, order, order.locked_amount, out)
    order.status = e.reason.status
    order.done_reason = e.reason.value


def _amended(market: MarketInfo, e: Amended, order: OrderState, out: Settlement) -> None:
    _touch(order, e.seq, out)
    order.quantity = e.new_qty
    if order.side is Side.SELL:
        still_needed = e.remaining_qty
    elif order.order_type.trades_as_market:
        still_needed = order.locked_amount  # a stop MARKET buy's lock is its spend cap
    else:
        still_needed = market.spec.notional(e.price, e.remaining_qty)
    _release(market, order, order.locked_amount - still_needed, out)


def _rejected(
    market: MarketInfo, e: Rejected, order: OrderState | None, out: Settlement
) -> None:
    if not _frees_its_lock(e):
        return
    if order is None or order.status not in _UNDONE or order.accepted_seq is not None:
        return
    _touch(order, e.seq, out)
    _finish_unaccepted(market, order, e.reason.value, out)


def _frees_its_lock(e: Rejected) -> bool:
    # Rejected cancels and amends move nothing. A rejected PLACE or CANCEL_REPLACE names
    # the order it placed, whose lock it frees; unless rejected as a duplicate id: that
    # names an order live in the book, whose lock is not this command's to free.
    return (e.command in (CommandKind.PLACE, CommandKind.CANCEL_REPLACE)
            and e.reason is not RejectReason.DUPLICATE_ORDER_ID)


def _finish_unaccepted(
    market: MarketInfo, order: OrderState, reason: str, out: Settlement
) -> None:
    out.changed_orders[order.order_id] = order
    _release(market, order, order.locked_amount, out)
    order.status = OrderStatus.REJECTED
    order.done_reason = reason


def _release(market: MarketInfo, order: OrderState, amount: int, out: Settlement) -> None:
    """Move ``amount`` of the order's lock back to its owner's AVAILABLE."""
    if amount < 0:
        raise ValueError(f"order {order.order_id} would release {amount} from its lock")
    order.locked_amount -= amount
    account = (order.user_id,
               market.quote_asset if order.side is Side.BUY else market.base_asset)
    out.locked[account] -= amount
    out.available[account] += amount


def _touch(order: OrderState, seq: int, out: Settlement) -> OrderState:
    order.last_seq = seq
    out.changed_orders[order.order_id] = order
    return order


# Accounts recur across a batch's trades; building (and validating) each once is cheaper.
@lru_cache(maxsize=65536)
def _user(user_id: int, asset: str) -> AccountRef:
    return AccountRef.user(user_id, asset)


@lru_cache(maxsize=1024)
def _fee_account(asset: str) -> AccountRef:
    return AccountRef.system(AccountKind.FEE, asset)
