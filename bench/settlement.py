"""Settlement benchmark: the matcher's batch transaction alone, in process.

A scratch database ``exchange_bench_<hex>`` (dropped at the end) gets markets, funded
users and preloaded orders exactly as the API creates them (see ``bench/_load.py``);
then their PLACE commands go through ``apply_batch`` (engine + ONE settlement
transaction per batch, as the matcher runs it) in batches of ``--batch``. No Kafka: this
isolates what a batch costs in Python and PostgreSQL, the matcher's main limit.

CPU per command is reported for this process (``time.process_time``) and for the
PostgreSQL backend serving its connection (``pg_backend_pid()`` -> ``/proc/<pid>/stat``
utime + stime; the server runs on this machine), so the split is visible. WAL writer and
standby CPU are not in those figures. ``--profile FILE`` writes a cProfile of the timed
batches. ``--db-round-trip-ms N`` puts a proxy before PostgreSQL that adds N ms to every
round trip, as between availability zones, which shows what a batch's round trips cost.

``--baseline DIR`` compares with another checkout (a ``git worktree`` of an older
revision): its ``matching_cluster/service`` package (loaded as ``baseline_service``;
``chalicelib`` and the engine stay this checkout's) settles every other batch on the same
database, connection and books, and each side's figures are reported apart. Alternating
batch by batch cancels the machine's drift, which between separate runs is ±10 % here:
a change of a few per cent shows only this way.

    .venv/bin/python bench/settlement.py --batch 8
    .venv/bin/python bench/settlement.py --batch 500
    .venv/bin/python bench/settlement.py --batch 300 --orders 30000 --baseline /tmp/base

Prints progress lines, then as its LAST line one JSON object. Never fails on a timing.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import importlib.util
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _load
import psycopg

from chalicelib.domain.clock import SystemClock
from chalicelib.domain.order_commands import OrderCommand
from chalicelib.settings import Settings
from matching_cluster.service import repository as repo
from matching_cluster.service.batch import PartitionSlice, apply_batch
from matching_cluster.service.books import Books
from matching_cluster.service.bootstrap import tune_garbage_collector
from matching_cluster.service.metrics import Metrics

WARMUP = 200


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=500, help="commands per batch")
    parser.add_argument("--orders", type=int, default=6000)
    parser.add_argument("--markets", type=int, default=2)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--order-book", choices=("compiled", "python"), default="compiled",
                        help="the matcher's book (MATCHER_ORDER_BOOK)")
    parser.add_argument("--profile", help="write a cProfile of the timed batches here")
    parser.add_argument("--db-round-trip-ms", type=int, default=0,
                        help="add this much to every round trip to PostgreSQL (a proxy), as"
                             " between availability zones")
    parser.add_argument("--baseline", type=Path,
                        help="another checkout whose matching_cluster/service settles every"
                             " other batch (both sides reported)")
    return parser.parse_args()


def backend_cpu_seconds(pid: int) -> float:
    """CPU time of a local process so far, from /proc/<pid>/schedstat (nanoseconds: a
    batch's share is measurable, where /proc/<pid>/stat counts 10 ms ticks)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9


@dataclass
class Side:
    """One implementation's batches and what they cost."""

    apply: Callable[..., Any]
    batches: int = 0
    commands: int = 0
    seconds: float = 0.0
    cpu: float = 0.0
    pg_cpu: float = 0.0
    batch_ms: list[float] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        n = max(self.commands, 1)
        return {"commands": self.commands, "batches": self.batches,
                "commands_per_s": round(self.commands / max(self.seconds, 1e-9)),
                "ms_per_batch": round(self.seconds / max(self.batches, 1) * 1000, 2),
                "median_ms_per_batch": round(statistics.median(self.batch_ms), 2)
                if self.batch_ms else None,
                "cpu_ms_per_command": round(self.cpu / n * 1000, 4),
                "pg_cpu_ms_per_command": round(self.pg_cpu / n * 1000, 4)}


def baseline_apply_batch(tree: Path) -> Callable[..., Any]:
    """``apply_batch`` of another checkout's ``matching_cluster/service``, loaded as the
    package ``baseline_service`` (its relative imports resolve inside it)."""
    package = tree / "matching_cluster" / "service"
    spec = importlib.util.spec_from_file_location(
        "baseline_service", package / "__init__.py", submodule_search_locations=[str(package)])
    if spec is None or spec.loader is None:
        raise SystemExit(f"--baseline: no matching_cluster/service package in {tree}")
    sys.modules["baseline_service"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sys.modules["baseline_service"])
    return importlib.import_module("baseline_service.batch").apply_batch  # type: ignore[no-any-return]


def settle_batches(conn: psycopg.Connection[Any], sides: list[Side], backend: int,
                   commands: list[OrderCommand], *, batch: int, epoch: int, books: Books,
                   metrics: Metrics, clock: SystemClock) -> None:
    """Every ``batch`` commands settled by the next side in turn, each timed apart."""
    for number, start in enumerate(range(0, len(commands), batch)):
        side = sides[number % len(sides)]
        chunk = commands[start:start + batch]
        slices = [PartitionSlice(0, epoch, chunk, WARMUP + start + len(chunk))]
        pg_started, cpu_started = backend_cpu_seconds(backend), time.process_time()
        started = time.perf_counter()
        side.apply(conn, books, metrics, topic="bench", slices=slices, clock=clock)
        took = time.perf_counter() - started
        side.cpu += time.process_time() - cpu_started
        side.pg_cpu += backend_cpu_seconds(backend) - pg_started
        side.seconds += took
        side.batch_ms.append(took * 1000)
        side.batches += 1
        side.commands += len(chunk)


def main() -> None:
    args = parse_args()
    settings = Settings()
    stack = _load.stack_up(settings)
    sides = [Side(apply_batch)]
    if args.baseline:
        sides.append(Side(baseline_apply_batch(args.baseline.resolve())))
    with _load.scratch_database(stack, settings.test_db_name) as url, \
            _load.postgres_round_trip(stack, url, args.db_round_trip_ms) as through, \
            psycopg.connect(through, autocommit=True) as conn:
        rng = random.Random(args.seed)
        markets = _load.create_markets(conn, args.markets)
        users = _load.create_funded_users(conn, markets, args.users)
        print(f"preloading {args.orders} orders", flush=True)
        commands = _load.preload_orders(conn, markets, users, args.orders, rng)
        epoch, _offset = repo.fence_partition(conn, "bench", 0, "bench")
        metrics = Metrics()
        books = Books(metrics, args.order_book)
        clock = SystemClock()
        tune_garbage_collector()  # as the matcher's __main__ does before it consumes
        apply_batch(conn, books, metrics, topic="bench",
                    slices=[PartitionSlice(0, epoch, commands[:WARMUP], WARMUP)], clock=clock)
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        backend = int(row[0]) if row else 0
        profile = cProfile.Profile() if args.profile else None
        if profile:
            profile.enable()
        settle_batches(conn, sides, backend, commands[WARMUP:], batch=args.batch, epoch=epoch,
                       books=books, metrics=metrics, clock=clock)
        if profile:
            profile.disable()
            profile.dump_stats(args.profile)
        trades = conn.execute("SELECT count(*) FROM trades").fetchone()
    current = sides[0].figures()
    print(json.dumps({
        "order_book": args.order_book,
        "bench": "settlement", "batch": args.batch,
        "markets": args.markets, "seed": args.seed, "db_round_trip_ms": args.db_round_trip_ms,
        "seconds": round(sum(side.seconds for side in sides), 3),
        **current, "trades": int(trades[0]) if trades else 0,
        **({"baseline": {"tree": str(args.baseline), **sides[1].figures()}}
           if args.baseline else {})}))


if __name__ == "__main__":
    main()
