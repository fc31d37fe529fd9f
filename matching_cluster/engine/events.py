"""Events the order book emits (see ``book.py`` for the unit conventions).

Every event carries ``seq``, the market's sequence number: it starts at 1 and grows by
exactly one per event, so consumers can detect gaps. Events are ``NamedTuple``s (cheap to
build on the hot path); compare streams with ``encode_events`` rather than ``==``
because two different event types with equal fields would compare equal as tuples.

What settlement does with them, without looking anything up:

* ``Trade``: the buyer receives ``qty`` base minus the buyer's fee (fees of the buyer
  are in base), pays ``quote_qty`` quote; the seller gives ``qty`` base and receives
  ``quote_qty`` quote minus the seller's fee (fees of the seller are in quote).
  ``buyer_is_maker`` says which of ``maker_fee``/``taker_fee`` is the buyer's.
* ``OrderDone``: the order will never trade again; ``filled_qty``/``filled_quote`` are
  what it consumed or received in total, so whatever was locked beyond that is freed.
* ``Triggered``: a stop order's stop price was reached; it trades from now on as the
  LIMIT or MARKET order it stands for (its lock was taken for that order already).
* ``Amended``: the order's quantity went down from ``old_qty`` to ``new_qty`` at
  ``price``, freeing the lock of the difference.
* ``Rejected``: the command changed nothing; for ``PLACE`` and ``CANCEL_REPLACE`` the
  new ``order_id`` never existed in the book, so its lock is freed.
* ``PreventedMatch``: self-trade prevention stopped a taker from trading with a maker of
  the same user; it moves no money (the ``OrderDone`` events that follow free the locks)
  and is only recorded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import NamedTuple

from chalicelib.domain.orders import (
    CommandKind,
    DoneReason,
    OrderType,
    RejectReason,
    SelfTradePrevention,
    Side,
    TimeInForce,
)


class Accepted(NamedTuple):
    """An order passed validation and entered matching (status NEW).

    ``price`` is 0 for MARKET orders; ``qty`` is 0 for a MARKET order sized by
    ``quote_qty`` (and ``quote_qty`` is 0 for every other order).
    """

    seq: int
    order_id: int
    user_id: int
    side: Side
    order_type: OrderType
    tif: TimeInForce
    price: int
    qty: int
    quote_qty: int


class Trade(NamedTuple):
    """One fill between a resting maker and an incoming taker, at the maker's price."""

    seq: int
    trade_id: int
    maker_order_id: int
    maker_user_id: int
    taker_order_id: int
    taker_user_id: int
    buyer_is_maker: bool
    price: int
    qty: int
    quote_qty: int
    maker_fee: int
    taker_fee: int

    @property
    def buyer_fee(self) -> int:
        """The buyer's fee, in base units."""
        return self.maker_fee if self.buyer_is_maker else self.taker_fee

    @property
    def seller_fee(self) -> int:
        """The seller's fee, in quote units."""
        return self.taker_fee if self.buyer_is_maker else self.maker_fee


class OrderDone(NamedTuple):
    """An order left the engine for good.

    ``filled_qty`` base and ``filled_quote`` quote are its totals over all its trades;
    ``remaining_qty`` is the base quantity that never traded (0 for a MARKET order sized
    by quote amount, whose unspent quote is ``quote_qty - filled_quote``).
    """

    seq: int
    order_id: int
    user_id: int
    side: Side
    reason: DoneReason
    filled_qty: int
    filled_quote: int
    remaining_qty: int


class Amended(NamedTuple):
    """A resting order's total quantity was reduced in place (priority kept)."""

    seq: int
    order_id: int
    user_id: int
    side: Side
    price: int
    old_qty: int
    new_qty: int
    remaining_qty: int


class Triggered(NamedTuple):
    """A stop order started working: the last trade price reached its ``stop_price``.

    The events of its matching follow, as for an order placed at this point; a LIMIT
    one that rests takes its place in the queue now.
    """

    seq: int
    order_id: int
    user_id: int
    side: Side
    order_type: OrderType
    stop_price: int
    last_price: int


class Rejected(NamedTuple):
    """A command was refused and changed nothing."""

    seq: int
    command: CommandKind
    order_id: int
    user_id: int
    reason: RejectReason


class PreventedMatch(NamedTuple):
    """Self-trade prevention stopped ``taker_order_id`` from trading with the resting
    ``maker_order_id`` of the same ``user_id`` at the maker's ``price``.

    ``mode`` is the taker's STP mode that acted; ``maker_prevented_qty`` is the maker's
    remaining base quantity at that moment (Binance's ``makerPreventedQuantity``). It comes
    before the ``OrderDone`` of the order(s) the mode expires.
    """

    seq: int
    taker_order_id: int
    maker_order_id: int
    user_id: int
    mode: SelfTradePrevention
    price: int
    maker_prevented_qty: int


Event = Accepted | Trade | OrderDone | Amended | Triggered | Rejected | PreventedMatch


def event_to_tuple(event: Event) -> tuple[object, ...]:
    """The event as plain JSON-able values, tagged with its type name."""
    return (type(event).__name__, *event)


def encode_events(events: Iterable[Event]) -> bytes:
    """Canonical bytes of an event stream: one compact JSON array per line."""
    return b"".join(_line(e) for e in events)


def stream_digest(events: Iterable[Event]) -> str:
    """sha256 of ``encode_events``, to compare long streams cheaply."""
    digest = hashlib.sha256()
    for e in events:
        digest.update(_line(e))
    return digest.hexdigest()


def _line(event: Event) -> bytes:
    return json.dumps(event_to_tuple(event), separators=(",", ":")).encode() + b"\n"
