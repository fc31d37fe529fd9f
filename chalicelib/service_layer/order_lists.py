"""Order lists in the database: an OCO's checks, its single lock, the list row, its two
orders and the one command that places them together, in one transaction.

Both legs are checked as orders of their own (filters, client ids), then together
(Binance's price relationship against the last trade price; the engine checks again
against the price it holds). The funds are locked once for the list, on one leg: the
LIMIT_MAKER one if there is one (it may trade as soon as it rests), else the above one;
settlement moves the lock to the other leg if that one starts working instead. The lock
is the larger of what either leg needs, so whichever leg works is covered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.adapters import order_lists_repo, orders_repo
from chalicelib.domain.market_rules import rejection
from chalicelib.domain.order_commands import OrderCommand
from chalicelib.domain.order_lists import ContingencyType, leg_level, oco_prices_problem
from chalicelib.domain.orders import (
    CommandKind,
    Lock,
    Market,
    NewOrder,
    OrderType,
    RejectReason,
    TimeInForce,
)
from chalicelib.service_layer import Conn, orders


@dataclass(frozen=True)
class NewOco:
    """An OCO as the user asked for it: two orders of the same side and quantity."""

    list_client_order_id: str
    above: NewOrder
    below: NewOrder

    @property
    def holder(self) -> NewOrder:
        """The leg the list's lock is on."""
        return self.below if self.below.order_type is OrderType.LIMIT_MAKER else self.above


@dataclass(frozen=True)
class PlacedList:
    list_id: int
    order_ids: list[int]
    """In the order the list shows them (Binance: by order id)."""
    command: OrderCommand


def check_new_oco(conn: Conn, market: Market, oco: NewOco) -> Lock:
    """Everything that can refuse the list, writing nothing; returns its one lock."""
    if market.status != "TRADING":
        raise orders.rejected("Market is closed.")
    legs = (oco.above, oco.below)
    for leg in legs:
        orders.check_filters(market, leg)
    last = orders_repo.last_trade_price(conn, market.spec.symbol)
    reason = oco_prices_problem(_level(oco.above), _level(oco.below), last)
    if reason is not None:
        raise rejection(reason)
    user_id = oco.above.user_id
    if _client_ids_taken(conn, legs) or order_lists_repo.list_client_id_in_use(
            conn, user_id, oco.list_client_order_id):
        raise rejection(RejectReason.DUPLICATE_ORDER_ID)
    needs = [orders.required_lock(conn, market, leg) for leg in legs]
    lock = Lock(needs[0].asset, max(need.amount for need in needs),
                max(need.spend_cap for need in needs))
    if not 0 < lock.amount <= orders_repo.lock_available(conn, user_id, lock.asset):
        raise orders.insufficient_balance()
    return lock


def place_oco(conn: Conn, oco: NewOco) -> PlacedList:
    """Check, lock and record an OCO list; its orders' ids and the command to publish."""
    with conn.transaction():
        market = orders.load_market(conn, oco.above.market)
        lock = check_new_oco(conn, market, oco)
        list_id = order_lists_repo.insert_list(conn, oco.above.user_id, market.spec.symbol,
                                               oco.list_client_order_id, ContingencyType.OCO)
        ids: dict[str, int] = {}
        for name, leg in (("below", oco.below), ("above", oco.above)):
            order_id = orders_repo.insert_order(
                conn, leg, lock.amount if leg is oco.holder else 0,
                _spend_cap(leg, lock), list_id)
            if order_id is None:  # a concurrent request took the client order id
                raise rejection(RejectReason.DUPLICATE_ORDER_ID)
            ids[name] = order_id
        order_lists_repo.link_oco_legs(conn, ids["below"], ids["above"])
        holder_id = ids["below"] if oco.holder is oco.below else ids["above"]
        orders.reserve_locked(conn, oco.above.user_id, holder_id, lock)
        legs = tuple(_leg_command(leg, ids[name], lock, holds=leg is oco.holder)
                     for name, leg in (("above", oco.above), ("below", oco.below)))
        command = orders_repo.insert_command(conn, OrderCommand(
            command_id=0, kind=CommandKind.PLACE_OCO, market=market.spec.symbol,
            user_id=oco.above.user_id, order_id=ids["above"], legs=legs,
            order_list_id=list_id))
        return PlacedList(list_id, sorted(ids.values()), command)


def _client_ids_taken(conn: Conn, listed: tuple[NewOrder, ...]) -> bool:
    """Two orders of the list with one client id, or one an open order has."""
    ids = [o.client_order_id for o in listed]
    return len(set(ids)) < len(ids) or any(
        orders_repo.client_order_id_in_use(conn, o.user_id, o.client_order_id) for o in listed)


def _level(leg: NewOrder) -> int:
    return leg_level(leg.order_type, leg.price, leg.stop_price)


def _spend_cap(leg: NewOrder, lock: Lock) -> int:
    """A stop MARKET buy leg may spend the list's whole lock should it inherit it."""
    return lock.amount if lock.spend_cap and leg.order_type.trades_as_market else 0


