"""`python -m opscli.release`, the migrations Job's command, against the local PostgreSQL
and Kafka, with the services' login secrets in Secrets Manager (moto's server on
loopback): it prepares a scratch database and scratch topics, and a second run changes
nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import psycopg
import pytest
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._config import ConfigResource
from confluent_kafka.admin._resource import ResourceType
from moto.server import ThreadedMotoServer
from psycopg import errors, sql
from psycopg.conninfo import make_conninfo

from chalicelib.adapters.kafka import make_admin
from chalicelib.adapters.migrations import load_migrations
from chalicelib.settings import PROJECT_ROOT
from opscli.stack.config import StackConfig
from tests.support.polling import wait_until

REGION = "eu-west-1"
# What each service's login may read, as its group role is granted by migration 0007.
READABLE = {"api": "trades", "matcher": "matcher_offsets", "functions": "candles"}
PARTITIONS = {"ORDERS": 3, "MARKET_EVENTS": 2, "ORDER_EVENTS": 2}


@pytest.fixture(scope="module")
def secrets_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@dataclass
class Scratch:
    """A database, three service logins and three topics of one test's own."""

    stack: StackConfig
    endpoint: str
    name: str
    env: dict[str, str]
    logins: dict[str, tuple[str, str]]
    arns: dict[str, str]

    @property
    def owner_url(self) -> str:
        return self.stack.database_url(self.name, "owner")

    @property
    def topics(self) -> dict[str, str]:
        return {kind: f"{self.name}-{kind.lower()}" for kind in PARTITIONS}

    def secrets(self) -> Any:
        return boto3.client("secretsmanager", region_name=REGION, endpoint_url=self.endpoint,
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def set_password(self, role: str, password: str) -> None:
        username = self.logins[role][0]
        self.secrets().put_secret_value(SecretId=self.arns[role], SecretString=json.dumps(
            {"username": username, "password": password}))
        self.logins[role] = (username, password)

    def connect_as(self, role: str) -> psycopg.Connection[tuple[Any, ...]]:
        user, password = self.logins[role]
        return psycopg.connect(make_conninfo(self.owner_url, user=user, password=password),
                               autocommit=True)


@pytest.fixture
def scratch(stack: StackConfig, secrets_endpoint: str) -> Iterator[Scratch]:
    name = f"release_{uuid.uuid4().hex[:10]}"
    server_url = stack.database_url("postgres", "owner")
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    logins = {role: (f"{name}_{role}_login", uuid.uuid4().hex) for role in READABLE}
    scratch = Scratch(stack, secrets_endpoint, name, {}, logins, {})
    for role, (username, password) in logins.items():
        scratch.arns[role] = scratch.secrets().create_secret(
            Name=f"{name}/{role}-db", SecretString=json.dumps(
                {"username": username, "password": password}))["ARN"]
    scratch.env = {
        "EXCHANGE_ENV": "local", "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": secrets_endpoint,
        "MIGRATIONS_DATABASE_URL": scratch.owner_url,
        "KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap,
        **{f"{role.upper()}_DB_SECRET_ARN": arn for role, arn in scratch.arns.items()},
        **{f"{kind}_TOPIC": topic for kind, topic in scratch.topics.items()},
        **{f"{kind}_PARTITIONS": str(count) for kind, count in PARTITIONS.items()},
    }
    try:
        yield scratch
    finally:
        delete_topics(stack, list(scratch.topics.values()))
        with psycopg.connect(server_url, autocommit=True) as conn:
            # A service's session ends a moment after its process, and FORCE may only end
            # the owner's own sessions: the services' are waited out by retrying the drop,
            # since an ending backend leaves pg_stat_activity before the database is free.
            wait_until(lambda: drop_database(conn, name), until=lambda refusal: refusal is None,
                       timeout=30, what=f"the services' sessions to {name} to end")
            for username, _password in logins.values():
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(
                    sql.Identifier(username)))


def drop_database(conn: psycopg.Connection[Any], name: str) -> str | None:
    """None once `name` is dropped; PostgreSQL's refusal while another role's session
    is still in it."""
    try:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))
    except errors.InsufficientPrivilege as refusal:
        return str(refusal)
    return None


def delete_topics(stack: StackConfig, topics: list[str]) -> None:
    admin = make_admin(stack.kafka_bootstrap)
    present = [t for t in topics if t in admin.list_topics(timeout=10).topics]
    for future in (admin.delete_topics(present) if present else {}).values():
        future.result(timeout=30)


