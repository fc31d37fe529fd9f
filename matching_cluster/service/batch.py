"""One consumed batch of commands, from any partitions: engine, then ONE transaction.

The transaction first moves every partition's offset (each guarded by this instance's
epoch for it, so a fenced instance fails before doing anything), skips command ids
already applied, runs each market's commands through its book, and writes trades, order
states, ledger postings, market sequences and ``applied_at``. If anything raises, the
transaction rolls back and the caller must drop the books of every partition in the
batch: they ran commands that never committed.

Settling all partitions together matters for throughput: a transaction's fixed cost
(round trips, commit) is paid once per consumed batch, not once per partition.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial

from chalicelib.adapters.postgres import pipelined_transaction
from chalicelib.domain.clock import Clock
from chalicelib.domain.fees import Rates
from chalicelib.domain.metric_catalogue import MATCHER_COMMANDS, MATCHER_ENGINE_SECONDS
from chalicelib.domain.order_commands import OrderCommand
from chalicelib.domain.orders import CommandKind, OrderStatus
from matching_cluster.engine import (
    AmendOrder,
    CancelAll,
    CancelOrder,
    CancelReplace,
    Command,
    Event,
    PlaceOco,
    PlaceOrder,
    PlaceOto,
    Trade,
)

from . import repository as repo
from .books import Books, MarketBook
from .metrics import Metrics
from .settlement import (
    OrderState,
    Settlement,
    order_ids_of,
    reject_halted,
    settle,
    settlement_reference,
)

log = logging.getLogger(__name__)

# The compiled book holds ids and amounts as int64 and raises beyond, which would fail
# every retry of the batch. Ids are PostgreSQL bigints, but the API bounds amounts only by
# the ledger's 38 digits: an amount beyond int64 goes to either book as this one, which
# both refuse alike (INVALID_PRICE, INVALID_QUANTITY, INVALID_ORDER).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
OUT_OF_RANGE_AMOUNT = -1


@dataclass(frozen=True, slots=True)
class PartitionSlice:
    """One partition's part of a batch: its commands (None = undecodable, skipped) in
    offset order, and the offset to store once they are settled."""

    partition: int
    epoch: int
    commands: Sequence[OrderCommand | None]
    next_offset: int


@dataclass(slots=True)
class MarketResult:
    """What one market's part of a committed batch did (for Redis and events)."""

    entry: MarketBook
    events: list[Event]
    settlement: Settlement
    time_ms: int
    """When the batch settled (ms since the epoch): its trades' ``executed_at``."""
    commands: list[OrderCommand]
    """The market's commands the batch applied, in offset order."""


def apply_batch(
    conn: repo.Conn, books: Books, metrics: Metrics, *, topic: str,
    slices: Sequence[PartitionSlice], clock: Clock,
) -> list[MarketResult]:
    """Apply and settle every slice's commands; store every slice's next offset. The
    batch's trades are executed at ``clock``'s time when the engine is done."""
    # Pipeline mode: statements whose results are not needed yet go out without a
    # round trip each, which is most of a small batch's cost. Every market's engine work
    # runs first, then the whole batch is settled in a constant number of statements,
    # however many markets and partitions it touches.
    decoded = [(s.partition, c) for s in slices for c in s.commands if c is not None]
    with pipelined_transaction(conn):
        # The offset guard is the first statement; the reads after it (commands applied
        # before, market statuses, the fee tiers' version) travel in the same round trip,
        # and nothing is written before the guard has passed.
        offsets = [(s.partition, s.epoch, s.next_offset) for s in slices]
        guard = repo.advance_offsets_cursor(conn, topic, offsets)
        applied = repo.applied_command_ids_cursor(conn, [c.command_id for _, c in decoded])
        statuses_cursor = repo.market_statuses_cursor(conn, {c.market for _, c in decoded})
        tier_version = repo.fee_tier_version_cursor(conn)
        repo.check_offsets_advanced(guard, topic, offsets)
        fresh = _first_deliveries(repo.fetch_ids(applied), decoded, metrics)
        statuses = repo.fetch_statuses(statuses_cursor)
        tiers = partial(books.fee_tiers.at, conn, repo.fetch_version(tier_version))
        runs = []
        for (market, partition), market_commands in _by_market(fresh).items():
            entry = books.get(conn, market, partition)
            if entry is None:
                log.error("commands for an unknown market skipped",
                          extra={"market": market, "count": len(market_commands)})
                continue
            entry.info = dataclasses.replace(entry.info, status=statuses[market])
            runs.append(_run_engine(entry, market_commands, metrics))
        # What is known once the engines have run is sent first, so that the server
        # writes it while settlement is computed (pipeline mode waits for nothing).
        repo.mark_applied(conn, [c.command_id for _, c in fresh])
        repo.save_sequences(conn, [
            (run.entry.info.symbol, run.entry.book.next_seq - 1,
             run.entry.book.next_trade_id - 1) for run in runs if run.events])
        return _settle_all(conn, runs, clock.now_ms(), tiers)


def _first_deliveries(
    seen: set[int], commands: list[tuple[int, OrderCommand]], metrics: Metrics
) -> list[tuple[int, OrderCommand]]:
    """The commands not applied before, each command id once (republishes are repeats)."""
    fresh = []
    for partition, command in commands:
        if command.command_id in seen:
            continue
        seen.add(command.command_id)
        fresh.append((partition, command))
    metrics.inc(MATCHER_COMMANDS, len(commands) - len(fresh), outcome="duplicate")
    return fresh


