"""Setup shared by the service benchmarks: a scratch database, fresh topics, preloaded orders.

Markets, users, funds and orders are created the way the API does (SQL + ledger, one
transaction per chunk) by reusing ``tests/integration/matching/support.py``: importing
test helpers from a benchmark is deliberate, so the two never drift apart. Nothing here
touches the demo or test databases: every run gets ``exchange_bench_<hex>``, dropped at
the end.
"""

from __future__ import annotations

import os
import random
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from confluent_kafka.admin import AdminClient

from chalicelib.adapters.migrations import apply_migrations
from chalicelib.domain.order_commands import OrderCommand
from chalicelib.domain.orders import NewOrder, OrderType, Side, TimeInForce
from chalicelib.settings import Settings
from opscli.stack import lifecycle
from opscli.stack.config import StackConfig
from opscli.stack.toxiproxy import ToxiproxyServer, latency
from tests.integration.matching.support import (
    BTC_UNIT,
    LOT,
    TICK,
    Market,
    create_market,
    create_topic,
    create_users,
    fund,
    new_order,
    place_orders,
)
from tests.support.databases import drop_database

Conn = psycopg.Connection[Any]
MID = 50_000 * 100  # 50,000.00 USDT in cents
CHUNK = 5_000


def stack_up(settings: Settings) -> StackConfig:
    """Start PostgreSQL, Redis and Kafka if they are not running."""
    config = StackConfig.from_settings(settings)
    lifecycle.up(config, report=lambda line: print(f"[stack] {line}", flush=True))
    return config


@contextmanager
def scratch_database(stack: StackConfig, admin_db: str) -> Iterator[str]:
    """A migrated database of its own for one run; dropped afterwards."""
    name = f"exchange_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(stack.database_url(admin_db), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    url = stack.database_url(name)
    try:
        apply_migrations(url)
        yield url
    finally:
        drop_database(stack.database_url(admin_db), name)


# Ports of the proxy that adds round-trip time (``postgres_round_trip``): beside the
# stack's, apart from the fault tests' (22xxx).
LATENCY_API_PORT, LATENCY_PROXY_PORT = 25474, 25475


@contextmanager
def postgres_round_trip(stack: StackConfig, url: str, added_ms: int) -> Iterator[str]:
    """``url`` with ``added_ms`` more on every round trip to the primary, as between
    availability zones: through a Toxiproxy (built by scripts/install.sh) that delays the
    primary's answers. ``url`` itself for 0."""
    if added_ms <= 0:
        yield url
        return
    server = ToxiproxyServer(stack, LATENCY_API_PORT)
    server.start()
    try:
        server.wait_ready(15)
        with psycopg.connect(url) as probe:
            primary_port = probe.info.port
        server.api.create_proxy("bench-postgres", LATENCY_PROXY_PORT, primary_port)
        server.api.add_toxic("bench-postgres", "round-trip", latency(added_ms))
        hosts = f"127.0.0.1:{stack.pg_port},127.0.0.1:{stack.standby_port}"
        if hosts not in url:  # a URL not routed through the proxy would add nothing
            raise RuntimeError(f"cannot route {url!r} through the proxy: it does not name"
                               f" the stack's nodes as {hosts!r}")
        yield url.replace(hosts, f"127.0.0.1:{LATENCY_PROXY_PORT}")
    finally:
        server.stop()


def create_topics(bootstrap: str, partitions: dict[str, int]) -> None:
    for name, count in partitions.items():
        create_topic(bootstrap, name, count)


def delete_topics(bootstrap: str, names: list[str]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.delete_topics(names, operation_timeout=10).values():
        try:
            future.result(timeout=15)
        except Exception as exc:  # best effort: a leftover topic harms nothing
            print(f"could not delete a topic: {exc}", flush=True)


def create_markets(conn: Conn, count: int) -> list[Market]:
    return [create_market(conn, f"B{i}USDT", f"B{i}", "USDT") for i in range(count)]


def create_funded_users(conn: Conn, markets: list[Market], count: int) -> list[int]:
    users = create_users(conn, count)
    assets = {a for m in markets for a in (m.base, m.quote)}
    fund(conn, {(u, a): 10**15 for u in users for a in assets})
    return users


def random_order(rng: random.Random, users: list[int]) -> NewOrder:
    """About 85 % GTC limits, 10 % IOC limits, 5 % market orders, near one mid price."""
    side = rng.choice((Side.BUY, Side.SELL))
    user, kind = rng.choice(users), rng.random()
    if kind < 0.05:
        if side is Side.BUY:
            quote = rng.randint(1, 5) * MID * LOT // BTC_UNIT
            return new_order(user, side, OrderType.MARKET, quote_qty=quote)
        return new_order(user, side, OrderType.MARKET, qty=rng.randint(1, 5) * LOT)
    return new_order(user, side, price=MID + rng.randint(-20, 20) * TICK,
                     qty=rng.randint(1, 5) * LOT,
                     tif=TimeInForce.IOC if kind < 0.15 else TimeInForce.GTC)


def preload_orders(conn: Conn, markets: list[Market], users: list[int], count: int,
                   rng: random.Random) -> list[OrderCommand]:
    """Accept ``count`` orders (rows, locks, order_commands); return their PLACE commands
    in a seeded order that mixes the markets."""
    picks = [(rng.randrange(len(markets)), random_order(rng, users)) for _ in range(count)]
    commands: list[OrderCommand] = []
    for start in range(0, count, CHUNK):
        by_market: dict[int, list[tuple[int, NewOrder]]] = defaultdict(list)
        for i, (m, order) in enumerate(picks[start:start + CHUNK], start):
            by_market[m].append((i, order))
        placed: dict[int, OrderCommand] = {}
        for m, items in by_market.items():
            made = place_orders(conn, markets[m], [o for _, o in items])
            placed.update((i, c) for (i, _), c in zip(items, made, strict=True))
        commands += [placed[i] for i in sorted(placed)]
    return commands


def proc_stats() -> Iterator[tuple[int, str, list[str]]]:
    """Each local process: its pid, command name and the /proc ``stat`` fields after the
    name (utime, stime, cutime, cstime are [11:15])."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        yield (int(entry.name), stat[stat.index("(") + 1:stat.rindex(")")],
               stat[stat.rindex(")") + 2:].split())


def postgres_cpu_seconds() -> float:
    """CPU seconds of every local ``postgres`` process (both nodes: backends, WAL sender
    and the standby's replay), exited backends included (their postmaster's children
    time)."""
    ticks = sum(sum(int(value) for value in fields[11:15])
                for _, comm, fields in proc_stats() if comm == "postgres")
    return ticks / os.sysconf("SC_CLK_TCK")
