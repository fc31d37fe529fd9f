"""AWS Secrets Manager: database credentials and the token signing key in AWS.

The database secret has the shape RDS/Aurora rotation writes
(`username`, `password`, `host`, `port`, `dbname`, optional `readerHost`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import boto3
from pydantic import BaseModel, SecretStr

if TYPE_CHECKING:
    from chalicelib.settings import Settings


class SecretsError(RuntimeError):
    """A secret is missing or malformed; the message says which and what to fix."""


class DatabaseSecret(BaseModel):
    username: str
    password: SecretStr
    host: str
    port: int = 5432
    dbname: str
    readerHost: str | None = None  # noqa: N815 - the key name RDS writes

    def url(self, host: str) -> str:
        user = quote(self.username, safe="")
        password = quote(self.password.get_secret_value(), safe="")
        return f"postgresql://{user}:{password}@{host}:{self.port}/{self.dbname}?sslmode=require"


def read_secret_string(client: Any, secret_id: str) -> str:
    try:
        response = client.get_secret_value(SecretId=secret_id)
    except client.exceptions.ResourceNotFoundException as exc:
        raise SecretsError(f"secret {secret_id!r} not found: create it or fix its ARN") from exc
    value = response.get("SecretString")
    if not value:
        raise SecretsError(f"secret {secret_id!r} has no SecretString")
    return str(value)


def resolve_aws_secrets(settings: Settings) -> Settings:
    """Return settings whose database URLs and signing key come from Secrets Manager."""
    if not settings.database_secret_arn or not settings.signing_secret_arn:
        raise SecretsError(
            "EXCHANGE_ENV=aws needs DATABASE_SECRET_ARN and SIGNING_SECRET_ARN to be set"
        )
    client = boto3.client("secretsmanager", region_name=settings.aws_region)
    raw_db = read_secret_string(client, settings.database_secret_arn)
    try:
        db = DatabaseSecret.model_validate(json.loads(raw_db))
    except ValueError as exc:
        raise SecretsError(
            f"secret {settings.database_secret_arn!r} is not an RDS credentials JSON: {exc}"
        ) from exc
    signing_key = read_secret_string(client, settings.signing_secret_arn)
    return settings.model_copy(
        update={
            "database_url": db.url(db.host),
            "database_read_url": db.url(db.readerHost or db.host),
            "signing_key": SecretStr(signing_key),
        }
    )
