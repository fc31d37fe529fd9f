"""Pipeline benchmark: Kafka ``orders`` -> matcher -> PostgreSQL settlement -> Redis/events.

What runs: the real matcher as a subprocess (``python -m matching_cluster.service``, its
own GIL, as in production), or with ``--matchers N`` N such processes in one consumer
group sharing the ``orders`` partitions (N <= ``--partitions``), against a scratch
database ``exchange_bench_<hex>`` (dropped at the end), Redis db 14 (emptied first) and
fresh topics (``--partitions`` for ``orders`` and ``order-events``). Markets, funded
users and every order (row + funds locked + ``order_commands`` row, as the API does; see
``bench/_load.py``) are created BEFORE timing; the timed phase only produces the PLACE
commands, keyed by market.

Load is open loop: for each rate of ``--rates`` the script produces one command every
1/rate seconds for ``--seconds-per-rate``, whatever the matcher does, then waits (up to
``--drain-seconds``) for the step's commands to settle. The ladder stops at the first
rate whose p99 is 100 ms or more, or when the preloaded orders run out.

Latency of a command = (CreateTime of the first ``order-events`` message naming its
order) - (wall-clock time of its ``produce()`` call). The matcher produces that message
right after the batch's PostgreSQL commit and the market's Redis update, so this spans
Kafka in, matching, settlement and Redis. CreateTime has 1 ms resolution (values are
clamped at 0). ``seen_p99_ms`` also gives the time the bench consumed the event (adds
the event's own trip through Kafka). A command never settled within the drain counts as
infinitely late. ``achieved_per_s`` = settled commands / (last settlement - first send).
Each step also reports the matcher's own metrics, summed over its instances (mean batch
size, batches/s, mean settlement ms per batch (from its matching to its commit) and
matching ms per batch, settlement time / wall time, which can exceed 1: one batch's
settlement overlaps the next one's matching) and CPU use of the matcher (all instances),
PostgreSQL (``postgres``: the primary's processes, all backends; ``postgres_standby``: the
synchronous standby's, its WAL receiver and replay), the Kafka broker, Redis,
this script's load generator and its event listener (a thread): ``cpu_pct`` in % of one core
and ``cpu_ms_per_order`` in CPU ms per settled order, with their ``total`` (about 0.2 ms
fits 8,000 orders/s on two cores). ``chain_ms_per_order`` is the CPU of each matcher's two
halves: its main thread (its loop: decoding, matching, settlement's Python) and the
PostgreSQL backend of its settlement connection, which settles one batch while the loop
prepares the next; with one matcher the longer half bounds the rate (at 0.125 ms, 8,000/s
with no slack). ``--all-rates`` runs the whole ladder anyway.

    .venv/bin/python bench/pipeline.py --rates 500,1000,2000,4000,8000 --seed 1
    .venv/bin/python bench/pipeline.py --rates 500,1000,2000,4000,8000 --seed 1 --matchers 2

Prints progress lines, then as its LAST line one JSON object. Never fails on a timing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _load
import psycopg
import redis
from confluent_kafka import KafkaError, Producer
from prometheus_client.parser import text_string_to_metric_families

from chalicelib.adapters.kafka import make_consumer, make_producer
from chalicelib.domain.order_commands import OrderCommand
from chalicelib.settings import Settings
from matching_cluster.service.bootstrap import settlement_connection_name

REDIS_DB = 14
P99_LIMIT_MS = 100.0
WARMUP_PER_MARKET = 20
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    """Names and endpoints of one benchmark run."""

    bootstrap: str
    db_url: str
    redis_url: str
    orders_topic: str
    order_events_topic: str
    market_events_topic: str
    matcher_group: str  # one consumer group shared by every matcher instance
    metrics_ports: list[int]  # one health/metrics port per matcher instance


@dataclass
class Step:
    target: int
    commands: list[OrderCommand]
    sent_ns: dict[int, int] = field(default_factory=dict)  # order id -> produce() wall ns
    first_send_ns: int = 0
    send_seconds: float = 0.0


# ------------------------------------------------------------------ listener


class EventListener:
    """Consumes ``order-events`` in a thread; keeps each order's first event times."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._consumer = make_consumer(bootstrap, f"bench-{uuid.uuid4().hex[:8]}",
                                       **{"isolation.level": "read_uncommitted"})
        self._topic = topic
        self.first: dict[int, tuple[int, int]] = {}  # order id -> (CreateTime ms, seen ns)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._assigned = threading.Event()
        self.thread_id = 0  # the consuming thread's kernel id, for its own CPU figure

    def start(self) -> None:
        self._consumer.subscribe([self._topic], on_assign=lambda c, p: self._assigned.set())
        self._thread.start()
        if not self._assigned.wait(30):
            raise RuntimeError("the event listener got no partitions")

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # started
            self._thread.join(10)
        self._consumer.close()

    def _run(self) -> None:
        self.thread_id = threading.get_native_id()
        first = self.first
        while not self._stop.is_set():
            for m in self._consumer.consume(1000, 0.05):
                seen = time.time_ns()
                error = m.error()
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        print(f"listener: {error}", flush=True)
                    continue
                order_id = int(json.loads(m.value() or b"{}").get("order_id", 0))
                if order_id not in first:
                    first[order_id] = (m.timestamp()[1], seen)


