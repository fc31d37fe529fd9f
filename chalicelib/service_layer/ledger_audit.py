"""The ledger auditor: SPEC's money invariants checked on the live database, withdrawals
halted when one breaks, until an admin clears the halt.

A pass runs in one REPEATABLE READ transaction, so it reads one consistent snapshot of the
ledger, the balances, the orders and the withdrawals, and commits its result, its
checkpoint and the halt together.

Incremental, so that a pass costs what happened since the last one, not the ledger's
history. The auditor keeps the sums of every ledger entry it has counted, per account and
per asset (``ledger_audit_balance_sums``, ``ledger_audit_asset_sums``), and the snapshot of
its last pass as the checkpoint. A pass reads the entries of the ledger transactions
committed since that snapshot, adds them to the sums, and checks what they touched: every
asset's sum is zero, each touched account's balance row equals its sums, and each touched
user's locks equal their open orders and pending withdrawals.

Why a snapshot and not "entries after the last id": ids are drawn when a transaction
inserts, not when it commits, so entry 101 can be committed and audited while entry 100's
transaction is still open; a checkpoint at 101 would skip 100 for ever. Each ledger
transaction records the database transaction that posted it (``xact_id``, migration 0013),
and "new" means: visible to this pass, not visible in the last pass's snapshot
(``pg_visible_in_snapshot``). That is exact whatever order transactions commit in, needs no
safety window or waiting, and the index on ``xact_id`` finds those transactions
directly: the ones running at the last snapshot (its xip list) and the ones started after
it (from its xmax). A checkpoint whose snapshot lies in the future (the database restored
into another cluster) is ignored.

What the incremental pass cannot see: a balance row or an order changed around the ledger
(a bug, or someone with the owner's login), and an account no new entry touches. So a
full pass (the whole ledger summed again, every balance, every lock) runs on the first
pass, every ``full_every`` passes, while the last pass found a break (so a repaired break
is seen gone), and on demand (``--full``).

On a break: withdrawals are halted (a request or an approval answers 400 -5010 and
reserves nothing; rejections still return money to users), the audit log gets one entry
by the exchange itself (actor NULL) when the halt begins, and the metrics say so. An admin
clears the halt once a pass finds nothing broken: clearing while the last pass still found
a break is refused (409), with no override, because withdrawals are where money leaves the
exchange for good; if the auditor is wrong, fix the auditor.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from chalicelib.adapters import ledger_audit_repo as repo
from chalicelib.adapters.metrics import MetricsRecorder
from chalicelib.domain import metric_catalogue as catalogue
from chalicelib.domain.ledger_audit import (
    AUDIT_TARGET,
    CLEAR_ACTION,
    HALT_ACTION,
    AuditStatus,
    Break,
    PassResult,
    breaks_remain,
    needs_full_pass,
)
from chalicelib.service_layer import Conn
from chalicelib.service_layer.admin import record_audit, require_admin
from chalicelib.service_layer.retries import UnitOfWork

log = logging.getLogger(__name__)

FULL_EVERY = 20
"""Passes between two full passes (at one pass a minute, one every 20 minutes)."""
ATTEMPTS = 3


@dataclass(frozen=True)
class Audited:
    """A pass's result, the money gauges read in its snapshot, and how long it took."""

    result: PassResult
    gauges: repo.MoneyGauges | None
    seconds: float


def run_pass(db: UnitOfWork, *, full: bool = False, full_every: int = FULL_EVERY) -> Audited:
    """One pass (full if asked, or if due); run again if an admin's clear changed the
    auditor's row during it."""
    started = time.monotonic()
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with db() as conn:
                result, gauges = _pass(conn, full=full, full_every=full_every)
            return Audited(result, gauges, time.monotonic() - started)
        except repo.ConcurrentChangeError:
            if attempt == ATTEMPTS:
                raise
            log.info("the auditor's row changed during the pass; running it again")
    raise AssertionError("unreachable")


def _pass(conn: Conn, *, full: bool,
          full_every: int) -> tuple[PassResult, repo.MoneyGauges | None]:
    with repo.audit_transaction(conn) as holding:
        if not holding:
            return PassResult(full=False, entries=0, breaks=(), halted=False,
                              skipped=True), None
        before = repo.audited_so_far(conn)
        snapshot = repo.current_snapshot(conn)
        full = full or before is None or needs_full_pass(
            passes=before.passes, full_every=full_every, last_broken=bool(before.breaks)
        ) or not repo.snapshot_is_from_this_database(conn, before.snapshot)
        if full or before is None:
            entries, breaks = _full(conn)
        else:
            entries, breaks = _incremental(conn, before.snapshot)
        halted = repo.save_pass(conn, snapshot=snapshot, full=full, entries=entries,
                                breaks=breaks, halt=bool(breaks))
        if breaks and not (before and before.withdrawals_halted):
            repo.insert_system_audit(conn, action=HALT_ACTION, target=AUDIT_TARGET, details={
                "full_pass": full, "breaks": [b.as_record() for b in breaks]})
        gauges = repo.money_gauges(conn)
    return PassResult(full, entries, tuple(breaks), halted), gauges


