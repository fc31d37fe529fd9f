"""What the exchange can do, as exchangeInfo reports it for every market.

Clients (CCXT, bots) decide from these flags which calls to make, so each must say the
truth: whoever lands a feature flips its flag here, and exchangeInfo follows.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.orders import SelfTradePrevention


@dataclass(frozen=True)
class Capabilities:
    """The order features of every market, named as exchangeInfo's symbol fields."""

    order_types: tuple[str, ...]
    iceberg_allowed: bool
    oco_allowed: bool
    oto_allowed: bool
    opo_allowed: bool
    quote_order_qty_market_allowed: bool
    allow_trailing_stop: bool
    cancel_replace_allowed: bool
    amend_allowed: bool
    peg_instructions_allowed: bool


CAPABILITIES = Capabilities(
    order_types=("LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT",
                 "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"),
    iceberg_allowed=False,
    oco_allowed=True,  # POST /api/v3/orderList/oco
    oto_allowed=True,  # POST /api/v3/orderList/oto and /otoco
    opo_allowed=False,
    quote_order_qty_market_allowed=True,
    allow_trailing_stop=False,
    cancel_replace_allowed=True,
    amend_allowed=True,  # PUT /api/v3/order/amend/keepPriority
    peg_instructions_allowed=False,
)
DEFAULT_SELF_TRADE_PREVENTION = SelfTradePrevention.EXPIRE_MAKER
# Every market trades spot only: no margin, no leveraged tokens.
PERMISSION_SETS: tuple[tuple[str, ...], ...] = (("SPOT",),)
MARKET_PERMISSIONS = frozenset(p for permission_set in PERMISSION_SETS for p in permission_set)
# Binance's symbol statuses; ours are TRADING and HALT.
SYMBOL_STATUSES = frozenset({"TRADING", "HALT", "BREAK"})
