"""PostgreSQL failover benchmark: the local primary killed with SIGKILL under a stream of
commits, then `exchange db failover` (``--mode cli``, run at once) or the watchdog
(``--mode watchdog``, ``exchange db watch --failover-after``) makes the standby primary.

What runs: a pair of its own (opscli/stack/postgres.py) on ports 24442/24443 in a
temporary folder, removed at the end; no Redis, no Kafka. A writer thread commits one row
at a time through the multi-host URL clients are given (a new connection after a lost
one). Each round, time 0 is the SIGKILL of the primary's postmaster:

- ``no_writer_s``: the longest time without a commit from time 0 on (what a client
  waits; a backend of the killed server may still commit a moment on its connection);
- ``redundant_s``: time 0 -> the former primary streaming again as a synchronous standby;
- ``lost``: rows whose commit returned before the kill but missing afterwards (must be 0).

    .venv/bin/python bench/pg_failover.py --mode cli --rounds 3
    .venv/bin/python bench/pg_failover.py --mode watchdog --failover-after 2

Prints progress lines, then as its LAST line one JSON object. Never fails on a timing.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import psycopg

from chalicelib.settings import PROJECT_ROOT, Settings
from opscli.stack.config import StackConfig
from opscli.stack.postgres import Postgres
from opscli.stack.process import wait_until
from opscli.stack.replication import standby_state

PORTS = (24442, 24443)
DB = "exchange_bench_failover"


class Writer(threading.Thread):
    """Commits rows one by one; keeps each acknowledged id and when it was acknowledged."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.acknowledged: list[tuple[float, int]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True) as conn:
                    while not self.stopping.is_set():
                        row = conn.execute("INSERT INTO probe DEFAULT VALUES RETURNING id"
                                           ).fetchone()
                        assert row is not None
                        self.acknowledged.append((time.monotonic(), int(str(row[0]))))
            except psycopg.OperationalError:
                time.sleep(0.05)  # no writer yet: try the hosts again

    def first_after(self, moment: float) -> float | None:
        return next((at for at, _id in self.acknowledged if at > moment), None)

    def longest_gap_after(self, moment: float) -> float:
        """The longest wait between two commits from `moment` on: a backend of a killed
        server may still commit a little while on its open connection."""
        times = [moment] + [at for at, _id in self.acknowledged if at > moment]
        return max(later - earlier for earlier, later in itertools.pairwise(times))


def run_round(pair: Postgres, writer: Writer, mode: str, env: dict[str, str],
              number: int) -> dict[str, object]:
    wait_until(lambda: len(writer.acknowledged) > 50, 30)
    old = pair.primary()
    new = pair.peer(old)
    pid = old.running_pid()
    assert pid is not None
    killed_at = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    acknowledged = {row_id for at, row_id in writer.acknowledged if at < killed_at}
    if mode == "cli":
        steps = subprocess.run([sys.executable, "-m", "opscli.cli", "db", "failover"],
                               env=env, cwd=PROJECT_ROOT, check=True, capture_output=True,
                               text=True).stdout
        print(steps, end="", flush=True)
    wait_until(lambda: old.role() == "standby" and standby_state(new, old).synchronous,
               120, 0.05)
    redundant_s = time.monotonic() - killed_at
    wait_until(lambda: writer.first_after(killed_at) is not None, 30, 0.05)
    with psycopg.connect(pair.config.database_url(DB)) as conn:
        present = {int(str(row[0])) for row in conn.execute("SELECT id FROM probe")}
    result: dict[str, object] = {
        "round": number, "from": old.name, "to": new.name,
        "no_writer_s": round(writer.longest_gap_after(killed_at), 3),
        "redundant_s": round(redundant_s, 3),
        "acknowledged_before_kill": len(acknowledged), "lost": len(acknowledged - present)}
    print(f"round {number}: {result}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=["cli", "watchdog"], default="cli")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--failover-after", type=float, default=2.0)
    args = parser.parse_args()
    state_dir = Path(tempfile.mkdtemp(prefix="pg-failover-", dir=PROJECT_ROOT / ".local"))
    env = {**os.environ, "EXCHANGE_STATE_DIR": str(state_dir),
           "EXCHANGE_PG_PORT": str(PORTS[0]), "EXCHANGE_PG_STANDBY_PORT": str(PORTS[1]),
           "EXCHANGE_DB_NAME": DB, "EXCHANGE_TEST_DB_NAME": DB}
    pair = Postgres(replace(StackConfig.from_settings(Settings()), state_dir=state_dir,
                            pg_port=PORTS[0], pg_standby_port=PORTS[1], databases=(DB,)))
    watchdog: subprocess.Popen[bytes] | None = None
    rounds: list[dict[str, object]] = []
    try:
        pair.start()
        pair.wait_ready(60)
        url = pair.config.database_url(DB)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE probe (id bigserial PRIMARY KEY)")
        if args.mode == "watchdog":
            watchdog = subprocess.Popen(
                [sys.executable, "-m", "opscli.cli", "db", "watch", "--failover-after",
                 str(args.failover_after)], env=env, cwd=PROJECT_ROOT,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        writer = Writer(url)
        writer.start()
        rounds = [run_round(pair, writer, args.mode, env, number)
                  for number in range(1, args.rounds + 1)]
        writer.stopping.set()
        writer.join(timeout=10)
    finally:
        if watchdog is not None:
            watchdog.terminate()
            watchdog.wait(timeout=30)
        home = pair.home
        pair.stop()
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(state_dir, ignore_errors=True)
    print(json.dumps({"benchmark": "pg_failover", "mode": args.mode,
                      "failover_after_s": args.failover_after if args.mode == "watchdog"
                      else None, "rounds": rounds}))


if __name__ == "__main__":
    main()
