"""Commands the order book accepts (see ``book.py`` for the unit conventions).

Commands are immutable and carry everything the caller knows: the engine assigns no ids
and looks nothing up elsewhere. ``order_id`` values are chosen by the caller (the API
inserts the order row first) and must be unique per market; the engine only detects a
clash with an order that is still resting.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.orders import OrderType, SelfTradePrevention, Side, TimeInForce


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    """A new order.

    * LIMIT: ``price`` and ``qty`` with ``tif`` GTC, IOC or FOK.
    * LIMIT_MAKER: ``price`` and ``qty``; rests or is rejected, never takes (tif ignored).
    * MARKET by base quantity: ``qty`` set, ``quote_qty`` 0.
    * MARKET by quote amount (Binance ``quoteOrderQty``): ``quote_qty`` set, ``qty`` 0.
    * STOP_LOSS / TAKE_PROFIT: a MARKET order (sized either way) with ``stop_price``;
      STOP_LOSS_LIMIT / TAKE_PROFIT_LIMIT: a LIMIT order with ``stop_price``. They wait,
      outside the book, until the last trade price reaches ``stop_price`` (see
      ``OrderType.triggers_on_rise``), then trade as the order they stand for.

    ``spend_cap`` (MARKET only, 0 = none) bounds what the order may give up when that is
    not already bounded by its own size: the quote a BUY by base quantity may spend, or
    the base a SELL by quote amount may sell. Set it to what was locked for the order.
    """

    order_id: int
    user_id: int
    side: Side
    order_type: OrderType = OrderType.LIMIT
    price: int = 0
    qty: int = 0
    quote_qty: int = 0
    tif: TimeInForce = TimeInForce.GTC
    stp: SelfTradePrevention = SelfTradePrevention.NONE
    spend_cap: int = 0
    stop_price: int = 0


@dataclass(frozen=True, slots=True)
class CancelOrder:
    """Cancel one open order (resting or waiting for its stop price); someone else's
    order counts as unknown."""

    order_id: int
    user_id: int


@dataclass(frozen=True, slots=True)
class CancelAll:
    """Cancel every open order of ``user_id`` in this market, oldest first."""

    user_id: int


@dataclass(frozen=True, slots=True)
class AmendOrder:
    """Reduce an open order's total quantity to ``new_qty``, keeping queue priority.

    As Binance's amend-keep-priority: ``new_qty`` is the new *original* quantity and
    must be below the current one. If it is at or below what already traded, the order
    ends FILLED.
    """

    order_id: int
    user_id: int
    new_qty: int


@dataclass(frozen=True, slots=True)
class CancelReplace:
    """Cancel ``order_id`` and place ``new_order_id`` at ``price`` for ``qty`` (loses priority).

    The new order inherits side, type, time in force and STP mode from the cancelled
    one. Nothing happens (a rejection for ``new_order_id``) if the old order is not open
    or the new one fails validation.
    """

    order_id: int
    user_id: int
    new_order_id: int
    price: int
    qty: int


@dataclass(frozen=True, slots=True)
class PlaceOco:
    """An OCO order list (one-cancels-the-other): two orders of one user, same side and
    quantity, ``above`` and ``below`` the last trade price.

    For a SELL, ``above`` is a LIMIT_MAKER or TAKE_PROFIT(_LIMIT) and ``below`` a
    STOP_LOSS(_LIMIT); for a BUY the reverse. A leg's level is a LIMIT_MAKER's price or
    a stop's stop price: ``above``'s must be above the last trade price and ``below``'s
    below it (Binance's price relationship). Both legs are accepted or neither is. The
    first leg that trades, starts working or ends expires the other; cancelling either
    cancels both. The caller locks the funds once, for the list.
    """

    above: PlaceOrder
    below: PlaceOrder


@dataclass(frozen=True, slots=True)
class PlaceOto:
    """An OTO order list (one-triggers-the-other): a ``working`` LIMIT or LIMIT_MAKER
    order goes on the book; its ``pending`` order, or pending OCO pair (above, then
    below: an OTOCO), is placed once the working order has fully filled.

    All of the list's orders are one user's and are accepted or refused together (the
    pending ones as orders of their own, a pair's shape as an OCO's; a pending stop's
    trigger and a pair's price relationship are checked when they are placed). If the
    working order ends without filling, its pending orders end too: CANCELED with a
    cancel, else EXPIRED_IN_LIST. Cancelling a pending order cancels the working one.
    Neither the working order nor, while it waits, a pending one can be amended.
    """

    working: PlaceOrder
    pending: tuple[PlaceOrder, ...]


Command = (PlaceOrder | CancelOrder | CancelAll | AmendOrder | CancelReplace | PlaceOco
           | PlaceOto)