# ------------------------------------------------------------------ matcher


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports (all bound at once, so none repeats)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def instance_id(index: int) -> str:
    return f"bench-{index}"


def start_matcher(run: Run, args: argparse.Namespace, index: int,
                  log_path: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": run.db_url, "DATABASE_READ_URL": run.db_url,
           "REDIS_URL": run.redis_url, "KAFKA_BOOTSTRAP_SERVERS": run.bootstrap,
           "ORDERS_TOPIC": run.orders_topic, "ORDER_EVENTS_TOPIC": run.order_events_topic,
           "MARKET_EVENTS_TOPIC": run.market_events_topic,
           "EXCHANGE_MATCHER_PORT": str(run.metrics_ports[index]),
           "MATCHER_GROUP_ID": run.matcher_group,
           "MATCHER_INSTANCE_ID": instance_id(index), "LOG_LEVEL": "WARNING"}
    if args.batch_size:
        env["MATCHER_BATCH_SIZE"] = str(args.batch_size)
    if args.poll_timeout:
        env["MATCHER_POLL_TIMEOUT_SECONDS"] = str(args.poll_timeout)
    if args.asynchronous_commit:
        env["MATCHER_SYNCHRONOUS_COMMIT"] = "false"
    with log_path.open("wb") as log:
        return subprocess.Popen([sys.executable, "-m", "matching_cluster.service"], env=env,
                                stdout=log, stderr=subprocess.STDOUT,
                                cwd=Path(__file__).resolve().parent.parent)


def wait_ready(procs: list[subprocess.Popen[bytes]], ports: list[int],
               timeout: float = 60) -> None:
    """Wait until every instance answers ``/readyz``.

    Ready means owning at least one partition. Under cooperative-sticky assignment a
    joining member gets its partitions in the same round as every other revoked
    partition, so once all N (<= partitions) instances are ready they own all partitions
    between them. The warm-up step, which waits for its orders to settle, backs this up.
    """
    deadline = time.monotonic() + timeout
    pending = dict(zip(ports, procs, strict=True))
    while pending and time.monotonic() < deadline:
        for port, proc in list(pending.items()):
            if proc.poll() is not None:
                raise RuntimeError(f"matcher on port {port} exited with {proc.returncode}")
            if is_ready(port):
                del pending[port]
        if pending:
            time.sleep(0.2)
    if pending:
        raise TimeoutError(f"matchers on ports {sorted(pending)} never became ready")


def is_ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1):
            return True
    except (urllib.error.URLError, OSError):
        return False


def stop_matchers(procs: list[subprocess.Popen[bytes]], timeout: float = 30) -> None:
    """SIGTERM every running instance, then kill whichever is still up at the deadline."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def scrape(port: int) -> dict[str, float]:
    """One instance's counters and histogram sums/counts, flattened."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except (urllib.error.URLError, OSError):
        return {}
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.endswith(("_sum", "_count", "_total")):
                label = ",".join(f"{v}" for k, v in sorted(s.labels.items()) if k != "le")
                out[f"{s.name}{'{' + label + '}' if label else ''}"] = s.value
    return out


def scrape_all(ports: list[int]) -> dict[str, float]:
    """``scrape`` of every instance, added up key by key."""
    total: dict[str, float] = {}
    for port in ports:
        for name, value in scrape(port).items():
            total[name] = total.get(name, 0.0) + value
    return total


