"""The local PostgreSQL primary and synchronous hot standby, `exchange db failover` and
its watchdog, on a pair of their own (ports 24432/24433, a temporary state folder) so
that the stack the other tests use is never disturbed. No Redis, no Kafka."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from chalicelib.settings import PROJECT_ROOT, local_postgres_url
from opscli.stack.config import StackConfig
from opscli.stack.pg_node import PostgresNode
from opscli.stack.postgres import Postgres
from opscli.stack.replication import standby_state
from tests.support.polling import wait_until

DB = "exchange_test_h1"
PORTS = (24432, 24433)
OWNER = ("exchange", "exchange")


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    state_dir = tmp_path_factory.mktemp("replication")
    postgres = Postgres(StackConfig(
        state_dir=state_dir, pg_port=PORTS[0], pg_standby_port=PORTS[1], redis_port=0,
        kafka_port=0, kafka_controller_port=0, db_user=OWNER[0], db_password=OWNER[1],
        db_service_password="exchange", databases=(DB,), topic_partitions={}))
    try:
        postgres.start()
        postgres.wait_ready(60)
        with psycopg.connect(writer_url(postgres), autocommit=True) as conn:
            conn.execute("CREATE TABLE probe (id bigserial PRIMARY KEY, note text NOT NULL)")
        yield postgres
    finally:
        home = postgres.home
        postgres.stop()
        # The data may sit outside the state folder, which the postgres user cannot enter.
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(state_dir, ignore_errors=True)


def writer_url(pair: Postgres) -> str:
    """What a client of the pair is given: both hosts, the one taking writes kept."""
    return pair.config.database_url(DB)


def node_url(node: PostgresNode) -> str:
    return f"postgresql://{OWNER[0]}:{OWNER[1]}@127.0.0.1:{node.port}/{DB}"


def run_cli(pair: Postgres, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "opscli.cli", *args], capture_output=True,
                          text=True, env={**os.environ, **cli_env(pair)}, cwd=PROJECT_ROOT,
                          timeout=180, check=False)


def cli_env(pair: Postgres) -> dict[str, str]:
    return {"EXCHANGE_STATE_DIR": str(pair.config.state_dir),
            "EXCHANGE_PG_PORT": str(PORTS[0]), "EXCHANGE_PG_STANDBY_PORT": str(PORTS[1]),
            "EXCHANGE_DB_NAME": DB, "EXCHANGE_TEST_DB_NAME": DB}


def write(url: str, note: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("INSERT INTO probe (note) VALUES (%s) RETURNING id",
                           (note,)).fetchone()
    assert row is not None
    return int(row[0])


def ids_on(node: PostgresNode) -> set[int]:
    with psycopg.connect(node_url(node)) as conn:
        return {int(row[0]) for row in conn.execute("SELECT id FROM probe")}


def kill_primary(pair: Postgres) -> tuple[PostgresNode, PostgresNode]:
    """SIGKILL the primary's postmaster; the old primary and the standby."""
    old = pair.primary()
    pid = old.running_pid()
    assert pid is not None
    assert old.role() == "primary"
    os.kill(pid, signal.SIGKILL)
    wait_until(old.role, timeout=10, what=f"{old.name} to stop answering",
               until=lambda role: role is None)
    return old, pair.peer(old)


def assert_replicating(pair: Postgres, primary: PostgresNode, standby: PostgresNode) -> None:
    assert pair.primary().name == primary.name
    assert (primary.role(), standby.role()) == ("primary", "standby")
    wait_until(lambda: standby_state(primary, standby), timeout=30,
               what=f"{standby.name} a synchronous standby of {primary.name}",
               until=lambda seen: seen.synchronous)
    after = write(node_url(primary), f"after failover to {primary.name}")
    wait_until(lambda: ids_on(standby), timeout=10, what=f"row {after} on {standby.name}",
               until=lambda ids: after in ids)


def test_a_commit_returns_only_once_the_standby_has_it(pair: Postgres) -> None:
    primary = pair.primary()
    standby = pair.peer(primary)
    with standby.connect() as conn:
        row = conn.execute("SELECT pid FROM pg_stat_wal_receiver").fetchone()
    assert row is not None
    receiver = int(str(row[0]))
    committed: list[int] = []
    os.kill(receiver, signal.SIGSTOP)  # the standby stops taking WAL
    try:
        writer = threading.Thread(target=lambda: committed.append(
            write(writer_url(pair), "synchronous")))
        writer.start()
        with primary.connect() as conn:
            wait_until(lambda: conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'"
                " AND query LIKE 'INSERT INTO probe%'").fetchone(),
                timeout=10, what="the commit waiting for the standby",
                until=lambda row: row is not None and row[0] == 1)
        assert committed == []
    finally:
        os.kill(receiver, signal.SIGCONT)
    writer.join(timeout=30)

    assert len(committed) == 1
    wait_until(lambda: ids_on(standby), timeout=10, what="the row replayed on the standby",
               until=lambda ids: committed[0] in ids)


