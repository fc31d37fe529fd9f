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

    .venv/bin/python bench/settlement.py --batch 8
    .venv/bin/python bench/settlement.py --batch 500

Prints progress lines, then as its LAST line one JSON object. Never fails on a timing.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _load
import psycopg

from chalicelib.domain.clock import SystemClock
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
    return parser.parse_args()


def backend_cpu_seconds(pid: int) -> float:
    """utime + stime of a local process, from /proc (clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    args = parse_args()
    settings = Settings()
    stack = _load.stack_up(settings)
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
        timed = commands[WARMUP:]
        batches = 0
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        backend = int(row[0]) if row else 0
        profile = cProfile.Profile() if args.profile else None
        pg_started = backend_cpu_seconds(backend)
        cpu_started = time.process_time()
        started = time.perf_counter()
        if profile:
            profile.enable()
        for start in range(0, len(timed), args.batch):
            chunk = timed[start:start + args.batch]
            apply_batch(conn, books, metrics, topic="bench", slices=[
                PartitionSlice(0, epoch, chunk, WARMUP + start + len(chunk))], clock=clock)
            batches += 1
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        pg_cpu = backend_cpu_seconds(backend) - pg_started
        if profile:
            profile.disable()
            profile.dump_stats(args.profile)
        trades = conn.execute("SELECT count(*) FROM trades").fetchone()
    print(json.dumps({
        "order_book": args.order_book,
        "bench": "settlement", "commands": len(timed), "batch": args.batch,
        "markets": args.markets, "seed": args.seed, "db_round_trip_ms": args.db_round_trip_ms,
        "seconds": round(seconds, 3),
        "commands_per_s": round(len(timed) / seconds), "ms_per_batch": round(
            seconds / batches * 1000, 2), "trades": int(trades[0]) if trades else 0,
        "cpu_ms_per_command": round(cpu / len(timed) * 1000, 4),
        "pg_cpu_ms_per_command": round(pg_cpu / len(timed) * 1000, 4)}))


if __name__ == "__main__":
    main()
