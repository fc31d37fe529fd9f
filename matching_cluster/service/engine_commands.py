"""Wire commands in the engine's form: what a book is fed for each kind of command."""

from __future__ import annotations

import dataclasses
import logging

from chalicelib.domain.order_commands import OrderCommand
from chalicelib.domain.orders import CommandKind
from matching_cluster.engine import (
    AmendOrder,
    CancelAll,
    CancelOrder,
    CancelReplace,
    Command,
    PlaceOco,
    PlaceOrder,
    PlaceOto,
)

log = logging.getLogger(__name__)

# The compiled book holds ids and amounts as int64 and raises beyond, which would fail
# every retry of the batch. Ids are PostgreSQL bigints, but the API bounds amounts only by
# the ledger's 38 digits: an amount beyond int64 goes to either book as this one, which
# both refuse alike (INVALID_PRICE, INVALID_QUANTITY, INVALID_ORDER).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
OUT_OF_RANGE_AMOUNT = -1


def engine_command(command: OrderCommand, *, halt: bool = False) -> Command | None:
    """The engine's form of a wire command (None for a kind the matcher does not run, or
    a PLACE in a halted market; there a CANCEL_REPLACE only cancels)."""
    if not _fits_int64(command):
        if not _ids_fit_int64(command):
            log.error("command with an id beyond int64 skipped",
                      extra={"command_id": command.command_id})
            return None
        command = _amounts_bounded(command)
    kind = command.kind
    if kind is CommandKind.CANCEL_REPLACE:
        if halt:
            return CancelOrder(command.order_id, command.user_id)
        return CancelReplace(command.order_id, command.user_id, command.new_order_id,
                             command.price, command.qty)
    if halt:
        return None
    if kind is CommandKind.PLACE:
        return place_order(command)
    if kind is CommandKind.PLACE_OCO:
        above, below = command.legs
        return PlaceOco(place_order(above), place_order(below))
    if kind is CommandKind.PLACE_OTO:
        working, *pending = command.legs
        return PlaceOto(place_order(working), tuple(place_order(p) for p in pending))
    if kind is CommandKind.CANCEL:
        return CancelOrder(command.order_id, command.user_id)
    if kind is CommandKind.CANCEL_ALL:
        return CancelAll(command.user_id)
    if kind is CommandKind.AMEND:
        return AmendOrder(command.order_id, command.user_id, command.new_qty)
    log.error("unsupported command kind skipped", extra={"command_id": command.command_id,
                                                         "kind": kind.value})
    return None


def place_order(command: OrderCommand) -> PlaceOrder:
    return PlaceOrder(command.order_id, command.user_id, command.side, command.order_type,
                      command.price, command.qty, command.quote_qty, command.tif,
                      command.stp, command.spend_cap, command.stop_price)


def _fits_int64(command: OrderCommand) -> bool:
    values = (command.order_id, command.user_id, command.new_order_id, command.price,
              command.qty, command.quote_qty, command.spend_cap, command.new_qty,
              command.stop_price)
    return (min(values) >= INT64_MIN and max(values) <= INT64_MAX
            and all(_fits_int64(leg) for leg in command.legs))


def _ids_fit_int64(command: OrderCommand) -> bool:
    return (all(INT64_MIN <= i <= INT64_MAX
                for i in (command.order_id, command.user_id, command.new_order_id))
            and all(_ids_fit_int64(leg) for leg in command.legs))


def _amounts_bounded(command: OrderCommand) -> OrderCommand:
    """``command`` with each amount beyond int64 (its legs' too) replaced by one both
    books refuse."""
    return dataclasses.replace(
        command, price=_bounded(command.price), qty=_bounded(command.qty),
        quote_qty=_bounded(command.quote_qty), spend_cap=_bounded(command.spend_cap),
        new_qty=_bounded(command.new_qty), stop_price=_bounded(command.stop_price),
        legs=tuple(_amounts_bounded(leg) for leg in command.legs))


def _bounded(amount: int) -> int:
    return amount if INT64_MIN <= amount <= INT64_MAX else OUT_OF_RANGE_AMOUNT
