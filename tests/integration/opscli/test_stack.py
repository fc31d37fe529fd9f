"""The local stack's own commands, on a second stack with its own ports and folder
so that the stack the other tests use is never disturbed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator

import psycopg
import pytest
import redis

from chalicelib.settings import PROJECT_ROOT, DbRole
from opscli.stack import lifecycle
from opscli.stack.config import StackConfig
from opscli.stack.kafka_broker import KafkaBroker
from opscli.stack.postgres import Postgres
from opscli.stack.process import ServiceError, process_matches, wait_until
from opscli.stack.redis_server import RedisServer

STATE_DIR = PROJECT_ROOT / ".local" / "stack-tests"
CLI_ENV = {
    "EXCHANGE_STATE_DIR": str(STATE_DIR),
    "EXCHANGE_PG_PORT": "25532",
    "EXCHANGE_REDIS_PORT": "26479",
    "EXCHANGE_KAFKA_PORT": "29192",
    "EXCHANGE_KAFKA_CONTROLLER_PORT": "29193",
    "EXCHANGE_DB_NAME": "stack_probe",
    "EXCHANGE_TEST_DB_NAME": "stack_probe_test",
    "ORDERS_PARTITIONS": "2",
}


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "opscli.cli", *args], capture_output=True,
                          text=True, env={**os.environ, **CLI_ENV}, timeout=300, check=False)


@pytest.fixture(scope="module")
def probe_stack() -> Iterator[StackConfig]:
    config = StackConfig(
        state_dir=STATE_DIR, pg_port=25532, redis_port=26479, kafka_port=29192,
        kafka_controller_port=29193, db_user="exchange", db_password="exchange",
        db_service_password="exchange",
        databases=("stack_probe", "stack_probe_test"),
        topic_partitions={"orders": 2, "market-events": 2, "order-events": 2},
    )
    try:
        result = run_cli("stack", "up")
        assert result.returncode == 0, result.stderr
        yield config
    finally:
        lifecycle.down(config, report=lambda _line: None)


def pids(config: StackConfig) -> dict[str, int | None]:
    return {service.name: service.running_pid() for service in lifecycle.services(config)}


def test_up_reports_every_service_ready_with_schema_and_topics(probe_stack: StackConfig) -> None:
    result = run_cli("stack", "up")

    assert result.returncode == 0, result.stderr
    for line in ("kafka: ready on 127.0.0.1:29192", "redis: ready on 127.0.0.1:26479",
                 "postgres: ready on 127.0.0.1:25532",
                 "postgres: database stack_probe at schema version",
                 "kafka: topics ready: orders (2 partitions)"):
        assert line in result.stdout
    status = run_cli("stack", "status")
    assert status.returncode == 0
    assert status.stdout.count(" ready ") == 3


@pytest.mark.parametrize(("role", "group"), [
    ("api", "exchange_api"), ("matcher", "exchange_matcher"), ("functions", "exchange_functions"),
])
def test_up_gives_each_service_a_login_that_owns_nothing(
    probe_stack: StackConfig, role: DbRole, group: str
) -> None:
    with psycopg.connect(probe_stack.database_url("stack_probe", role)) as conn:
        login, member, owns = conn.execute(
            "SELECT current_user, pg_has_role(current_user, %s, 'USAGE'),"
            " EXISTS (SELECT FROM pg_tables WHERE tableowner = current_user)",
            (group,)).fetchone() or (None, None, None)

    assert (login, member, owns) == (f"{group}_login", True, False)


def test_up_twice_keeps_the_same_processes(probe_stack: StackConfig) -> None:
    before = pids(probe_stack)

    lifecycle.up(probe_stack, report=lambda _line: None)

    assert pids(probe_stack) == before
    assert all(before.values())


@pytest.mark.parametrize("service_name", ["postgres", "redis", "kafka"])
def test_up_after_kill_9_restarts_the_service_and_keeps_its_data(
    probe_stack: StackConfig, service_name: str
) -> None:
    service = next(s for s in lifecycle.services(probe_stack) if s.name == service_name)
    write_marker(probe_stack, service_name)
    old_pid = service.running_pid()
    assert old_pid is not None

    os.kill(old_pid, signal.SIGKILL)
    assert wait_until(lambda: not service.is_ready(), 10)
    status = run_cli("stack", "status")
    assert status.returncode == 1
    lifecycle.up(probe_stack, report=lambda _line: None)

    assert service.is_ready()
    assert service.running_pid() not in (None, old_pid)
    assert marker_survived(probe_stack, service_name)


def write_marker(config: StackConfig, service_name: str) -> None:
    if service_name == "postgres":
        with psycopg.connect(config.database_url("stack_probe"), autocommit=True) as conn:
            conn.execute("INSERT INTO assets (symbol, scale) VALUES ('KILLTEST', 2)"
                         " ON CONFLICT DO NOTHING")
    elif service_name == "redis":
        client = redis.Redis(port=config.redis_port)
        client.set("kill-test", "kept")
        client.bgrewriteaof()
        # appendfsync everysec: wait for the rewrite so the key is on disk.
        assert wait_until(lambda: client.info("persistence")["aof_rewrite_in_progress"] == 0, 10)
        client.close()


def marker_survived(config: StackConfig, service_name: str) -> bool:
    if service_name == "postgres":
        with psycopg.connect(config.database_url("stack_probe")) as conn:
            return conn.execute("SELECT 1 FROM assets WHERE symbol = 'KILLTEST'").fetchone() \
                is not None
    if service_name == "redis":
        client = redis.Redis(port=config.redis_port)
        try:
            return client.get("kill-test") == b"kept"
        finally:
            client.close()
    broker = KafkaBroker(config)
    metadata = broker.admin_client().list_topics(timeout=10)
    return len(metadata.topics["orders"].partitions) == 2


def test_down_never_signals_a_process_it_did_not_start(probe_stack: StackConfig) -> None:
    stranger = subprocess.Popen(["sleep", "60"])
    redis_server = RedisServer(probe_stack)
    real_pid = redis_server.running_pid()
    try:
        # A stale pid file that now names somebody else's process.
        redis_server.pid_file.write_text(f"{stranger.pid}\n")
        assert redis_server.running_pid() is None
        redis_server.stop()
        assert stranger.poll() is None, "down killed a process the project did not start"
    finally:
        stranger.kill()
        stranger.wait()
        if real_pid is not None:
            redis_server.pid_file.write_text(f"{real_pid}\n")


def test_down_stops_everything_and_up_brings_it_back(probe_stack: StackConfig) -> None:
    before = {name: pid for name, pid in pids(probe_stack).items() if pid}
    result = run_cli("stack", "down")

    assert result.returncode == 0, result.stderr
    assert all(not process_matches(pid, "") for pid in before.values())
    assert all(pid is None for pid in pids(probe_stack).values())
    assert run_cli("stack", "status").returncode == 1
    assert "not running" in run_cli("stack", "down").stdout

    assert run_cli("stack", "up").returncode == 0
    assert all(s.is_ready() for s in (Postgres(probe_stack), RedisServer(probe_stack),
                                      KafkaBroker(probe_stack)))


def test_a_port_taken_by_another_program_is_reported_with_the_setting_to_change(
    probe_stack: StackConfig,
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken_port = squatter.getsockname()[1]
        config = StackConfig(**{**probe_stack.__dict__, "redis_port": taken_port,
                                "state_dir": STATE_DIR / "conflict"})

        with pytest.raises(ServiceError, match=f"port {taken_port}.*EXCHANGE_REDIS_PORT"):
            RedisServer(config).start()
    assert RedisServer(config).running_pid() is None