def matcher_summary(before: dict[str, float], after: dict[str, float],
                    wall: float) -> dict[str, Any]:
    """Per-step figures from metrics summed over the instances. ``settle_busy_share`` is
    settlement seconds (all instances) / wall seconds: a batch's run from its matching to
    its commit overlaps the next one's matching, so it can exceed 1."""
    def d(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    batches = d("exchange_matcher_batch_size_count")
    per = (lambda x: round(x / batches, 2)) if batches else (lambda x: None)
    return {"batches": int(batches), "batches_per_s": round(batches / wall, 1),
            "mean_batch_size": per(d("exchange_matcher_batch_size_sum")),
            "mean_settle_ms": per(1000 * d("exchange_matcher_settlement_seconds_sum")),
            "mean_match_ms": per(1000 * d("exchange_matcher_engine_seconds_sum")),
            "settle_busy_share": round(d("exchange_matcher_settlement_seconds_sum") / wall, 3),
            "commands": {k.split("{")[1].rstrip("}"): int(d(k)) for k in after
                         if k.startswith("exchange_matcher_commands_total{")}}


# ------------------------------------------------------------------ CPU


def stat_ticks(stat_path: str) -> int:
    """utime+stime of a /proc ``stat`` file (0 once it is gone)."""
    try:
        stat = Path(stat_path).read_text()
    except OSError:
        return 0
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def cpu_ticks(matcher_pids: set[int], listener_thread: int) -> dict[str, int]:
    """utime+stime ticks of the matcher instances (summed), the stack (PostgreSQL's with
    its exited backends', the primary's apart from the synchronous standby's), and this
    script split into the event listener's thread and the rest (the load generator)."""
    groups = {"postgres": "postgres", "java": "kafka", "redis-server": "redis"}
    out = {"matcher": 0, "postgres": 0, "postgres_standby": 0, "kafka": 0, "redis": 0,
           "load_generator": 0, "listener": stat_ticks(f"/proc/self/task/{listener_thread}/stat")}
    stats = list(_load.proc_stats())
    standby = standby_postmasters(stats)
    for pid, comm, fields in stats:
        ticks = int(fields[11]) + int(fields[12])
        key = ("matcher" if pid in matcher_pids else "load_generator" if pid == os.getpid()
               else groups.get(comm))
        if comm == "postgres":
            # A backend that exits leaves its ticks in its postmaster's children time
            # (cutime+cstime), so a step's sum never loses a connection that closed.
            ticks += int(fields[13]) + int(fields[14])
            if pid in standby or int(fields[1]) in standby:
                key = "postgres_standby"
        if key == "kafka" and b"kafka.Kafka" not in _cmdline(pid):  # another JVM (a Java bench)
            continue
        if key:
            out[key] += ticks
    out["load_generator"] -= out["listener"]
    return out


def settlement_backends(db_url: str, matchers: int) -> list[int]:
    """The PostgreSQL backends of the matchers' settlement connections (by their
    ``application_name``)."""
    names = [settlement_connection_name(instance_id(i)) for i in range(matchers)]
    with psycopg.connect(db_url, autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                            " AND application_name = ANY(%s)", (names,)).fetchall()
    return [int(pid) for (pid,) in rows]


def chain_ticks(matcher_pids: set[int], backends: list[int]) -> dict[str, int]:
    """utime+stime ticks of the serial chain: each matcher's main thread (its loop) and
    the backend of its settlement connection, which work one after the other."""
    return {"matcher_loops": sum(stat_ticks(f"/proc/{pid}/task/{pid}/stat")
                                 for pid in matcher_pids),
            "settlement_backends": sum(stat_ticks(f"/proc/{pid}/stat") for pid in backends)}


def chain_ms_per_order(before: dict[str, int], after: dict[str, int],
                       orders: int) -> dict[str, float | None]:
    """``cpu_ms_per_order`` of the chain; None for a step during which a settlement
    connection was replaced (its backend's ticks left with it)."""
    if any(after[k] < before[k] for k in after):
        return {k: None for k in [*after, "total"]}
    return cpu_ms_per_order(before, after, orders)


def standby_postmasters(stats: list[tuple[int, str, list[str]]]) -> set[int]:
    """The postmasters of standby nodes: those with a WAL receiver among their children
    (its process title says so)."""
    postmasters = set()
    for pid, comm, fields in stats:
        if comm == "postgres" and b"walreceiver" in _cmdline(pid):
            postmasters.add(int(fields[1]))
    return postmasters


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def cpu_percent(before: dict[str, int], after: dict[str, int], wall: float) -> dict[str, float]:
    return {k: round(100 * (after[k] - before[k]) / CLK_TCK / wall, 1) for k in after}


def cpu_ms_per_order(before: dict[str, int], after: dict[str, int],
                     orders: int) -> dict[str, float | None]:
    """CPU milliseconds each process group spent per settled order in the step, and their
    sum (``total``): the budget for 8,000 orders/s on two cores is about 0.2 ms."""
    if not orders:
        return {k: None for k in [*after, "total"]}
    out: dict[str, float | None] = {
        k: round(1000 * (after[k] - before[k]) / CLK_TCK / orders, 3) for k in after}
    out["total"] = round(sum(v for v in out.values() if v is not None), 3)
    return out


# ------------------------------------------------------------------ load


# The load generator wakes at most once a millisecond and sends what is due by then: a
# wake-up per command (every 0.125 ms at 8,000/s) cost it a tenth of a core in sleeps,
# CPU the processes under test then lacked.
MIN_PAUSE_S = 0.001


def send_open_loop(producer: Producer, topic: str, step: Step) -> None:
    """Produce the step's commands at fixed intervals, whatever the completions (each
    stamped when it is sent)."""
    interval = 1.0 / step.target
    payloads = [(c.order_id, c.market, c.encode()) for c in step.commands]
    start = time.perf_counter()
    step.first_send_ns = time.time_ns()
    i, n = 0, len(payloads)
    while i < n:
        due = min(n, int((time.perf_counter() - start) / interval) + 1)
        while i < due:
            order_id, key, value = payloads[i]
            step.sent_ns[order_id] = time.time_ns()
            try:
                producer.produce(topic, key=key, value=value)
            except BufferError:
                producer.poll(0.01)
                continue
            i += 1
        producer.poll(0)
        pause = start + i * interval - time.perf_counter()
        if pause > 0:
            time.sleep(max(pause, MIN_PAUSE_S))
    producer.flush(30)
    step.send_seconds = time.perf_counter() - start


def drain(listener: EventListener, step: Step, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = set(step.sent_ns)
    while pending and time.monotonic() < deadline:
        pending = {o for o in pending if o not in listener.first}
        time.sleep(0.05)


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return math.inf
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


def step_result(listener: EventListener, step: Step) -> dict[str, Any]:
    commit_ms: list[float] = []
    seen_ms: list[float] = []
    last_ns = step.first_send_ns
    for order_id, sent in step.sent_ns.items():
        got = listener.first.get(order_id)
        if got is None:
            commit_ms.append(math.inf)
            seen_ms.append(math.inf)
            continue
        create_ms, seen = got
        commit_ms.append(max(0.0, create_ms - sent / 1e6))
        seen_ms.append((seen - sent) / 1e6)
        last_ns = max(last_ns, create_ms * 1_000_000)
    commit_ms.sort()
    seen_ms.sort()
    settled = sum(1 for v in commit_ms if v != math.inf)
    span = max((last_ns - step.first_send_ns) / 1e9, 1e-9)

    def fmt(v: float) -> float | None:
        return None if v == math.inf else round(v, 2)

    return {"target_per_s": step.target, "sent": len(step.sent_ns),
            "sent_per_s": round(len(step.sent_ns) / step.send_seconds, 1),
            "settled": settled, "achieved_per_s": round(settled / span, 1),
            "p50_ms": fmt(percentile(commit_ms, 0.5)), "p99_ms": fmt(percentile(commit_ms, 0.99)),
            "p999_ms": fmt(percentile(commit_ms, 0.999)), "max_ms": fmt(commit_ms[-1]),
            "seen_p50_ms": fmt(percentile(seen_ms, 0.5)),
            "seen_p99_ms": fmt(percentile(seen_ms, 0.99))}


def run_step(run: Run, producer: Producer, listener: EventListener, pids: set[int],
             step: Step, drain_seconds: float) -> dict[str, Any]:
    metrics_before = scrape_all(run.metrics_ports)
    cpu_before = cpu_ticks(pids, listener.thread_id)
    backends = settlement_backends(run.db_url, len(run.metrics_ports))
    chain_before = chain_ticks(pids, backends)
    started = time.perf_counter()
    send_open_loop(producer, run.orders_topic, step)
    drain(listener, step, drain_seconds)
    wall = time.perf_counter() - started
    result = step_result(listener, step)
    result["matcher"] = matcher_summary(metrics_before, scrape_all(run.metrics_ports), wall)
    cpu_after = cpu_ticks(pids, listener.thread_id)
    chain_after = chain_ticks(pids, backends)
    result["cpu_pct"] = cpu_percent(cpu_before, cpu_after, wall)
    result["cpu_ms_per_order"] = cpu_ms_per_order(cpu_before, cpu_after, result["settled"])
    result["chain_ms_per_order"] = chain_ms_per_order(chain_before, chain_after,
                                                      result["settled"])
    return result


# ------------------------------------------------------------------ main


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    p.add_argument("--orders", type=int, default=0,
                   help="orders to preload (default: enough for the whole ladder)")
    p.add_argument("--markets", type=int, default=8)
    p.add_argument("--users", type=int, default=1000)
    p.add_argument("--rates", default="500,1000,2000,4000,8000")
    p.add_argument("--seconds-per-rate", type=float, default=5.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--partitions", type=int, default=4)
    p.add_argument("--drain-seconds", type=float, default=10.0)
    p.add_argument("--batch-size", type=int, default=0,
                   help="MATCHER_BATCH_SIZE (default: the matcher's own)")
    p.add_argument("--poll-timeout", type=float, default=0.0,
                   help="MATCHER_POLL_TIMEOUT_SECONDS (default: the matcher's own)")
    p.add_argument("--asynchronous-commit", action="store_true",
                   help="MATCHER_SYNCHRONOUS_COMMIT=false: commits do not wait for the"
                        " standby; events wait for a durability barrier instead")
    p.add_argument("--matchers", type=int, default=1,
                   help="matcher instances (processes) in one consumer group, 1..partitions")
    p.add_argument("--all-rates", action="store_true",
                   help="run every rate even after p99 reached the limit (CPU per order"
                        " at each rate)")
    args = p.parse_args()
    if not 1 <= args.matchers <= args.partitions:
        p.error("--matchers must be between 1 and --partitions (an instance without a"
                " partition never turns ready)")
    return args


def prepare(db_url: str, args: argparse.Namespace, rates: list[int]
            ) -> tuple[list[OrderCommand], list[OrderCommand]]:
    """Markets, users, funds; the warm-up commands and the ladder's commands."""
    needed = sum(int(r * args.seconds_per_rate) for r in rates)
    count = args.orders or needed
    rng = random.Random(args.seed)
    with psycopg.connect(db_url, autocommit=True) as conn:
        markets = _load.create_markets(conn, args.markets)
        users = _load.create_funded_users(conn, markets, args.users)
        started = time.perf_counter()
        warmup = _load.preload_orders(conn, markets, users, WARMUP_PER_MARKET * args.markets,
                                      rng)
        commands = _load.preload_orders(conn, markets, users, count, rng)
        print(f"preloaded {len(warmup) + len(commands)} orders in"
              f" {time.perf_counter() - started:.1f}s", flush=True)
    # Every market must appear in the warm-up so its book is built before timing.
    by_market = {c.market for c in warmup}
    if len(by_market) < args.markets:
        print(f"warning: warm-up touched {len(by_market)} of {args.markets} markets", flush=True)
    return warmup, commands


def ladder(run: Run, producer: Producer, listener: EventListener, pids: set[int],
           commands: list[OrderCommand], rates: list[int], args: argparse.Namespace
           ) -> tuple[list[dict[str, Any]], str]:
    results: list[dict[str, Any]] = []
    used = 0
    for rate in rates:
        size = int(rate * args.seconds_per_rate)
        if used + size > len(commands):
            return results, f"out of preloaded orders before {rate}/s (--orders)"
        step = Step(rate, commands[used:used + size])
        used += size
        result = run_step(run, producer, listener, pids, step, args.drain_seconds)
        results.append(result)
        print(f"rate {rate}/s: achieved {result['achieved_per_s']}/s, settled"
              f" {result['settled']}/{result['sent']}, p50 {result['p50_ms']} ms,"
              f" p99 {result['p99_ms']} ms, p99.9 {result['p999_ms']} ms;"
              f" matcher {result['matcher']}; cpu % {result['cpu_pct']};"
              f" cpu ms/order {result['cpu_ms_per_order']};"
              f" chain ms/order {result['chain_ms_per_order']}", flush=True)
        p99 = result["p99_ms"]
        if (p99 is None or p99 >= P99_LIMIT_MS) and not args.all_rates:
            return results, f"p99 reached {P99_LIMIT_MS:.0f} ms at {rate}/s"
    return results, "ladder completed"


def bench(args: argparse.Namespace) -> dict[str, Any]:
    rates = [int(r) for r in args.rates.split(",") if r.strip()]
    settings = Settings()
    stack = _load.stack_up(settings)
    tag = uuid.uuid4().hex[:8]
    log_dir = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    with _load.scratch_database(stack, settings.test_db_name) as db_url:
        run = Run(stack.kafka_bootstrap, db_url,
                  f"redis://127.0.0.1:{stack.redis_port}/{REDIS_DB}", f"bench-{tag}-orders",
                  f"bench-{tag}-order-events", f"bench-{tag}-market-events",
                  f"bench-matcher-{tag}", free_ports(args.matchers))
        redis.Redis.from_url(run.redis_url).flushdb()
        topics = {run.orders_topic: args.partitions, run.order_events_topic: args.partitions,
                  run.market_events_topic: args.partitions}
        _load.create_topics(run.bootstrap, topics)
        try:
            warmup, commands = prepare(db_url, args, rates)
            out = measure(run, args, rates, warmup, commands, log_dir)
            return {**out, "orders": len(commands), "warmup_orders": len(warmup)}
        finally:
            _load.delete_topics(run.bootstrap, list(topics))


def measure(run: Run, args: argparse.Namespace, rates: list[int],
            warmup: list[OrderCommand], commands: list[OrderCommand],
            log_dir: Path) -> dict[str, Any]:
    procs: list[subprocess.Popen[bytes]] = []
    listener = EventListener(run.bootstrap, run.order_events_topic)
    producer = make_producer(run.bootstrap)
    try:
        for i in range(len(run.metrics_ports)):
            procs.append(start_matcher(run, args, i, log_dir / f"matcher-{i}.log"))
        wait_ready(procs, run.metrics_ports)
        pids = {p.pid for p in procs}
        listener.start()
        warm = run_step(run, producer, listener, pids, Step(200, warmup), 30)
        print(f"warm-up: settled {warm['settled']}/{warm['sent']}", flush=True)
        results, reason = ladder(run, producer, listener, pids, commands, rates, args)
    finally:
        try:
            producer.flush(10)
            listener.stop()
        finally:
            stop_matchers(procs)
    sustained = [r["target_per_s"] for r in results
                 if r["p99_ms"] is not None and r["p99_ms"] < P99_LIMIT_MS]
    return {"results": results, "stop_reason": reason, "matcher_log": str(log_dir),
            "max_sustained_per_s": max(sustained, default=0)}


def main() -> None:
    args = parse_args()
    # Stopped from outside (``timeout``, a CI job), the cleanup still runs: the matchers
    # stop, the topics and the scratch database are dropped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    started = time.perf_counter()
    out = bench(args)
    print(json.dumps({
        "bench": "pipeline", "orders": out["orders"], "warmup_orders": out["warmup_orders"],
        "markets": args.markets, "matchers": args.matchers,
        "users": args.users, "partitions": args.partitions, "seed": args.seed,
        "seconds_per_rate": args.seconds_per_rate,
        "matcher_batch_size": args.batch_size or "default",
        "matcher_poll_timeout_s": args.poll_timeout or "default",
        "matcher_asynchronous_commit": args.asynchronous_commit,
        "rates": out["results"], "max_sustained_per_s": out["max_sustained_per_s"],
        "stop_reason": out["stop_reason"], "matcher_log": out["matcher_log"],
        "seconds": round(time.perf_counter() - started, 1)}))


if __name__ == "__main__":
    main()
