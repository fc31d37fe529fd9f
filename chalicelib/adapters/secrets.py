"""AWS Secrets Manager: database logins, the Redis AUTH token, the signing key and the
web app's CloudFront secret in AWS.

A database login secret holds `username` and `password`, as RDS writes its managed
master secret and as the keys stack generates the services' logins. It may also hold
`host`, `port`, `dbname` and `readerHost` (the shape RDS rotation writes): those are
used where the environment (DATABASE_HOST, DATABASE_READ_HOST, DATABASE_PORT,
EXCHANGE_DB_NAME) does not set them. The Redis and CloudFront secrets are
`{"token": ...}`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote

import boto3
from pydantic import BaseModel, SecretStr, ValidationError

from chalicelib.settings import Settings


class SecretsError(RuntimeError):
    """A secret or setting is missing or malformed; the message says which and what to fix."""


# What each variable a process needs in AWS is set to (iac/README.md).
REQUIRED_HINTS = {
    "DATABASE_SECRET_ARN": "this service's database login secret (the keys stack's"
                           " ApiDbSecretArn, MatcherDbSecretArn or FunctionsDbSecretArn)",
    "SIGNING_SECRET_ARN": "the token signing key's secret (the keys stack's SigningSecretArn)",
    "MIGRATIONS_SECRET_ARN": "the schema owner's secret (the data stack's"
                             " DatabaseMasterSecretArn)",
    "REDIS_URL": "rediss://<RedisPrimaryHost>:<RedisPort>/0 (the cache stack's outputs)",
    "KAFKA_BOOTSTRAP_SERVERS": "the streaming stack's KafkaBootstrapServers",
    "API_DB_SECRET_ARN": "the API's login secret (the keys stack's ApiDbSecretArn)",
    "MATCHER_DB_SECRET_ARN": "the matcher's login secret (the keys stack's"
                             " MatcherDbSecretArn)",
    "FUNCTIONS_DB_SECRET_ARN": "the functions' login secret (the keys stack's"
                               " FunctionsDbSecretArn)",
}
# A service (API, functions, matcher) needs these in AWS; the release job other ones.
SERVICE_VARIABLES = ("DATABASE_SECRET_ARN", "SIGNING_SECRET_ARN", "REDIS_URL",
                     "KAFKA_BOOTSTRAP_SERVERS")


class LoginSecret(BaseModel):
    username: str
    password: SecretStr
    host: str | None = None
    port: int | None = None
    dbname: str | None = None
    readerHost: str | None = None  # noqa: N815 - the key name RDS writes


@dataclass(frozen=True)
class DatabaseLogin:
    """A database login and where it connects, the environment's values winning."""

    username: str
    password: SecretStr
    host: str
    read_host: str
    port: int
    dbname: str

    def url(self, host: str | None = None) -> str:
        user = quote(self.username, safe="")
        password = quote(self.password.get_secret_value(), safe="")
        # TLS without verifying the server's certificate: verify-full needs the RDS CA
        # bundle (sslrootcert), which neither the Lambda package nor the matcher's image
        # ships. require still encrypts every connection; the hosts are the VPC's own.
        return (f"postgresql://{user}:{password}@{host or self.host}:{self.port}"
                f"/{self.dbname}?sslmode=require")

    @property
    def read_url(self) -> str:
        return self.url(self.read_host)


def read_secret_string(client: Any, secret_id: str) -> str:
    try:
        response = client.get_secret_value(SecretId=secret_id)
    except client.exceptions.ResourceNotFoundException as exc:
        raise SecretsError(f"secret {secret_id!r} not found: create it or fix its ARN") from exc
    value = response.get("SecretString")
    if not value:
        raise SecretsError(f"secret {secret_id!r} has no SecretString")
    return str(value)


def read_json_secret(client: Any, secret_id: str) -> dict[str, Any]:
    raw = read_secret_string(client, secret_id)
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise SecretsError(f"secret {secret_id!r} is not JSON") from exc
    if not isinstance(value, dict):
        raise SecretsError(f"secret {secret_id!r} is not a JSON object")
    return value


def read_login_secret(client: Any, secret_id: str) -> LoginSecret:
    try:
        return LoginSecret.model_validate(read_json_secret(client, secret_id))
    except ValidationError as exc:
        raise SecretsError(f"secret {secret_id!r} is not an RDS credentials JSON"
                           f" (username, password): {exc}") from exc