def _by_market(
    commands: list[tuple[int, OrderCommand]],
) -> dict[tuple[str, int], list[OrderCommand]]:
    """Each market's commands in offset order, with the partition they came from."""
    grouped: dict[tuple[str, int], list[OrderCommand]] = {}
    for partition, command in commands:
        grouped.setdefault((command.market, partition), []).append(command)
    return grouped


@dataclass(slots=True)
class _EngineRun:
    """One market's commands through its book, before settlement."""

    entry: MarketBook
    commands: list[OrderCommand]
    events: list[Event]
    halted: list[OrderCommand]


def _run_engine(entry: MarketBook, commands: list[OrderCommand], metrics: Metrics) -> _EngineRun:
    # A halted market refuses new orders before the engine sees them; cancels still pass
    # (a cancel-replace's cancel too).
    halted = [] if entry.info.trading else [c for c in commands if c.kind in PLACING]
    to_engine = [e for e in (engine_command(c, halt=c in halted) for c in commands) if e]
    started = time.perf_counter()
    events = entry.book.apply_batch(to_engine)
    metrics.observe(MATCHER_ENGINE_SECONDS, time.perf_counter() - started)
    metrics.inc(MATCHER_COMMANDS, len(to_engine), outcome="applied")
    metrics.inc(MATCHER_COMMANDS, len(halted), outcome="halted")
    return _EngineRun(entry, commands, events, halted)


def _settle_all(
    conn: repo.Conn, runs: list[_EngineRun], time_ms: int,
    tiers: Callable[[], Mapping[int, Rates]],
) -> list[MarketResult]:
    """Settle every market's events: one read of the touched orders, one write of each kind.

    Orders belong to one market, so each market settles against its own rows exactly as
    if it had been settled alone; each market's money is one ledger transaction, and
    the ledger adapter applies balance changes additively.
    """
    if not runs:
        return []
    states = [_known_states(run) for run in runs]
    missing = {oid for known, wanted in states for oid in wanted - known.keys()}
    # Only for commands published without their lock (see OrderCommand.locked).
    loaded = repo.load_orders(conn, missing) if missing else {}
    # The tiers' rates are read again only if they changed, and only for a batch that trades.
    traded = any(isinstance(e, Trade) for run in runs for e in run.events)
    tier_rates = tiers() if traded else {}
    results, ledger = [], []
    for run, (known, wanted) in zip(runs, states, strict=True):
        info = run.entry.info
        orders = {**{oid: loaded[oid] for oid in wanted if oid in loaded}, **known}
        settlement = settle(info, run.events, orders, tier_rates)
        for command in run.halted:
            for order_id in placed_order_ids(command):
                reject_halted(info, orders[order_id], settlement)
        _remember_open(run.entry, settlement)
        results.append(MarketResult(run.entry, run.events, settlement, time_ms, run.commands))
        transaction = settlement.ledger_transaction(
            settlement_reference(info.symbol, [c.command_id for c in run.commands]))
        if transaction is not None:
            ledger.append(transaction)
    repo.write_settlements(conn, [(r.entry.info, r.settlement) for r in results], ledger,
                           time_ms)
    return results


def _known_states(run: _EngineRun) -> tuple[dict[int, OrderState], set[int]]:
    """The states settlement needs that are known without reading the database (the
    book's open orders, and orders placed in this batch with their lock), and the ids
    of every order it needs."""
    wanted = order_ids_of(run.events) | {o for c in run.halted for o in placed_order_ids(c)}
    open_orders = run.entry.orders
    # Copies: settlement changes the states it is given, and the previous batch's are
    # still being encoded into its order events on the publishing thread.
    known = {oid: open_orders[oid].copy() for oid in wanted if oid in open_orders}
    for command in run.commands:
        if (command.kind is CommandKind.PLACE and command.locked
                and command.order_id in wanted and command.order_id not in known):
            known[command.order_id] = OrderState.placed(command)
        elif command.kind in LISTS:
            for leg in list_states(command):
                if leg.order_id in wanted and leg.order_id not in known:
                    known[leg.order_id] = leg
    return known, wanted


LISTS = (CommandKind.PLACE_OCO, CommandKind.PLACE_OTO)


def list_states(command: OrderCommand) -> list[OrderState]:
    """The rows the API inserted with an order list's command: an OCO pair's legs name
    each other; an OTO's pending orders wait (PENDING_NEW), a pending pair linked."""
    legs = command.legs
    pair = legs if command.kind is CommandKind.PLACE_OCO else legs[1:]
    states = [OrderState.placed(leg) for leg in legs]
    if command.kind is CommandKind.PLACE_OTO:
        for state in states[1:]:
            state.status = OrderStatus.PENDING_NEW
    if len(pair) == 2:
        first, second = (s for s in states if s.order_id in {p.order_id for p in pair})
        first.oco_sibling, second.oco_sibling = second.order_id, first.order_id
    return states


def _remember_open(entry: MarketBook, settlement: Settlement) -> None:
    for order_id, order in settlement.changed_orders.items():
        if order.is_resting:
            entry.orders[order_id] = order
        else:
            entry.orders.pop(order_id, None)


PLACING = (CommandKind.PLACE, CommandKind.CANCEL_REPLACE, CommandKind.PLACE_OCO,
           CommandKind.PLACE_OTO)
"""The commands that place orders: a halted market refuses those orders."""


def placed_order_ids(command: OrderCommand) -> list[int]:
    """The orders a PLACE, CANCEL_REPLACE or order list command places."""
    if command.kind in LISTS:
        return [leg.order_id for leg in command.legs]
    return [command.new_order_id if command.kind is CommandKind.CANCEL_REPLACE
            else command.order_id]


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
