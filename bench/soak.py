"""Soak: a steady open-loop order stream through the API of an isolated exchange
(opscli/faults), with faults injected one after another, reporting per phase (before,
during, after each fault) throughput, answers by status/code, latency p50/p99 and the
time to recover; then the invariants. Progress lines while it runs; JSON last line.

    .venv/bin/python bench/soak.py --minutes 8 --rate 40

Every client of the exchange reaches PostgreSQL, Redis and Kafka through Toxiproxy
(IsolatedExchange's ``proxied``), and the matcher runs on a clock that can be stepped
(libfaketime). Faults, in order: matcher SIGKILL, candles SIGKILL, fan-out SIGKILL,
Redis SIGKILL and restarted empty, Kafka SIGKILL and restart; then on every proxy at
once, for ``NETWORK_FAULT_SECONDS`` each: 200 ms of latency, 50 KB/s of bandwidth,
connections reset as the server answers, half-open connections (data stops, the
connection stays up); the PostgreSQL primary SIGKILL (the db-watchdog that `exchange up` runs fails
over to the standby, `exchange db failover`'s steps; a proxy per node, so the clients'
multi-host URL finds the new primary through its proxy); last the matcher's clock
stepped 65 minutes ahead, then 10 minutes back (libfaketime). A process that exits of a fault
is started again at its end, as Kubernetes would (``exited``).
Recovery, in seconds from the injection: the restarted piece ready, a primary taking
writes again, or a network fault removed and what it ended running again
(``restart_s``); the last failed request (5xx or no answer)
answered (``api_s``: errors until then); a new trade committed (``matching_s``); a
trade streamed on ``btcusdt@trade`` to a client that connects again after 3 s of
silence (``stream_s``, ``stream_reconnects``); the candles function past the trades of
the injection (``candles_s``). "during" is the injection until the later of the restart
and ``api_s``; "after" from there to the next fault. Per fault, the placements answered
"status unknown" (503 -1007, or no answer) and how many of them the exchange stored.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from websockets.exceptions import WebSocketException
from websockets.sync.client import connect as ws_connect

from opscli.faults import checks
from opscli.faults.clock import SteppedClock
from opscli.faults.exchange import APP_NAMES, READY_SECONDS, FaultPorts, IsolatedExchange
from opscli.faults.traffic import Answer, OrderStream, figures
from opscli.stack.process import ServiceError, wait_until
from opscli.stack.toxiproxy import Toxic, bandwidth, half_open, latency, reset_peer

PROBE_SECONDS = 0.2
SILENCE_SECONDS = 3.0
NETWORK_FAULT_SECONDS = 10.0
CLOCK_AHEAD_SECONDS = 65 * 60  # past the hour after which the broker refuses a timestamp
CLOCK_BACK_SECONDS = CLOCK_AHEAD_SECONDS - 10 * 60
AppEnvironment = dict[str, dict[str, str]]
"""What a process is started with besides the exchange's environment (the matcher's clock)."""


class Probes:
    """Watches the exchange's progress from outside: trades and candles in the database,
    trades on the WebSocket stream, each with the monotonic time it was seen."""

    def __init__(self, exchange: IsolatedExchange) -> None:
        self.exchange = exchange
        self.trades: list[tuple[float, int]] = []  # (seen, max trade id)
        self.candles: list[tuple[float, int]] = []  # (seen, folded trade id)
        self.streamed: list[float] = []
        self.reconnects: list[float] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._poll, daemon=True),
                        threading.Thread(target=self._listen, daemon=True)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(10)

    def _poll(self) -> None:
        while not self.stop.is_set():
            try:
                with psycopg.connect(self.exchange.owner_url(), autocommit=True,
                                     connect_timeout=2) as conn:
                    while not self.stop.wait(PROBE_SECONDS):
                        row = conn.execute(
                            "SELECT (SELECT coalesce(max(id), 0) FROM trades),"
                            " (SELECT coalesce(max(last_trade_id), 0) FROM candle_progress)"
                            ).fetchone()
                        assert row is not None
                        now = time.monotonic()
                        self.trades.append((now, int(row[0])))
                        self.candles.append((now, int(row[1])))
            except psycopg.Error:
                self.stop.wait(1)

    def _listen(self) -> None:
        """A client of ``btcusdt@trade`` that connects again after a silence of
        ``SILENCE_SECONDS`` while the stream trades (its subscription may be gone)."""
        url = f"ws://127.0.0.1:{self.exchange.ports.ws}/ws/btcusdt@trade"
        while not self.stop.is_set():
            try:
                with ws_connect(url, open_timeout=5) as client:
                    while not self.stop.is_set():
                        client.recv(timeout=SILENCE_SECONDS)
                        self.streamed.append(time.monotonic())
            except (OSError, WebSocketException):  # silent or gone: connect again
                self.reconnects.append(time.monotonic())
                self.stop.wait(0.5)

    def first_trade_after(self, since: float) -> float | None:
        before = max((tid for seen, tid in self.trades if seen <= since), default=0)
        return next((seen for seen, tid in self.trades if seen > since and tid > before), None)

    def candles_past(self, since: float) -> float | None:
        trade_id = max((tid for seen, tid in self.trades if seen <= since), default=0)
        return next((seen for seen, tid in self.candles if seen > since and tid >= trade_id),
                    None)

    def streamed_after(self, since: float) -> float | None:
        return next((seen for seen in self.streamed if seen > since), None)


def api_recovered(answers: list[Answer], since: float, until: float) -> float:
    """When the last request due and answered in [since, until) that failed (a 5xx, or
    no answer) was answered: until then a user saw errors. ``since`` when none failed.
    (A request still in flight at ``until`` failed of the next fault.)"""
    failed = [a.answered for a in answers if since <= a.due and a.answered < until
              and (a.status == 0 or a.status >= 500)]
    return max(failed, default=since)


def kill_and_restart(exchange: IsolatedExchange, name: str,
                     app_env: AppEnvironment) -> Callable[[], None]:
    def inject() -> None:
        exchange.kill_app(name)
        exchange.start_app(name, app_env.get(name))
    return inject


def redis_wiped(exchange: IsolatedExchange) -> Callable[[], None]:
    def inject() -> None:
        exchange.kill_redis(wipe=True)
        exchange.start_redis()
    return inject


def kafka_killed(exchange: IsolatedExchange) -> Callable[[], None]:
    def inject() -> None:
        exchange.kill_kafka()
        exchange.start_kafka()
    return inject


def postgres_failed_over(exchange: IsolatedExchange) -> Callable[[], None]:
    def inject() -> None:
        exchange.kill_postgres_primary()
        exchange.postgres.wait_ready(READY_SECONDS)
    return inject


def network_fault(exchange: IsolatedExchange, toxic: Toxic) -> Callable[[], None]:
    """``toxic`` between every client and every service for ``NETWORK_FAULT_SECONDS``."""
    network = exchange.network
    assert network is not None, "the soak's exchange is proxied"

    def inject() -> None:
        with network.everywhere(toxic):
            time.sleep(NETWORK_FAULT_SECONDS)
    return inject


def clock_step(clock: SteppedClock, offset_seconds: int) -> Callable[[], None]:
    def inject() -> None:
        clock.step_to(offset_seconds)
    return inject


def restart_exited(exchange: IsolatedExchange, app_env: AppEnvironment) -> list[str]:
    """Start the processes that a fault ended (as Kubernetes restarts a pod); their names."""
    exited = [name for name in APP_NAMES if exchange.apps[name].running_pid() is None]
    restarted = []
    for name in exited:
        try:
            exchange.start_app(name, app_env.get(name))
            restarted.append(name)
        except ServiceError as error:  # reported with the phase; the soak carries on
            restarted.append(f"{name} (not ready: {str(error).splitlines()[0]})")
    return restarted


def faults(exchange: IsolatedExchange, clock: SteppedClock,
           app_env: AppEnvironment) -> list[tuple[str, Callable[[], None]]]:
    return [("matcher SIGKILL", kill_and_restart(exchange, "matcher", app_env)),
            ("candles SIGKILL", kill_and_restart(exchange, "candles", app_env)),
            ("fanout SIGKILL", kill_and_restart(exchange, "fanout", app_env)),
            ("redis SIGKILL, restarted empty", redis_wiped(exchange)),
            ("kafka SIGKILL, restarted", kafka_killed(exchange)),
            ("network: 200 ms latency to every service", network_fault(exchange, latency(200))),
            ("network: 50 KB/s to every service", network_fault(exchange, bandwidth(50))),
            ("network: connections reset as every service answers",
             network_fault(exchange, reset_peer())),
            ("network: half-open connections to every service",
             network_fault(exchange, half_open())),
            ("postgres primary SIGKILL, db-watchdog failover", postgres_failed_over(exchange)),
            # Last: under a stepped clock libfaketime fails the matcher's own sleeps (EINVAL
            # from time.sleep) and its restarts hang, which a real host's step would not do.
            ("matcher clock stepped 65 min ahead", clock_step(clock, CLOCK_AHEAD_SECONDS)),
            ("matcher clock stepped 10 min back", clock_step(clock, CLOCK_BACK_SECONDS))]


def seconds(value: float | None, since: float) -> float | None:
    return None if value is None else round(value - since, 2)


def progress(stream: OrderStream, started: float, stop: threading.Event) -> None:
    last = time.monotonic()
    while not stop.wait(10):
        now = time.monotonic()
        window = figures(stream.answers(), last, now)
        print(f"soak: t={now - started:5.0f}s {window.throughput:6.1f} req/s"
              f" p50 {window.p50_ms} ms p99 {window.p99_ms} ms {window.outcomes}"
              f" dropped {stream.dropped}", flush=True)
        last = now


def run(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="soak-"))
    exchange = IsolatedExchange(root / "state", FaultPorts().shifted(args.port_offset),
                                report=lambda line: print(line, flush=True), proxied=True)
    try:
        exchange.start(traders=args.traders)
        return soak(exchange, args)
    finally:
        exchange.close()
        root.rmdir()


def soak(exchange: IsolatedExchange, args: argparse.Namespace) -> dict[str, Any]:
    clock = SteppedClock(exchange.state_dir / "matcher-clock")
    app_env = {"matcher": clock.environment()}
    exchange.restart_app("matcher", app_env["matcher"])
    plan = faults(exchange, clock, app_env)
    stream = OrderStream(exchange.api_url, exchange.traders, rate=args.rate,
                         workers=args.workers, run_id="soak")
    probes = Probes(exchange)
    probes.start()
    stop_progress = threading.Event()
    started = time.monotonic()
    stream.start()
    threading.Thread(target=progress, args=(stream, started, stop_progress),
                     daemon=True).start()
    total = args.minutes * 60
    gap = (total - args.warmup) / len(plan)
    injected = []
    try:
        time.sleep(args.warmup)
        for number, (name, inject) in enumerate(plan):
            at = time.monotonic()
            print(f"soak: t={at - started:5.0f}s injecting {name}", flush=True)
            inject()
            exited = restart_exited(exchange, app_env)
            injected.append((name, at, time.monotonic(), exited))
            time.sleep(max(0.0, started + args.warmup + (number + 1) * gap - time.monotonic()))
    finally:
        stream.stop()
        stop_progress.set()
    ended = time.monotonic()
    answers = stream.answers()
    with psycopg.connect(exchange.owner_url(), autocommit=True) as conn:
        wait_until(lambda: checks.pending_commands(conn) == 0 and checks.candles_caught_up(conn),
                   180)
        bootstrap, topic = (exchange.settings.kafka_bootstrap_servers,
                            exchange.settings.market_events_topic)
        problems = [*checks.all_problems(conn, answers), *checks.candle_problems(conn),
                    *checks.kline_final_problems(conn, checks.topic_events(
                        bootstrap, topic, "kline"))]
        published = checks.topic_events(bootstrap, topic, "trade")
        trade_events = checks.trade_event_gaps(conn, published)
        problems += [*checks.published_trade_problems(conn, published),
                     *checks.published_order_problems(conn, checks.topic_events(
                         bootstrap, exchange.settings.order_events_topic, "order"))]
        unknown, stored = checks.unknown_outcomes(conn, answers)
        problems += checks.trade_time_problems(conn)
        ahead = conn.execute("SELECT count(*) FROM trades"
                             " WHERE executed_at > now() + interval '5 seconds'").fetchone()
        if ahead and ahead[0]:
            problems.append(f"{ahead[0]} trades stamped ahead of the database's clock")
        unknown_by_phase = [
            checks.unknown_outcomes(conn, [a for a in answers if at <= a.answered < until])
            for (_, at, _, _), until in zip(injected, [*(at for _, at, _, _ in injected[1:]),
                                                       float("inf")], strict=True)]
        trades = conn.execute("SELECT count(*) FROM trades").fetchone()
    probes.close()
    phases = []
    bounds = [at for _, at, _, _ in injected] + [ended]
    for index, (name, at, ready, exited) in enumerate(injected):
        api = api_recovered(answers, at, bounds[index + 1])
        recovered = max(ready, api)
        before_start = max(started, at - 20) if index == 0 else max(bounds[index - 1], at - 20)
        phase = {
            "fault": name,
            "recovery": {"restart_s": seconds(ready, at), "api_s": seconds(api, at),
                         "matching_s": seconds(probes.first_trade_after(ready), at),
                         "stream_s": seconds(probes.streamed_after(ready), at),
                         "candles_s": seconds(probes.candles_past(ready), at),
                         "stream_reconnects": sum(
                             1 for t in probes.reconnects if at <= t < bounds[index + 1])},
            "exited": exited,
            "before": figures(answers, before_start, at).as_dict(),
            "during": figures(answers, at, recovered).as_dict(),
            "after": figures(answers, recovered, bounds[index + 1]).as_dict(),
            "status_unknown_placements_stored": unknown_by_phase[index],
        }
        print(f"soak: {name}: recovery {phase['recovery']}; during {phase['during']}",
              flush=True)
        phases.append(phase)
    return {"bench": "soak", "minutes": args.minutes, "rate": args.rate,
            "traders": args.traders, "requests": len(answers), "dropped": stream.dropped,
            "trades": trades[0] if trades else 0,
            "overall": figures(answers, started, ended).as_dict(),
            "status_unknown_placements": unknown, "status_unknown_stored": stored,
            "trade_events": trade_events,
            "phases": phases, "problems": problems}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=8)
    parser.add_argument("--rate", type=float, default=50, help="orders per second, open loop")
    parser.add_argument("--traders", type=int, default=12,
                        help="accounts (each may place 100 orders per 10 s)")
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--warmup", type=float, default=30, help="seconds before the first fault")
    parser.add_argument("--port-offset", type=int, default=0,
                        help="moves every port of the exchange (23xxx) by this much")
    result = run(parser.parse_args())
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