def read_login(client: Any, secret_id: str, settings: Settings) -> DatabaseLogin:
    """The login in `secret_id`, connecting where the environment says (else the secret)."""
    secret = read_login_secret(client, secret_id)
    host = settings.database_host or secret.host
    if not host:
        raise SecretsError(f"no database host for the login in {secret_id!r}: set"
                           " DATABASE_HOST (the data stack's DatabaseWriterHost, or"
                           " DatabaseProxyHost for the Lambdas)")
    given = settings.model_fields_set
    port = settings.database_port if "database_port" in given else secret.port
    dbname = settings.db_name if "db_name" in given else secret.dbname
    return DatabaseLogin(
        username=secret.username, password=secret.password, host=host,
        read_host=settings.database_read_host or secret.readerHost or host,
        port=port or settings.database_port, dbname=dbname or settings.db_name)


def require(settings: Settings, variables: tuple[str, ...]) -> None:
    """Refuse to start in AWS without `variables`, naming each and what to set it to."""
    missing = [name for name in variables if not settings_value(settings, name)]
    if missing:
        hints = "; ".join(f"{name}: {REQUIRED_HINTS[name]}" for name in missing)
        raise SecretsError(f"EXCHANGE_ENV=aws needs {' and '.join(missing)} to be set ({hints})")


def settings_value(settings: Settings, variable: str) -> str:
    # The derived local defaults do not count as set in AWS.
    name = variable.lower()
    return str(getattr(settings, name)) if name in settings.model_fields_set else ""


def secrets_client(settings: Settings) -> Any:
    return boto3.client("secretsmanager", region_name=settings.aws_region)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """A service process's settings (API, functions, matcher), its AWS secrets read once,
    at start-up."""
    return resolved_settings(Settings())


def resolved_settings(settings: Settings,
                      required: tuple[str, ...] = SERVICE_VARIABLES) -> Settings:
    """``settings`` as the process runs with them: locally as they are; in AWS with their
    secrets read, refusing to start without ``required`` (and, for a process that signs
    tokens, with the signing key shipped in the source)."""
    if settings.exchange_env != "aws":
        return settings
    resolved = resolve_aws_secrets(settings, required)
    if "SIGNING_SECRET_ARN" in required:
        resolved.check_signing_key()
    return resolved


def resolve_aws_secrets(settings: Settings,
                        required: tuple[str, ...] = SERVICE_VARIABLES) -> Settings:
    """Settings whose database URLs, Redis password, signing key and edge secret come from
    Secrets Manager; `required` names the variables this process cannot start without."""
    require(settings, required)
    client = secrets_client(settings)
    update: dict[str, Any] = {}
    if settings.database_secret_arn:
        login = read_login(client, settings.database_secret_arn, settings)
        update |= {"database_url": login.url(), "database_read_url": login.read_url}
    if settings.migrations_secret_arn:
        owner = read_login(client, settings.migrations_secret_arn, settings)
        update["migrations_database_url"] = owner.url()
    if settings.signing_secret_arn:
        update["signing_key"] = SecretStr(read_secret_string(client,
                                                             settings.signing_secret_arn))
    update |= redis_auth(client, settings)
    if settings.edge_secret_arn:
        update["edge_secret"] = SecretStr(token_of(client, settings.edge_secret_arn))
    return settings.model_copy(update=update)


def redis_auth(client: Any, settings: Settings) -> dict[str, Any]:
    """The Redis AUTH password from REDIS_AUTH_SECRET_ARN; required for TLS Redis, which
    in AWS is ElastiCache with AUTH on."""
    if not settings.redis_auth_secret_arn:
        if settings.redis_url.startswith("rediss://"):
            raise SecretsError("REDIS_URL is ElastiCache's (rediss://) but"
                               " REDIS_AUTH_SECRET_ARN is not set: set it to the keys"
                               " stack's CacheAuthSecretArn")
        return {}
    return {"redis_password": SecretStr(token_of(client, settings.redis_auth_secret_arn))}


def token_of(client: Any, secret_id: str) -> str:
    """The `token` of a `{"token": ...}` secret."""
    token = read_json_secret(client, secret_id).get("token")
    if not isinstance(token, str) or not token:
        raise SecretsError(f"secret {secret_id!r} has no \"token\"")
    return token
