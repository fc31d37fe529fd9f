"""One consumed batch of commands, from any partitions: engine, then ONE transaction.

``prepare_batch`` reads what the engine needs (commands applied before, market statuses,
the fee tiers' version) in one round trip, runs each market's commands through its book
and computes the settlement, writing nothing. ``send_batch`` then opens the batch's
transaction: it first moves every partition's offset (each guarded by this instance's
epoch for it, so a fenced instance's batch fails), then writes trades, order states,
ledger postings, market sequences and ``applied_at``, and queues the COMMIT without
waiting for it; ``SettlingBatch.wait`` waits. Between the two the matcher prepares its
next batch, on another connection, while the server settles this one. If anything
raises, the transaction rolls back and the caller must drop the books of every partition
in the batch, and of any batch prepared on top of it: they ran commands that never
committed.

Settling all partitions together matters for throughput: a transaction's fixed cost
(round trips, commit) is paid once per consumed batch, not once per partition.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial

from chalicelib.adapters.postgres import Deadline, PipelinedTransaction
from chalicelib.domain.clock import Clock
from chalicelib.domain.fees import Rates
from chalicelib.domain.ledger import LedgerTransaction
from chalicelib.domain.metric_catalogue import MATCHER_COMMANDS, MATCHER_ENGINE_SECONDS
from chalicelib.domain.order_commands import OrderCommand
from chalicelib.domain.orders import CommandKind, OrderStatus
from matching_cluster.engine import Event, Trade

from . import repository as repo
from .books import Books, MarketBook
from .engine_commands import engine_command
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
    """Prepare, send and wait for one batch on one connection: apply and settle every
    slice's commands; store every slice's next offset. The batch's trades are executed
    at ``clock``'s time when the engine is done."""
    prepared = prepare_batch(conn, books, metrics, slices=slices, clock=clock)
    return send_batch(conn, prepared, topic=topic).wait()


@dataclass(slots=True)
class PreparedBatch:
    """A batch matched and settled in memory, nothing of it written yet."""

    slices: Sequence[PartitionSlice]
    command_ids: list[int]
    """The commands applied (each once), in offset order."""
    sequences: list[tuple[str, int, int]]
    """Each market's last sequence and trade id after the batch."""
    results: list[MarketResult]
    ledger: list[LedgerTransaction]
    time_ms: int


def prepare_batch(
    conn: repo.Conn, books: Books, metrics: Metrics, *, slices: Sequence[PartitionSlice],
    clock: Clock, in_flight: Collection[int] = (),
) -> PreparedBatch:
    """Run the slices' commands through their books and settle them in memory, skipping
    commands applied before: those the database has, and ``in_flight``, the command ids
    of a batch sent but not yet committed. Reads on ``conn`` (autocommit), never writes."""
    decoded = [(s.partition, c) for s in slices for c in s.commands if c is not None]
    # Pipeline mode: the three reads share one round trip.
    with conn.pipeline():
        applied = repo.applied_command_ids_cursor(conn, [c.command_id for _, c in decoded])
        statuses_cursor = repo.market_statuses_cursor(conn, {c.market for _, c in decoded})
        tier_version = repo.fee_tier_version_cursor(conn)
        fresh = _first_deliveries(repo.fetch_ids(applied).union(in_flight), decoded, metrics)
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
        time_ms = clock.now_ms()
        results, ledger = _settle_all(conn, runs, time_ms, tiers)
    return PreparedBatch(
        slices, [c.command_id for _, c in fresh],
        [(run.entry.info.symbol, run.entry.book.next_seq - 1, run.entry.book.next_trade_id - 1)
         for run in runs if run.events],
        results, ledger, time_ms)


class SettlingBatch:
    """A prepared batch's transaction, sent with its COMMIT; ``wait`` for the outcome."""

    def __init__(self, transaction: PipelinedTransaction, deadline: ExitStack,
                 prepared: PreparedBatch) -> None:
        self._transaction = transaction
        self._deadline = deadline
        self._prepared = prepared

    def wait(self) -> list[MarketResult]:
        """The batch's results once committed; raises (rolled back) if it failed."""
        with self._deadline:
            self._transaction.wait()
        return self._prepared.results


def send_batch(
    conn: repo.Conn, prepared: PreparedBatch, *, topic: str,
    deadline_s: float | None = None,
) -> SettlingBatch:
    """Open the batch's transaction on ``conn`` (autocommit) and send all of it, COMMIT
    included. Waits for one round trip only, that of the offset guard and the ledger's
    ids and balance locks; raises ``FencedError`` if a partition is no longer this
    instance's. ``deadline_s``: the longest the transaction may take until ``wait``
    returns (``Deadline``)."""
    deadline = ExitStack()
    if deadline_s is not None:
        deadline.enter_context(Deadline(conn, deadline_s))
    transaction = PipelinedTransaction(conn)
    offsets = [(s.partition, s.epoch, s.next_offset) for s in prepared.slices]
    try:
        with transaction.sending():
            guard = repo.advance_offsets_cursor(conn, topic, offsets)
            # The ledger's round trip brings the guard's answer too; a fenced batch's
            # postings are rolled back unseen.
            repo.post_ledger(conn, prepared.ledger)
            repo.check_offsets_advanced(guard, topic, offsets)
            repo.write_settlements(
                conn, [(r.entry.info, r.settlement) for r in prepared.results], prepared.time_ms)
            repo.mark_applied(conn, prepared.command_ids)
            repo.save_sequences(conn, prepared.sequences)
    except BaseException:
        deadline.close()
        raise
    return SettlingBatch(transaction, deadline, prepared)


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
) -> tuple[list[MarketResult], list[LedgerTransaction]]:
    """Settle every market's events: one read of the touched orders (if any are not
    known in memory); each market's money as one ledger transaction.

    Orders belong to one market, so each market settles against its own rows exactly as
    if it had been settled alone; the ledger adapter applies balance changes additively.
    """
    if not runs:
        return [], []
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
    return results, ledger


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