def test_the_standby_takes_reads_and_refuses_writes(pair: Postgres) -> None:
    standby = pair.peer(pair.primary())
    written = write(writer_url(pair), "read me on the standby")
    wait_until(lambda: ids_on(standby), timeout=10, what="the row on the standby",
               until=lambda ids: written in ids)

    with psycopg.connect(node_url(standby)) as conn, \
            pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        conn.execute("INSERT INTO probe (note) VALUES ('refused')")


def test_reads_that_may_lag_go_to_the_standby_and_writes_to_the_primary(
    pair: Postgres,
) -> None:
    primary = pair.primary()
    reader_url = local_postgres_url(*OWNER, DB, PORTS, reads_may_lag=True)

    with psycopg.connect(reader_url) as reader, psycopg.connect(writer_url(pair)) as writer:
        assert reader.info.port == pair.peer(primary).port
        assert writer.info.port == primary.port


def test_failover_after_sigkill_keeps_every_commit_and_the_old_primary_follows(
    pair: Postgres,
) -> None:
    for _there_and_back in range(2):
        committed = {write(writer_url(pair), f"before kill {i}") for i in range(20)}
        old, new = kill_primary(pair)

        result = run_cli(pair, "db", "failover")

        assert result.returncode == 0, result.stderr
        assert f"promote {new.name}; it takes writes:" in result.stdout
        assert f"node {new.name} ({new.address}) is the primary" in result.stdout
        assert committed <= ids_on(new)
        assert_replicating(pair, new, old)


def test_failover_refuses_while_the_primary_is_healthy_and_force_switches_over(
    pair: Postgres,
) -> None:
    old = pair.primary()
    new = pair.peer(old)

    refused = run_cli(pair, "db", "failover")
    assert refused.returncode == 1
    assert "is healthy: pass --force" in refused.stderr
    assert pair.primary().name == old.name

    committed = {write(writer_url(pair), f"before switchover {i}") for i in range(5)}
    forced = run_cli(pair, "db", "failover", "--force")
    assert forced.returncode == 0, forced.stderr
    assert f"stop the primary {old.name} cleanly" in forced.stdout
    assert committed <= ids_on(new)
    assert_replicating(pair, new, old)


@pytest.fixture
def watchdog_log(pair: Postgres, tmp_path: Path) -> Iterator[Path]:
    """`exchange db watch --failover-after 1` running; where its JSON lines go."""
    log_path = tmp_path / "watch.log"
    with log_path.open("w") as log:
        watchdog = subprocess.Popen(
            [sys.executable, "-m", "opscli.cli", "db", "watch", "--failover-after", "1",
             "--max-seconds", "120"], stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, **cli_env(pair)}, cwd=PROJECT_ROOT)
    try:
        wait_until(lambda: events(log_path), timeout=30, what="the watchdog started",
                   until=lambda seen: "watch_started" in seen)
        yield log_path
    finally:
        watchdog.terminate()
        watchdog.wait(timeout=30)


def test_the_watchdog_fails_over_when_the_primary_stays_down(
    pair: Postgres, watchdog_log: Path,
) -> None:
    committed = {write(writer_url(pair), f"before kill {i}") for i in range(20)}
    old, new = kill_primary(pair)

    wait_until(lambda: events(watchdog_log), timeout=60, what="the watchdog's failover",
               until=lambda seen: "failover_done" in seen)
    assert committed <= ids_on(new)
    assert_replicating(pair, new, old)
    seen = events(watchdog_log)
    assert seen.index("primary_down") < seen.index("failover") < seen.index("failover_done")


def test_the_watchdog_restarts_a_killed_standby_and_commits_go_on(
    pair: Postgres, watchdog_log: Path,
) -> None:
    primary = pair.primary()
    standby = pair.peer(primary)
    pid = standby.running_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    committed: list[int] = []
    # Waits for a standby until the watchdog has one streaming again or has turned
    # synchronous commit off.
    writer = threading.Thread(target=lambda: committed.append(
        write(writer_url(pair), "while the standby is away")))
    writer.start()

    wait_until(lambda: events(watchdog_log), timeout=60, what="the standby restarted",
               until=lambda seen: "standby_restarted" in seen)
    writer.join(timeout=60)
    assert len(committed) == 1
    assert_replicating(pair, primary, standby)
    assert committed[0] in ids_on(standby)


def events(log_path: Path) -> list[str]:
    return [str(json.loads(line)["event"]) for line in log_path.read_text().splitlines()
            if line.startswith("{")]


def test_a_client_reconnects_through_the_multi_host_url_to_the_new_primary(
    pair: Postgres,
) -> None:
    conn = psycopg.connect(writer_url(pair), autocommit=True)
    old, new = pair.primary(), pair.peer(pair.primary())
    assert conn.info.port == old.port
    kill_primary(pair)

    with pytest.raises(psycopg.OperationalError):
        conn.execute("INSERT INTO probe (note) VALUES ('lost with its connection')")
    conn.close()
    assert run_cli(pair, "db", "failover").returncode == 0

    with psycopg.connect(writer_url(pair), autocommit=True) as again:
        assert again.info.port == new.port
        again.execute("INSERT INTO probe (note) VALUES ('through the new primary')")
