"""Takeover benchmark: a matcher killed with SIGKILL, its replacement matching again.

What runs: the real matcher as a subprocess (``python -m matching_cluster.service``)
against a scratch database ``exchange_bench_<hex>`` (dropped at the end), Redis db 14
(emptied first) and fresh topics (``--partitions`` for ``orders``). Markets, funded users
and ``--orders`` resting GTC limit orders (rows, locks and ``order_commands`` rows, as
the API writes them; see ``bench/_load.py``) are created first; the orders reach their
books the honest way, published to ``orders`` and settled by a matcher. None crosses:
bids below one mid price, asks above it, on ``--levels`` price levels a side.

Then, for each membership mode of ``--modes`` (``dynamic``: the consumer group sees a
new member; ``static``: the replacement rejoins under the same ``group.instance.id``),
each in a consumer group of its own, ``--rounds`` times:

1. the running matcher is killed with SIGKILL (time 0);
2. its replacement starts at once with the same identity (``MATCHER_INSTANCE_ID``, and
   the group instance id in static mode), and a crossing BUY in one market, accepted
   before the kill, is published;
3. ``first_match_s``: time 0 -> that order's command is settled (visible as applied in
   PostgreSQL, polled every few ms, together with its trade);
4. ``all_markets_s``: time 0 -> a crossing order in every other market, published once
   the first has settled, settled too (every market's book rebuilt).

The parts come from the replacement's log lines: ``process_start_s`` (time 0 -> "matcher
starting": interpreter, imports, connections), ``group_join_s`` (-> the first "partitions
assigned": the consumer group handing the partitions over), ``rebuild_s`` (the "book
rebuilt" of the first market: its resting orders loaded from PostgreSQL into the engine)
and ``first_batch_s`` (the rest, to the first match settled and seen by the poll). Each
round also records the host's 1-minute load average (``load_avg_1m``): on a shared
machine the process start in particular grows with it.

    .venv/bin/python bench/takeover.py --orders 100000 --rounds 3
    .venv/bin/python bench/takeover.py --orders 100000 --modes static --session-timeout-ms 45000

Prints progress lines, then as its LAST line one JSON object. Never fails on a timing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _load
import psycopg
import redis
from pipeline import free_ports, is_ready, stop_matchers

from chalicelib.adapters.kafka import make_producer
from chalicelib.domain.order_commands import OrderCommand
from chalicelib.domain.orders import Side
from chalicelib.settings import Settings
from tests.integration.matching.support import LOT, TICK, Market, new_order, place_orders, publish

REDIS_DB = 14
Conn = psycopg.Connection[Any]


@dataclass
class Run:
    """Names and endpoints of one benchmark run."""

    bootstrap: str
    db_url: str
    redis_url: str
    orders_topic: str
    order_events_topic: str
    market_events_topic: str
    tag: str
    log_dir: Path


# ------------------------------------------------------------------ resting orders


def resting_orders(conn: Conn, markets: list[Market], users: list[int], count: int,
                   levels: int, rng: random.Random) -> list[OrderCommand]:
    """``count`` non-crossing GTC limits spread evenly over the markets: bids on the
    ``levels`` ticks below the mid price, asks on those above it."""
    commands: list[OrderCommand] = []
    per_market = count // len(markets)
    for index, market in enumerate(markets):
        wanted = per_market + (1 if index < count % len(markets) else 0)
        for start in range(0, wanted, _load.CHUNK):
            orders = []
            for j in range(start, min(wanted, start + _load.CHUNK)):
                side = Side.BUY if j % 2 else Side.SELL
                level = 1 + (j // 2) % levels
                price = _load.MID - level * TICK if side is Side.BUY else _load.MID + level * TICK
                orders.append(new_order(rng.choice(users), side, price=price,
                                        qty=rng.randint(1, 5) * LOT))
            commands += place_orders(conn, market, orders)
    return commands


def crossing_order(conn: Conn, market: Market, user: int) -> OrderCommand:
    """A BUY of one lot at the best ask (the first level above the mid price)."""
    (command,) = place_orders(conn, market, [
        new_order(user, Side.BUY, price=_load.MID + TICK, qty=LOT)])
    return command


def unapplied(conn: Conn) -> int:
    row = conn.execute("SELECT count(*) FROM order_commands WHERE applied_at IS NULL"
                       ).fetchone()
    assert row is not None
    return int(row[0])


def wait_all_applied(conn: Conn, total: int, timeout: float) -> float:
    """Wait (with progress) until no command waits; return the seconds it took."""
    started = time.monotonic()
    last_report = started
    while (left := unapplied(conn)) and time.monotonic() - started < timeout:
        if time.monotonic() - last_report >= 5:
            print(f"  resting: {total - left}/{total} settled", flush=True)
            last_report = time.monotonic()
        time.sleep(0.2)
    if left:
        raise TimeoutError(f"{left} commands still unapplied after {timeout:.0f}s")
    return time.monotonic() - started


def open_orders(conn: Conn) -> int:
    row = conn.execute("SELECT count(*) FROM orders WHERE status IN ('NEW',"
                       " 'PARTIALLY_FILLED')").fetchone()
    assert row is not None
    return int(row[0])


# ------------------------------------------------------------------ matcher


class Matcher:
    """One matcher process of a mode: the same identity every time it is started."""

    def __init__(self, run: Run, mode: str, args: argparse.Namespace) -> None:
        self.mode = mode
        (self.port,) = free_ports(1)
        self.env = {
            **os.environ, "DATABASE_URL": run.db_url, "DATABASE_READ_URL": run.db_url,
            "REDIS_URL": run.redis_url, "KAFKA_BOOTSTRAP_SERVERS": run.bootstrap,
            "ORDERS_TOPIC": run.orders_topic, "ORDER_EVENTS_TOPIC": run.order_events_topic,
            "MARKET_EVENTS_TOPIC": run.market_events_topic,
            "EXCHANGE_MATCHER_PORT": str(self.port),
            "MATCHER_GROUP_ID": f"bench-takeover-{run.tag}-{mode}",
            "MATCHER_INSTANCE_ID": f"bench-takeover-{mode}",
            "MATCHER_STATIC_MEMBERSHIP": "true" if mode == "static" else "false",
            "LOG_LEVEL": "INFO"}
        if args.session_timeout_ms:
            self.env["MATCHER_SESSION_TIMEOUT_MS"] = str(args.session_timeout_ms)
        self.log_dir = run.log_dir
        self.starts = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.mode}-{self.starts}.log"

    def start(self) -> None:
        self.starts += 1
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "matching_cluster.service"], env=self.env,
                stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parent.parent)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not is_ready(self.port):
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"matcher exited with {self.proc.returncode}; see"
                                   f" {self.log_path}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"matcher not ready after {timeout:.0f}s")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None:
            stop_matchers([self.proc])

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for text in self.log_path.read_text().splitlines():
            try:
                lines.append(json.loads(text))
            except ValueError:
                continue
        return lines


def first_logged(lines: list[dict[str, Any]], message: str) -> dict[str, Any] | None:
    return next((line for line in lines if line.get("message") == message), None)


def logged_at(line: dict[str, Any] | None) -> float | None:
    return None if line is None else datetime.fromisoformat(line["timestamp"]).timestamp()


# ------------------------------------------------------------------ one takeover


def settled(conn: Conn, command_ids: list[int]) -> bool:
    row = conn.execute("SELECT count(*) FROM order_commands WHERE id = ANY(%s)"
                       " AND applied_at IS NOT NULL", (command_ids,)).fetchone()
    assert row is not None
    return int(row[0]) == len(command_ids)


def wait_settled(conn: Conn, command_ids: list[int], timeout: float) -> float:
    """Poll until every command is applied; return the wall-clock time it was seen."""
    deadline = time.monotonic() + timeout
    while not settled(conn, command_ids):
        if time.monotonic() > deadline:
            raise TimeoutError(f"crossing orders {command_ids} not settled in {timeout:.0f}s")
        time.sleep(0.005)
    return time.time()


def traded(conn: Conn, order_id: int) -> bool:
    row = conn.execute("SELECT count(*) FROM trades WHERE taker_order_id = %s",
                       (order_id,)).fetchone()
    assert row is not None
    return int(row[0]) > 0


def takeover(conn: Conn, run: Run, matcher: Matcher, markets: list[Market], taker: int,
             round_no: int, timeout: float) -> dict[str, Any]:
    first_market = markets[round_no % len(markets)]
    first = crossing_order(conn, first_market, taker)
    others = [crossing_order(conn, m, taker) for m in markets if m is not first_market]
    producer = make_producer(run.bootstrap)
    killed_at = time.time()
    matcher.kill()
    matcher.start()
    publish(producer, run.orders_topic, [first])
    first_at = wait_settled(conn, [first.command_id], timeout)
    publish(producer, run.orders_topic, others)
    all_at = wait_settled(conn, [c.command_id for c in others], timeout)
    assert traded(conn, first.order_id), "the crossing order should have matched"
    lines = matcher.log_lines()
    started = logged_at(first_logged(lines, "matcher starting"))
    assigned = logged_at(first_logged(lines, "partitions assigned"))
    rebuilt = first_logged(lines, "book rebuilt")
    rebuild = None if rebuilt is None else float(rebuilt["seconds"])

    def span(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else round(b - a, 3)

    first_batch = span(assigned, first_at)
    return {"load_avg_1m": round(os.getloadavg()[0], 2),
            "first_match_s": round(first_at - killed_at, 3),
            "all_markets_s": round(all_at - killed_at, 3),
            "process_start_s": span(killed_at, started), "group_join_s": span(started, assigned),
            "rebuild_s": rebuild, "rebuilt_orders": None if rebuilt is None else rebuilt["orders"],
            "first_batch_s": None if first_batch is None or rebuild is None
            else round(first_batch - rebuild, 3)}


def median(rounds: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rounds if r[key] is not None]
    return round(statistics.median(values), 3) if values else None


def measure_mode(conn: Conn, run: Run, mode: str, markets: list[Market], taker: int,
                 args: argparse.Namespace) -> dict[str, Any]:
    matcher = Matcher(run, mode, args)
    matcher.start()
    try:
        matcher.wait_ready(60)
        # A first match in every market makes it a settled member with warm books.
        warm = [crossing_order(conn, m, taker) for m in markets]
        publish(make_producer(run.bootstrap), run.orders_topic, warm)
        wait_settled(conn, [c.command_id for c in warm], 60)
        rounds = []
        for i in range(args.rounds):
            result = takeover(conn, run, matcher, markets, taker, i, args.round_timeout)
            rounds.append(result)
            print(f"{mode} round {i + 1}: {result}", flush=True)
    finally:
        matcher.stop()
    keys = ("first_match_s", "all_markets_s", "process_start_s", "group_join_s", "rebuild_s",
            "first_batch_s")
    return {"rounds": rounds, "median": {k: median(rounds, k) for k in keys}}


# ------------------------------------------------------------------ main


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    p.add_argument("--orders", type=int, default=100_000, help="resting orders")
    p.add_argument("--markets", type=int, default=8)
    p.add_argument("--partitions", type=int, default=4)
    p.add_argument("--users", type=int, default=500)
    p.add_argument("--levels", type=int, default=500, help="price levels a side")
    p.add_argument("--modes", default="dynamic,static")
    p.add_argument("--rounds", type=int, default=3, help="kills per mode")
    p.add_argument("--session-timeout-ms", type=int, default=0,
                   help="MATCHER_SESSION_TIMEOUT_MS (default: the matcher's own)")
    p.add_argument("--round-timeout", type=float, default=90.0)
    p.add_argument("--seed", type=int, default=1)
    return p.parse_args()


def prepare(conn: Conn, run: Run, args: argparse.Namespace) -> tuple[list[Market], int]:
    """Markets, funded users and the resting orders, settled by a matcher."""
    rng = random.Random(args.seed)
    markets = _load.create_markets(conn, args.markets)
    users = _load.create_funded_users(conn, markets, args.users)
    started = time.perf_counter()
    commands = resting_orders(conn, markets, users[1:], args.orders, args.levels, rng)
    print(f"accepted {len(commands)} resting orders in {time.perf_counter() - started:.1f}s",
          flush=True)
    started = time.perf_counter()
    publish(make_producer(run.bootstrap), run.orders_topic, commands)
    loader = Matcher(run, "loader", args)
    loader.start()
    try:
        seconds = wait_all_applied(conn, len(commands), timeout=max(600, args.orders / 100))
    finally:
        loader.stop()
    print(f"settled them in {time.perf_counter() - started:.1f}s ({seconds:.1f}s waiting);"
          f" open orders: {open_orders(conn)}", flush=True)
    return markets, users[0]


def bench(args: argparse.Namespace) -> dict[str, Any]:
    settings = Settings()
    stack = _load.stack_up(settings)
    tag = uuid.uuid4().hex[:8]
    log_dir = Path(tempfile.mkdtemp(prefix="bench-takeover-"))
    with _load.scratch_database(stack, settings.test_db_name) as db_url:
        run = Run(stack.kafka_bootstrap, db_url, f"redis://127.0.0.1:{stack.redis_port}/{REDIS_DB}",
                  f"bench-{tag}-orders", f"bench-{tag}-order-events",
                  f"bench-{tag}-market-events", tag, log_dir)
        redis.Redis.from_url(run.redis_url).flushdb()
        topics = {run.orders_topic: args.partitions, run.order_events_topic: args.partitions,
                  run.market_events_topic: args.partitions}
        _load.create_topics(run.bootstrap, topics)
        try:
            with psycopg.connect(db_url, autocommit=True) as conn:
                markets, taker = prepare(conn, run, args)
                resting = open_orders(conn)
                modes = {mode: measure_mode(conn, run, mode, markets, taker, args)
                         for mode in args.modes.split(",") if mode}
            return {"resting_orders": resting, "modes": modes, "matcher_log": str(log_dir)}
        finally:
            _load.delete_topics(run.bootstrap, list(topics))


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    out = bench(args)
    for mode, result in out["modes"].items():
        print(f"{mode}: median {result['median']}", flush=True)
    print(json.dumps({
        "bench": "takeover", "orders": args.orders, "markets": args.markets,
        "partitions": args.partitions, "levels": args.levels, "rounds": args.rounds,
        "session_timeout_ms": args.session_timeout_ms or "default", "seed": args.seed,
        **out, "seconds": round(time.perf_counter() - started, 1)}))


if __name__ == "__main__":
    main()