def _full(conn: Conn) -> tuple[int, list[Break]]:
    entries = repo.recount_sums(conn)
    return entries, [*repo.asset_sum_breaks(conn), *repo.balance_total_breaks(conn),
                     *repo.balances_against_sums(conn, None), *repo.lock_breaks(conn)]


def _incremental(conn: Conn, since_snapshot: str) -> tuple[int, list[Break]]:
    new = repo.new_entries(conn, since_snapshot)
    repo.add_to_sums(conn, new)
    touched = [n.balance_id for n in new]
    breaks = repo.asset_sum_breaks(conn)
    if touched:
        breaks += repo.balances_against_sums(conn, touched)
        breaks += repo.lock_breaks(conn, repo.users_of(conn, touched))
    return sum(n.count for n in new), breaks


def record_metrics(metrics: MetricsRecorder, audited: Audited, now_s: float) -> None:
    """The pass's result and the money gauges (every listed asset, zero when none)."""
    result = audited.result
    if result.skipped:
        return
    metrics.set(catalogue.LEDGER_AUDIT_OK, 1.0 if result.ok else 0.0)
    for invariant, count in result.counts().items():
        metrics.set(catalogue.LEDGER_AUDIT_BREAKS, count, invariant=invariant.value)
    metrics.set(catalogue.LEDGER_AUDIT_LAST_SUCCESS, now_s)
    metrics.observe(catalogue.LEDGER_AUDIT_SECONDS, audited.seconds)
    if not result.full:
        metrics.inc(catalogue.LEDGER_ENTRIES_AUDITED, result.entries)
    metrics.set(catalogue.WITHDRAWALS_HALTED, 1.0 if result.halted else 0.0)
    gauges = audited.gauges
    if gauges is None:
        return
    metrics.set(catalogue.WITHDRAWALS_PENDING_OLDEST, gauges.oldest_pending_seconds)
    for spec, values in ((catalogue.WITHDRAWALS_PENDING, gauges.pending),
                         (catalogue.FEES_COLLECTED, gauges.fees),
                         (catalogue.DEPOSITS_CREDITED, gauges.deposited),
                         (catalogue.WITHDRAWALS_COMPLETED, gauges.withdrawn)):
        for asset, value in values.items():
            metrics.set(spec, value, asset=asset)


def record_last_known(metrics: MetricsRecorder, db: UnitOfWork) -> None:
    """At start, before this process's first pass: the result and the halt the database
    holds from the last pass (a fresh gauge reads 0, which would say "broken")."""
    with db() as conn:
        status = audit_status(conn)
    metrics.set(catalogue.LEDGER_AUDIT_OK, 1.0 if status.ok else 0.0)
    metrics.set(catalogue.WITHDRAWALS_HALTED, 1.0 if status.withdrawals_halted else 0.0)


def audit_status(conn: Conn) -> AuditStatus:
    """What the auditor last found and whether withdrawals are halted (admin)."""
    state = repo.audited_so_far(conn)
    if state is None:
        return AuditStatus(None, False, 0, None, 0, (), False, None)
    return AuditStatus(state.last_pass_at, state.last_pass_full, state.last_pass_entries,
                       state.last_full_at, state.passes, state.breaks,
                       state.withdrawals_halted, state.halted_at)


def clear_halt(conn: Conn, *, actor_id: int) -> AuditStatus:
    """Lift the withdrawal halt (admin), audited; refused (409) while the last pass
    found a break. Clearing what is not halted changes nothing."""
    with conn.transaction():
        require_admin(conn, actor_id)
        state = repo.audited_so_far(conn, for_update=True)
        if state is not None and state.withdrawals_halted:
            if state.breaks:
                raise breaks_remain()
            halted_at = repo.lift_halt(conn)
            record_audit(conn, actor_id=actor_id, action=CLEAR_ACTION, target=AUDIT_TARGET,
                         details={"halted_at": None if halted_at is None
                                  else halted_at.isoformat()})
        return audit_status(conn)

