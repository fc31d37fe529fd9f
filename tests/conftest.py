"""Test harness: the real local stack, clean data per test, markers by folder.

Integration and e2e tests use the project's own PostgreSQL, Redis and Kafka: the
session starts the stack if it is not running and leaves it up for the next run.
Each test gets emptied tables in the test database, an emptied Redis database of
its own, and fresh Kafka topic names.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from chalicelib.adapters.migrations import apply_migrations
from chalicelib.settings import DbRole, Settings
from opscli.stack import lifecycle
from opscli.stack.config import StackConfig
from tests.support.topics import (
    SessionTopics,
    delete_topics,
    delete_topics_named,
    left_behind,
    session_topic_name,
)

TESTS_DIR = Path(__file__).resolve().parent
# Two test sessions at once (say, two checkouts) need their own database and Redis db:
# set EXCHANGE_TEST_DB_NAME and EXCHANGE_TEST_REDIS_DB; the database is created if missing.
REDIS_TEST_DB = int(os.environ.get("EXCHANGE_TEST_REDIS_DB", "15"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        folder = Path(str(item.fspath)).relative_to(TESTS_DIR).parts[0]
        if folder in ("unit", "integration", "e2e"):
            item.add_marker(getattr(pytest.mark, folder))


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def stack(base_settings: Settings) -> StackConfig:
    config = StackConfig.from_settings(base_settings)
    lifecycle.up(config, report=lambda line: print(f"[stack] {line}"))
    return config


def as_role(settings: Settings, role: DbRole) -> Settings:
    """`settings` connecting to the test database as `role`, as that service does."""
    url = settings.local_database_url(settings.test_db_name, role)
    return settings.model_copy(update={"db_role": role, "database_url": url,
                                       "database_read_url": url})


@pytest.fixture(scope="session")
def test_settings(stack: StackConfig, base_settings: Settings) -> Settings:
    """Settings pointing every client at the test database and test Redis db, connecting
    as the API's database role, as the API does, so that every test proves the API's
    grants suffice. Fixtures that migrate, empty, fill and inspect tables use the owner's
    ``migrations_database_url`` (``migrated_db``, ``db_url``, ``db``)."""
    return as_role(base_settings.model_copy(update={
        "migrations_database_url": stack.database_url(base_settings.test_db_name, "owner"),
        "redis_url": f"redis://127.0.0.1:{stack.redis_port}/{REDIS_TEST_DB}",
    }), "api")


@pytest.fixture(scope="session")
def migrated_db(stack: StackConfig, test_settings: Settings) -> str:
    """The test database's owner URL, the schema migrated."""
    name = test_settings.test_db_name
    with psycopg.connect(stack.database_url("postgres"), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"'.encode())
    apply_migrations(test_settings.migrations_database_url)
    return test_settings.migrations_database_url


@pytest.fixture
def db_url(migrated_db: str) -> str:
    """The test database's owner URL, with every table emptied first."""
    with psycopg.connect(migrated_db, autocommit=True) as conn:
        tables = [row[0] for row in conn.execute(
            "SELECT quote_ident(tablename) FROM pg_tables"
            # The tiers' version only moves forward (a matcher may hold the tiers of an
            # earlier number); emptying the tiers moves it.
            " WHERE schemaname = 'public'"
            " AND tablename NOT IN ('schema_migrations', 'fee_tier_version')")]
        if tables:
            conn.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE".encode())
    return migrated_db


@pytest.fixture
def db(db_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(db_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def redis_client(test_settings: Settings) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(test_settings.redis_url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def kafka_bootstrap(stack: StackConfig) -> str:
    return stack.kafka_bootstrap


@pytest.fixture
def topic_name(kafka_bootstrap: str) -> Iterator[str]:
    """A fresh topic name; the topic and every topic named from it by a suffix are
    deleted when the test ends."""
    name = session_topic_name("test")
    yield name
    delete_topics_named(kafka_bootstrap, name)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Fail a session that left topics of its own on the broker (they are deleted)."""
    if not SessionTopics.used:
        return
    bootstrap = StackConfig.from_settings(Settings()).kafka_bootstrap
    remaining = left_behind(bootstrap)
    if remaining:
        delete_topics(bootstrap, remaining)
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = (f"tests left {len(remaining)} Kafka topic(s) behind (now deleted): "
                   f"{', '.join(remaining)}")
        if reporter is not None:
            reporter.write_sep("!", message, red=True)
        else:
            print(message)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
