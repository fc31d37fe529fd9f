"""The wire format of the `orders` topic: one JSON command per message, keyed by market.

The API writes a command to the `order_commands` outbox in the same transaction as
the order and its lock, then publishes it; the sweeper republishes what a crash left
unpublished; the matcher decodes it into an engine command and applies each
`command_id` at most once. Amounts are integers of smallest units, as everywhere.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import Any

from pydantic_core import from_json

from chalicelib.domain.orders import (
    CommandKind,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
)


@dataclass(frozen=True, slots=True)
class OrderCommand:
    command_id: int
    kind: CommandKind
    market: str
    user_id: int
    order_id: int = 0
    side: Side = Side.BUY
    order_type: OrderType = OrderType.LIMIT
    price: int = 0
    qty: int = 0
    quote_qty: int = 0
    tif: TimeInForce = TimeInForce.GTC
    stp: SelfTradePrevention = SelfTradePrevention.NONE
    spend_cap: int = 0
    new_qty: int = 0
    new_order_id: int = 0
    # PLACE: the funds locked for the order when it was accepted (0 = not sent, as in
    # commands published before this field existed; the matcher then reads the order).
    locked: int = 0
    # PLACE of a STOP_LOSS(_LIMIT) / TAKE_PROFIT(_LIMIT) order: its stop price.
    stop_price: int = 0
    # PLACE_OCO: the list's legs, each a PLACE (above, then below), placed together; the
    # list's lock is on the one leg whose ``locked`` is not 0. PLACE_OTO: the working
    # order, then its pending order or pending pair (above, then below).
    legs: tuple[OrderCommand, ...] = ()
    order_list_id: int = 0

    def encode(self) -> bytes:
        return _ENCODER.encode(self.to_fields()).encode()

    def to_fields(self) -> dict[str, Any]:
        """The command as JSON fields, in declaration order (``asdict`` without its
        deep copies, which cost more than the JSON itself on the order path)."""
        found = {name: getattr(self, name) for name in _FIELD_NAMES}
        found["legs"] = [leg.to_fields() for leg in self.legs]
        return found

    @classmethod
    def decode(cls, data: bytes) -> OrderCommand:
        # pydantic-core's parser (Rust, repeated keys cached) takes about a third of
        # json.loads's time; the matcher decodes every command on its serial path.
        return cls.from_fields(from_json(data))

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> OrderCommand:
        """The command its JSON fields describe (``KeyError`` for a missing field or an
        unknown enum value, ``ValueError``/``TypeError`` for a malformed number,
        ``TypeError`` for JSON that is not an object (such as ``[1]`` or ``null``), and
        ``ValueError`` for legs its kind cannot have)."""
        if not isinstance(fields, dict):
            raise TypeError(f"a command is a JSON object, not {type(fields).__name__}")
        get = fields.get
        kind = _KINDS[fields["kind"]]
        legs = tuple([cls.from_fields(leg) for leg in get("legs", ())])
        # Checked only where there are legs, or should be: not for most commands.
        if (legs or kind in _LEG_COUNTS) and not _legs_fit(kind, legs):
            # Only the API writes commands, so this is a bug or a hand-made message; the
            # matcher skips it as undecodable instead of failing its batch on every retry.
            raise ValueError(f"a {kind.value} command cannot have these legs")
        return cls(
            command_id=int(fields["command_id"]), kind=kind,
            market=str(fields["market"]), user_id=int(fields["user_id"]),
            order_id=int(fields["order_id"]), side=_SIDES[fields["side"]],
            order_type=_TYPES[fields["order_type"]], price=int(fields["price"]),
            qty=int(fields["qty"]), quote_qty=int(fields["quote_qty"]),
            tif=_TIFS[fields["tif"]], stp=_STPS[fields["stp"]],
            spend_cap=int(fields["spend_cap"]), new_qty=int(fields["new_qty"]),
            new_order_id=int(fields["new_order_id"]), locked=int(get("locked", 0)),
            stop_price=int(get("stop_price", 0)), legs=legs,
            order_list_id=int(get("order_list_id", 0)))


def _legs_fit(kind: CommandKind, legs: tuple[OrderCommand, ...]) -> bool:
    return (len(legs) in _LEG_COUNTS.get(kind, (0,))
            and all(leg.kind is CommandKind.PLACE for leg in legs))


# Enum members by value: a dict lookup is a fraction of ``Enum(value)``'s cost, which
# was most of decoding a command in the matcher (one per order).
_KINDS = {member.value: member for member in CommandKind}
_SIDES = {member.value: member for member in Side}
_TYPES = {member.value: member for member in OrderType}
_TIFS = {member.value: member for member in TimeInForce}
_STPS = {member.value: member for member in SelfTradePrevention}
# The legs an order list's command carries (an OCO: above and below; an OTO: the working
# order and one pending order or a pending pair), each a PLACE; other commands carry none.
_LEG_COUNTS = {CommandKind.PLACE_OCO: (2,), CommandKind.PLACE_OTO: (2, 3)}
_FIELD_NAMES = tuple(field.name for field in fields(OrderCommand))
_ENCODER = json.JSONEncoder(separators=(",", ":"))
