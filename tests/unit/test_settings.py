"""Settings: local defaults, environment overrides, derived endpoints."""

from __future__ import annotations

import pytest
from psycopg.conninfo import conninfo_to_dict
from pydantic import ValidationError

from chalicelib.settings import LOCAL_SIGNING_KEY, Settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "DATABASE_READ_URL", "REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS",
                 "EXCHANGE_PG_PORT", "EXCHANGE_REDIS_PORT", "EXCHANGE_KAFKA_PORT",
                 "EXCHANGE_ENV", "ORDERS_TOPIC", "ORDERS_PARTITIONS", "EXCHANGE_API_HOST",
                 "SIGNING_KEY", "EXCHANGE_MATCHER_HOST", "EXCHANGE_DB_ROLE",
                 "MIGRATIONS_DATABASE_URL", "KAFKA_SECURITY", "KAFKA_REPLICATION_FACTOR",
                 "KAFKA_MIN_INSYNC_REPLICAS", "DATABASE_PORT", "REDIS_PASSWORD",
                 "EXCHANGE_PG_STANDBY_PORT", "EXCHANGE_DB_FAILOVER_AFTER_SECONDS"):
        monkeypatch.delenv(name, raising=False)


def test_local_defaults_point_at_the_project_stack_on_loopback() -> None:
    settings = Settings()

    assert settings.exchange_env == "local"
    assert settings.database_url == (
        "postgresql://exchange_api_login:exchange@127.0.0.1:25432,127.0.0.1:25433/exchange"
        "?target_session_attrs=read-write&connect_timeout=3")
    assert settings.migrations_database_url == (
        "postgresql://exchange:exchange@127.0.0.1:25432,127.0.0.1:25433/exchange"
        "?target_session_attrs=read-write&connect_timeout=3")
    assert settings.database_read_url == (
        "postgresql://exchange_api_login:exchange@127.0.0.1:25433,127.0.0.1:25432/exchange"
        "?target_session_attrs=prefer-standby&connect_timeout=3")
    assert settings.db_failover_after_seconds == 5
    assert settings.redis_url == "redis://127.0.0.1:26379/0"
    assert settings.kafka_bootstrap_servers == "127.0.0.1:29092"
    assert settings.topic_partitions == {"orders": 4, "market-events": 4, "order-events": 4}
    assert settings.signing_key.get_secret_value() == LOCAL_SIGNING_KEY


def test_ports_move_the_derived_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXCHANGE_PG_PORT", "6543")
    monkeypatch.setenv("EXCHANGE_REDIS_PORT", "6380")
    monkeypatch.setenv("EXCHANGE_KAFKA_PORT", "9999")

    settings = Settings()

    assert "@127.0.0.1:6543,127.0.0.1:6544/exchange?" in settings.database_url
    assert settings.redis_url == "redis://127.0.0.1:6380/0"
    assert settings.kafka_bootstrap_servers == "127.0.0.1:9999"


def test_explicit_urls_win_over_derived_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db.internal:5432/x")
    monkeypatch.setenv("DATABASE_READ_URL", "postgresql://u:p@reader.internal:5432/x")
    monkeypatch.setenv("ORDERS_TOPIC", "orders-v2")
    monkeypatch.setenv("ORDERS_PARTITIONS", "12")

    settings = Settings()

    assert settings.database_url == "postgresql://u:p@db.internal:5432/x"
    assert settings.database_read_url == "postgresql://u:p@reader.internal:5432/x"
    assert settings.topic_partitions["orders-v2"] == 12


def test_the_standby_port_can_be_set_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXCHANGE_PG_STANDBY_PORT", "23433")

    settings = Settings()

    assert settings.pg_standby_port == 23433
    assert "@127.0.0.1:25432,127.0.0.1:23433/exchange?" in settings.database_url
    assert "@127.0.0.1:23433,127.0.0.1:25432/exchange?" in settings.database_read_url


def test_libpq_reads_both_hosts_and_the_session_wanted_from_the_local_urls() -> None:
    settings = Settings()

    writer = conninfo_to_dict(settings.database_url)
    reader = conninfo_to_dict(settings.database_read_url)

    assert (writer["host"], writer["port"]) == ("127.0.0.1,127.0.0.1", "25432,25433")
    assert writer["target_session_attrs"] == "read-write"
    assert writer["connect_timeout"] == "3"
    assert (reader["port"], reader["target_session_attrs"]) == ("25433,25432", "prefer-standby")


def test_a_database_url_given_alone_is_the_reader_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db.internal:5432/x")

    assert Settings().database_read_url == "postgresql://u:p@db.internal:5432/x"


@pytest.mark.parametrize(("name", "value"), [
    ("EXCHANGE_PG_PORT", "80"),
    ("EXCHANGE_PG_PORT", "not-a-port"),
    ("ORDERS_PARTITIONS", "0"),
    ("EXCHANGE_ENV", "staging"),
    ("KAFKA_SECURITY", "sasl"),
    ("DATABASE_PORT", "0"),
    ("KAFKA_MIN_INSYNC_REPLICAS", "0"),
])
def test_invalid_values_are_refused_with_the_variable_named(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(ValidationError, match=f"(?i){name}"):
        Settings()


@pytest.mark.parametrize(("env", "variable"), [
    ({"EXCHANGE_API_HOST": "0.0.0.0"}, "SIGNING_KEY"),  # noqa: S104 - the case refused
    ({"EXCHANGE_API_HOST": "10.0.0.5"}, "SIGNING_KEY"),
    ({"EXCHANGE_ENV": "aws"}, "SIGNING_SECRET_ARN"),
])
def test_the_shipped_signing_key_is_refused_off_loopback_development(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], variable: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(ValueError, match=variable):
        Settings().check_signing_key()


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_the_shipped_signing_key_serves_loopback_development(
    monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    monkeypatch.setenv("EXCHANGE_API_HOST", host)

    settings = Settings()
    settings.check_signing_key()

    assert settings.api_host == host


def test_a_key_of_ones_own_serves_any_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXCHANGE_API_HOST", "0.0.0.0")  # noqa: S104 - allowed with a real key
    monkeypatch.setenv("SIGNING_KEY", "a-key-generated-for-this-deployment")

    Settings().check_signing_key()


def test_local_topics_live_on_one_broker() -> None:
    settings = Settings()

    assert settings.kafka_security == "plaintext"
    assert (settings.kafka_replication_factor, settings.kafka_min_insync_replicas) == (1, 1)


def test_in_aws_topics_survive_losing_a_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXCHANGE_ENV", "aws")

    settings = Settings()

    assert (settings.kafka_replication_factor, settings.kafka_min_insync_replicas) == (3, 2)


def test_replication_settings_given_win_in_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXCHANGE_ENV", "aws")
    monkeypatch.setenv("KAFKA_REPLICATION_FACTOR", "5")
    monkeypatch.setenv("KAFKA_MIN_INSYNC_REPLICAS", "3")

    settings = Settings()

    assert (settings.kafka_replication_factor, settings.kafka_min_insync_replicas) == (5, 3)
