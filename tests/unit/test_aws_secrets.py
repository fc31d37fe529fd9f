"""In AWS the database credentials and signing key come from Secrets Manager (moto)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.adapters.secrets import SecretsError, resolve_aws_secrets
from chalicelib.settings import Settings

REGION = "eu-west-1"


@pytest.fixture
def secretsmanager(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("secretsmanager", region_name=REGION)


def aws_settings(db_arn: str, signing_arn: str) -> Settings:
    return Settings(exchange_env="aws", AWS_REGION=REGION, database_secret_arn=db_arn,
                    signing_secret_arn=signing_arn)


def test_database_urls_and_signing_key_come_from_secrets(secretsmanager: Any) -> None:
    db = secretsmanager.create_secret(Name="exchange/db", SecretString=json.dumps({
        "username": "app", "password": "p@ss/word", "host": "writer.cluster", "port": 5432,
        "dbname": "exchange", "readerHost": "reader.cluster"}))
    key = secretsmanager.create_secret(Name="exchange/signing", SecretString="s3cret-key")

    settings = resolve_aws_secrets(aws_settings(db["ARN"], key["ARN"]))

    assert settings.database_url == (
        "postgresql://app:p%40ss%2Fword@writer.cluster:5432/exchange?sslmode=require")
    assert settings.database_read_url == (
        "postgresql://app:p%40ss%2Fword@reader.cluster:5432/exchange?sslmode=require")
    assert settings.signing_key.get_secret_value() == "s3cret-key"


def test_reader_defaults_to_the_writer_when_the_secret_has_none(secretsmanager: Any) -> None:
    db = secretsmanager.create_secret(Name="exchange/db", SecretString=json.dumps({
        "username": "app", "password": "pw", "host": "writer.cluster", "dbname": "exchange"}))
    key = secretsmanager.create_secret(Name="exchange/signing", SecretString="k")

    settings = resolve_aws_secrets(aws_settings(db["ARN"], key["ARN"]))

    assert settings.database_read_url == settings.database_url


def test_a_missing_secret_is_named_in_the_error(secretsmanager: Any) -> None:
    key = secretsmanager.create_secret(Name="exchange/signing", SecretString="k")

    with pytest.raises(SecretsError, match=r"exchange/nope.*not found"):
        resolve_aws_secrets(aws_settings("exchange/nope", key["ARN"]))


def test_a_malformed_database_secret_is_refused(secretsmanager: Any) -> None:
    db = secretsmanager.create_secret(Name="exchange/db", SecretString='{"username": "app"}')
    key = secretsmanager.create_secret(Name="exchange/signing", SecretString="k")

    with pytest.raises(SecretsError, match="not an RDS credentials JSON"):
        resolve_aws_secrets(aws_settings(db["ARN"], key["ARN"]))


def test_aws_mode_without_secret_arns_says_what_to_set(secretsmanager: Any) -> None:
    with pytest.raises(SecretsError, match="DATABASE_SECRET_ARN and SIGNING_SECRET_ARN"):
        resolve_aws_secrets(aws_settings("", ""))