@dataclass(frozen=True)
class Run:
    returncode: int
    lines: list[dict[str, Any]]
    stderr: str

    def step(self, name: str) -> dict[str, Any]:
        return next(line for line in self.lines if line.get("step") == name)

    @property
    def done(self) -> dict[str, Any]:
        return next(line for line in self.lines if line["message"] == "release done")


def release(scratch: Scratch, **env: str) -> Run:
    result = subprocess.run(
        [sys.executable, "-m", "opscli.release"], capture_output=True, text=True,
        env={**os.environ, **scratch.env, **env}, cwd=PROJECT_ROOT, timeout=300, check=False)
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return Run(result.returncode, lines, result.stderr)


def topic_state(stack: StackConfig, topic: str) -> tuple[int, str]:
    """The topic's partition count and its min.insync.replicas."""
    admin: AdminClient = make_admin(stack.kafka_bootstrap)
    partitions = len(admin.list_topics(topic, timeout=10).topics[topic].partitions)
    futures = admin.describe_configs([ConfigResource(ResourceType.TOPIC, topic)])
    configs = next(iter(futures.values())).result(timeout=30)
    return partitions, str(configs["min.insync.replicas"].value)


def test_a_release_prepares_the_database_logins_and_topics_and_a_second_changes_nothing(
    scratch: Scratch,
) -> None:
    # A single local broker: min.insync.replicas 2 proves the setting is applied (nothing
    # produces to these topics), where the broker's default would be 1.
    first = release(scratch, KAFKA_MIN_INSYNC_REPLICAS="2")
    second = release(scratch, KAFKA_MIN_INSYNC_REPLICAS="2")

    assert first.returncode == 0, first.stderr + json.dumps(first.lines)
    assert all(first.step(name)["changed"] for name in ("migrations", "logins", "topics"))
    assert {f"set {topic} min.insync.replicas=2" for topic in scratch.topics.values()} <= set(
        first.step("topics")["changes"])
    assert second.returncode == 0, second.stderr + json.dumps(second.lines)
    assert [second.step(name)["changes"] for name in ("migrations", "logins", "topics")] == [
        [], [], []]
    assert second.done["changed"] is False
    with psycopg.connect(scratch.owner_url) as conn:
        row = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
    assert row == (load_migrations()[-1].version,)
    for kind, topic in scratch.topics.items():
        assert topic_state(scratch.stack, topic) == (PARTITIONS[kind], "2")


@pytest.mark.parametrize("role", READABLE)
def test_each_service_logs_in_with_its_secret_and_has_its_group_s_rights(
    scratch: Scratch, role: str
) -> None:
    assert release(scratch).returncode == 0

    with scratch.connect_as(role) as conn:
        conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(READABLE[role])))
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(READABLE[role])))


def test_a_rotated_password_is_applied_by_the_next_release(scratch: Scratch) -> None:
    assert release(scratch).returncode == 0
    scratch.set_password("matcher", "rotated-" + uuid.uuid4().hex)

    rerun = release(scratch)

    assert rerun.step("logins")["changes"] == [
        f"updated {scratch.logins['matcher'][0]} (in exchange_matcher)"]
    with scratch.connect_as("matcher") as conn:
        conn.execute("SELECT count(*) FROM matcher_offsets")


def test_topics_grow_but_never_shrink(scratch: Scratch) -> None:
    orders = scratch.topics["ORDERS"]
    created = release(scratch)

    grown = release(scratch, ORDERS_PARTITIONS="5")
    fewer = release(scratch, ORDERS_PARTITIONS="2")

    # min.insync.replicas already the cluster's (1 here): created as they are, not configured.
    assert created.step("topics")["changes"] == [
        f"created {scratch.topics[kind]} ({count} partitions, replication factor 1)"
        for kind, count in PARTITIONS.items()]
    assert grown.step("topics")["changes"] == [f"grew {orders} from 3 to 5 partitions"]
    assert fewer.returncode == 0
    assert fewer.step("topics")["changes"] == []
    assert topic_state(scratch.stack, orders)[0] == 5


def test_a_failing_step_is_named_and_the_exit_status_is_non_zero(scratch: Scratch) -> None:
    missing = scratch.arns["api"] + "-gone"

    run = release(scratch, API_DB_SECRET_ARN=missing)

    assert run.returncode == 1
    failure = next(line for line in run.lines if line["message"] == "release failed")
    assert failure["level"] == "ERROR"
    assert failure["error"].startswith("logins: ")
    assert f"secret {missing!r} not found" in failure["error"]
