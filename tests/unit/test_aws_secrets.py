"""In AWS the database logins, the Redis AUTH token and the signing key come from Secrets
Manager (moto), and the URLs from the hosts the stacks' outputs put in the environment."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.adapters.redis_store import redis_client
from chalicelib.adapters.secrets import (
    SecretsError,
    get_settings,
    resolve_aws_secrets,
    resolved_settings,
)
from chalicelib.settings import LOCAL_SIGNING_KEY, Settings
from opscli.release import release_settings, service_logins

REGION = "eu-west-1"
REDIS_URL = "rediss://master.cache.internal:6379/0"
KAFKA = "b-1.msk.internal:9098,b-2.msk.internal:9098"
LOGIN = {"username": "exchange_api_login", "password": "p@ss/word"}
MASTER = {"username": "exchange_master", "password": "owner:pw"}


@pytest.fixture
def secretsmanager(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("secretsmanager", region_name=REGION)


def create(client: Any, name: str, value: dict[str, Any] | str) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return str(client.create_secret(Name=name, SecretString=text)["ARN"])


@pytest.fixture
def arns(secretsmanager: Any) -> dict[str, str]:
    """The secrets the keys and data stacks create, as their outputs name them."""
    return {
        "database_secret_arn": create(secretsmanager, "exchange/dev/api-db", LOGIN),
        "signing_secret_arn": create(secretsmanager, "exchange/dev/signing", "s3cret-key"),
        "redis_auth_secret_arn": create(secretsmanager, "exchange/dev/cache-auth",
                                        {"token": "redis-auth-token-0123456789"}),
        "migrations_secret_arn": create(secretsmanager, "rds!cluster-1234", MASTER),
    }


def aws_settings(**values: Any) -> Settings:
    """What a Lambda of the API reads in AWS (iac/README.md), overridden by `values`."""
    env: dict[str, Any] = {
        "exchange_env": "aws", "AWS_REGION": REGION, "redis_url": REDIS_URL,
        "kafka_bootstrap_servers": KAFKA, "database_host": "proxy.internal",
        "database_read_host": "proxy-read.internal", "database_port": 5432,
        "EXCHANGE_DB_NAME": "exchange"}
    return Settings(**{**env, **values})


def test_urls_come_from_the_hosts_and_the_login_secret(arns: dict[str, str]) -> None:
    settings = resolve_aws_secrets(aws_settings(**arns))

    assert settings.database_url == (
        "postgresql://exchange_api_login:p%40ss%2Fword@proxy.internal:5432/exchange"
        "?sslmode=require")
    assert settings.database_read_url == (
        "postgresql://exchange_api_login:p%40ss%2Fword@proxy-read.internal:5432/exchange"
        "?sslmode=require")
    assert settings.signing_key.get_secret_value() == "s3cret-key"


def test_the_migrations_url_logs_in_as_the_master_user(arns: dict[str, str]) -> None:
    settings = resolve_aws_secrets(aws_settings(**arns, database_host="writer.internal"))

    assert settings.migrations_database_url == (
        "postgresql://exchange_master:owner%3Apw@writer.internal:5432/exchange?sslmode=require")


def test_the_redis_password_goes_to_the_client_not_into_the_url(arns: dict[str, str]) -> None:
    settings = resolve_aws_secrets(aws_settings(**arns))

    client = redis_client(settings)

    kwargs = client.connection_pool.connection_kwargs
    assert kwargs["password"] == "redis-auth-token-0123456789"
    assert kwargs["host"] == "master.cache.internal"
    assert "redis-auth-token" not in settings.redis_url
    assert "redis-auth-token" not in repr(settings)


def test_the_api_reads_the_web_apps_edge_secret_and_keeps_it_out_of_reprs(
    secretsmanager: Any, arns: dict[str, str]
) -> None:
    edge = create(secretsmanager, "exchange/dev/edge-origin", {"token": "Edge0123456789abcdef"})

    settings = resolve_aws_secrets(aws_settings(**arns, edge_secret_arn=edge))

    assert settings.edge_secret.get_secret_value() == "Edge0123456789abcdef"
    assert "Edge0123456789abcdef" not in repr(settings)


def test_without_the_edge_secret_nothing_is_taken_for_cloudfront(arns: dict[str, str]) -> None:
    assert resolve_aws_secrets(aws_settings(**arns)).edge_secret.get_secret_value() == ""


def test_an_edge_secret_without_its_token_is_refused(
    secretsmanager: Any, arns: dict[str, str]
) -> None:
    edge = create(secretsmanager, "exchange/dev/edge-origin", {"value": "x"})

    with pytest.raises(SecretsError, match=r"edge-origin.*has no \"token\""):
        resolve_aws_secrets(aws_settings(**arns, edge_secret_arn=edge))


def test_the_secret_s_host_port_and_name_serve_when_the_environment_has_none(
    secretsmanager: Any, arns: dict[str, str]
) -> None:
    rotated = create(secretsmanager, "exchange/db-rotated", {
        **LOGIN, "host": "writer.cluster", "port": 6543, "dbname": "other",
        "readerHost": "reader.cluster"})
    service: dict[str, Any] = {
        **arns, "database_secret_arn": rotated, "migrations_secret_arn": "",
        "exchange_env": "aws", "AWS_REGION": REGION, "redis_url": REDIS_URL,
        "kafka_bootstrap_servers": KAFKA}
    settings = resolve_aws_secrets(Settings(**service))

    assert settings.database_url.endswith("@writer.cluster:6543/other?sslmode=require")
    assert settings.database_read_url.endswith("@reader.cluster:6543/other?sslmode=require")


def test_the_environment_wins_over_the_secret(
    secretsmanager: Any, arns: dict[str, str]
) -> None:
    rotated = create(secretsmanager, "exchange/db-rotated", {
        **LOGIN, "host": "writer.cluster", "port": 6543, "dbname": "other"})
    settings = resolve_aws_secrets(aws_settings(
        **{**arns, "database_secret_arn": rotated}, database_port=5433))

    assert settings.database_url.endswith("@proxy.internal:5433/exchange?sslmode=require")


def test_the_reader_defaults_to_the_writer(arns: dict[str, str]) -> None:
    settings = resolve_aws_secrets(aws_settings(**arns, database_read_host=""))

    assert settings.database_read_url == settings.database_url


def test_a_login_without_a_host_anywhere_says_to_set_database_host(
    arns: dict[str, str]
) -> None:
    with pytest.raises(SecretsError, match="set DATABASE_HOST"):
        resolve_aws_secrets(aws_settings(**arns, database_host=""))


def test_tls_redis_without_its_auth_secret_says_what_to_set(arns: dict[str, str]) -> None:
    with pytest.raises(SecretsError, match=r"REDIS_AUTH_SECRET_ARN is not set.*CacheAuthSecretArn"):
        resolve_aws_secrets(aws_settings(**{**arns, "redis_auth_secret_arn": ""}))


def test_a_missing_secret_is_named_in_the_error(arns: dict[str, str]) -> None:
    with pytest.raises(SecretsError, match=r"exchange/nope.*not found"):
        resolve_aws_secrets(aws_settings(**{**arns, "database_secret_arn": "exchange/nope"}))


def test_a_secret_without_a_password_is_refused(
    secretsmanager: Any, arns: dict[str, str]
) -> None:
    partial = create(secretsmanager, "exchange/db-partial", {"username": "app"})

    with pytest.raises(SecretsError, match="not an RDS credentials JSON"):
        resolve_aws_secrets(aws_settings(**{**arns, "database_secret_arn": partial}))


def test_aws_mode_names_each_missing_variable_and_its_value(secretsmanager: Any) -> None:
    with pytest.raises(SecretsError) as refused:
        resolve_aws_secrets(Settings(exchange_env="aws", AWS_REGION=REGION))

    message = str(refused.value)
    for variable, value in (("DATABASE_SECRET_ARN", "ApiDbSecretArn"),
                            ("SIGNING_SECRET_ARN", "SigningSecretArn"),
                            ("REDIS_URL", "RedisPrimaryHost"),
                            ("KAFKA_BOOTSTRAP_SERVERS", "KafkaBootstrapServers")):
        assert variable in message
        assert value in message


def test_get_settings_resolves_the_secrets_once_at_start_up(
    monkeypatch: pytest.MonkeyPatch, arns: dict[str, str]
) -> None:
    env = {"EXCHANGE_ENV": "aws", "AWS_REGION": REGION, "REDIS_URL": REDIS_URL,
           "KAFKA_BOOTSTRAP_SERVERS": KAFKA, "KAFKA_SECURITY": "iam",
           "DATABASE_HOST": "writer.internal", "DATABASE_READ_HOST": "reader.internal",
           **{name.upper(): arn for name, arn in arns.items()}}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        settings = get_settings()
        assert get_settings() is settings
    finally:
        get_settings.cache_clear()

    assert "@writer.internal:5432/exchange?sslmode=require" in settings.database_url
    assert "@reader.internal:5432/exchange?sslmode=require" in settings.database_read_url
    assert settings.redis_password.get_secret_value() == "redis-auth-token-0123456789"
    assert settings.kafka_security == "iam"


def test_a_signing_secret_holding_the_key_shipped_in_the_source_is_refused(
    secretsmanager: Any, arns: dict[str, str]
) -> None:
    shipped = create(secretsmanager, "exchange/dev/signing-shipped", LOCAL_SIGNING_KEY)

    with pytest.raises(ValueError, match="SIGNING_SECRET_ARN"):
        resolved_settings(aws_settings(**{**arns, "signing_secret_arn": shipped}))


def test_local_settings_are_used_as_they_are() -> None:
    settings = Settings(exchange_env="local")

    assert resolved_settings(settings) is settings


def release_env(monkeypatch: pytest.MonkeyPatch, values: dict[str, str]) -> None:
    base = {"EXCHANGE_ENV": "aws", "AWS_REGION": REGION, "KAFKA_BOOTSTRAP_SERVERS": KAFKA,
            "DATABASE_HOST": "writer.internal"}
    for name, value in {**base, **values}.items():
        monkeypatch.setenv(name, value)


def test_the_release_job_reads_the_master_and_each_service_login(
    monkeypatch: pytest.MonkeyPatch, secretsmanager: Any, arns: dict[str, str]
) -> None:
    logins = {role: create(secretsmanager, f"exchange/dev/{role}-login", {
        "username": f"exchange_{role}_login", "password": f"{role}-password"})
        for role in ("api", "matcher", "functions")}
    release_env(monkeypatch, {
        "MIGRATIONS_SECRET_ARN": arns["migrations_secret_arn"],
        **{f"{role.upper()}_DB_SECRET_ARN": arn for role, arn in logins.items()}})

    settings = release_settings()

    assert settings.migrations_database_url == (
        "postgresql://exchange_master:owner%3Apw@writer.internal:5432/exchange?sslmode=require")
    assert {(login.username, login.group, login.password.get_secret_value())
            for login in service_logins(settings)} == {
        ("exchange_api_login", "exchange_api", "api-password"),
        ("exchange_matcher_login", "exchange_matcher", "matcher-password"),
        ("exchange_functions_login", "exchange_functions", "functions-password")}


def test_the_release_job_names_the_secrets_it_lacks(
    monkeypatch: pytest.MonkeyPatch, secretsmanager: Any
) -> None:
    release_env(monkeypatch, {})

    with pytest.raises(SecretsError) as refused:
        release_settings()

    for variable in ("MIGRATIONS_SECRET_ARN", "API_DB_SECRET_ARN", "MATCHER_DB_SECRET_ARN",
                     "FUNCTIONS_DB_SECRET_ARN"):
        assert variable in str(refused.value)