def _leg_command(leg: NewOrder, order_id: int, lock: Lock, *, holds: bool) -> OrderCommand:
    """A leg as a PLACE, carrying the list's lock if it ``holds`` it."""
    return OrderCommand(
        command_id=0, kind=CommandKind.PLACE, market=leg.market, user_id=leg.user_id,
        order_id=order_id, side=leg.side, order_type=leg.order_type, price=leg.price,
        qty=leg.qty, tif=leg.tif or TimeInForce.GTC, stp=leg.stp,
        spend_cap=_spend_cap(leg, lock), locked=lock.amount if holds else 0,
        stop_price=leg.stop_price)


def find_list(conn: Conn, user_id: int, *, list_id: int | None,
              list_client_order_id: str | None) -> dict[str, Any]:
    """One of the user's lists with its orders; -2011 when there is none."""
    found = order_lists_repo.find_list(conn, user_id, list_id=list_id,
                                       list_client_order_id=list_client_order_id)
    if found is None:
        raise rejection(RejectReason.UNKNOWN_ORDER)
    return with_orders(conn, [found])[0]


def with_orders(conn: Conn, lists: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The lists, each with its ``orders`` (by id)."""
    legs = order_lists_repo.orders_of(conn, [int(found["id"]) for found in lists])
    return [{**found, "orders": legs[int(found["id"])]} for found in lists]


@dataclass(frozen=True)
class NewOto:
    """An OTO (one pending order) or OTOCO (a pending pair, above then below) as the
    user asked for it."""

    list_client_order_id: str
    working: NewOrder
    pending: tuple[NewOrder, ...]

    @property
    def pending_holder(self) -> NewOrder:
        """The pending order the pending orders' lock is on (as an OCO's holder)."""
        if len(self.pending) == 1:
            return self.pending[0]
        return NewOco(self.list_client_order_id, *self.pending).holder


def check_new_oto(conn: Conn, market: Market, oto: NewOto) -> tuple[Lock, Lock]:
    """Everything that can refuse the list at placement, writing nothing; the working
    order's lock and the pending orders' one (Binance checks the pending orders' funds
    too, except in OPO lists; a pending stop's trigger and a pair's prices are checked
    when they are placed)."""
    if market.status != "TRADING":
        raise orders.rejected("Market is closed.")
    everything = (oto.working, *oto.pending)
    for order in everything:
        orders.check_filters(market, order)
    user_id = oto.working.user_id
    if _client_ids_taken(conn, everything) or order_lists_repo.list_client_id_in_use(
            conn, user_id, oto.list_client_order_id):
        raise rejection(RejectReason.DUPLICATE_ORDER_ID)
    working = orders.required_lock(conn, market, oto.working)
    needs = [orders.required_lock(conn, market, p) for p in oto.pending]
    pending = Lock(needs[0].asset, max(n.amount for n in needs),
                   max(n.spend_cap for n in needs))
    wanted = {working.asset: working.amount}
    wanted[pending.asset] = wanted.get(pending.asset, 0) + pending.amount
    if any(not 0 < amount <= orders_repo.lock_available(conn, user_id, asset)
           for asset, amount in wanted.items()):
        raise orders.insufficient_balance()
    return working, pending


def place_oto(conn: Conn, oto: NewOto) -> PlacedList:
    """Check, lock and record an OTO or OTOCO list; the working order rests, the pending
    ones wait PENDING_NEW with their own lock."""
    with conn.transaction():
        market = orders.load_market(conn, oto.working.market)
        working_lock, pending_lock = check_new_oto(conn, market, oto)
        user_id = oto.working.user_id
        list_id = order_lists_repo.insert_list(conn, user_id, market.spec.symbol,
                                               oto.list_client_order_id, ContingencyType.OTO)
        working_id = _insert(conn, oto.working, working_lock.amount, working_lock.spend_cap,
                             list_id, "NEW")
        holder = oto.pending_holder
        pending_ids = {}
        for p in reversed(oto.pending):  # a pair's below order first, as an OCO's
            pending_ids[p.client_order_id] = _insert(
                conn, p, pending_lock.amount if p is holder else 0,
                _spend_cap(p, pending_lock), list_id, "PENDING_NEW")
        ids = [pending_ids[p.client_order_id] for p in oto.pending]
        if len(ids) == 2:
            order_lists_repo.link_oco_legs(conn, *ids)
        orders.reserve_locked(conn, user_id, working_id, working_lock)
        orders.reserve_locked(conn, user_id, pending_ids[holder.client_order_id],
                              pending_lock)
        legs = (_leg_command(oto.working, working_id, working_lock, holds=True),
                *(_leg_command(p, i, pending_lock, holds=p is holder)
                  for p, i in zip(oto.pending, ids, strict=True)))
        command = orders_repo.insert_command(conn, OrderCommand(
            command_id=0, kind=CommandKind.PLACE_OTO, market=market.spec.symbol,
            user_id=user_id, order_id=working_id, legs=legs, order_list_id=list_id))
        return PlacedList(list_id, [working_id, *sorted(ids)], command)


def _insert(conn: Conn, order: NewOrder, locked: int, spend_cap: int, list_id: int,
            status: str) -> int:
    order_id = orders_repo.insert_order(conn, order, locked, spend_cap, list_id, status)
    if order_id is None:  # a concurrent request took the client order id
        raise rejection(RejectReason.DUPLICATE_ORDER_ID)
    return order_id
