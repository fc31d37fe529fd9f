"""What the API's handlers use, built once per Lambda container from the settings."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import psycopg
import redis
from psycopg_pool import ConnectionPool

from chalicelib.adapters.envelope import KmsMasterKey, LocalMasterKey, MasterKey
from chalicelib.adapters.order_publisher import CommandPublisher
from chalicelib.adapters.redis_store import (
    LoginFailures,
    SessionStore,
    TotpFailures,
    UsedTotpCodes,
    WeightMeter,
    redis_client,
)
from chalicelib.adapters.secrets import get_settings
from chalicelib.service_layer.auth import AuthContext
from chalicelib.service_layer.tokens import TokenConfig
from chalicelib.settings import Settings


@dataclass
class Services:
    settings: Settings
    pool: ConnectionPool
    redis: redis.Redis
    master_key: MasterKey
    auth: AuthContext
    weights: WeightMeter
    publisher: CommandPublisher

    @classmethod
    def from_settings(cls, settings: Settings) -> Services:
        client = redis_client(settings, socket_timeout=5, health_check_interval=30)
        master = master_key_for(settings)
        tokens = TokenConfig(settings.signing_key.get_secret_value(), settings.jwt_issuer,
                             settings.jwt_audience, settings.access_token_ttl_seconds)
        auth = AuthContext(
            sessions=SessionStore(client, settings.refresh_session_ttl_seconds),
            failures=LoginFailures(client, settings.login_max_failures,
                                   settings.login_ip_max_failures,
                                   settings.login_email_max_failures,
                                   settings.login_lockout_seconds),
            totp_failures=TotpFailures(client, settings.totp_max_failures,
                                       settings.login_lockout_seconds),
            used_codes=UsedTotpCodes(client), master_key=master, tokens=tokens,
            step_up_ttl_seconds=settings.step_up_ttl_seconds)
        # Lambda serves one request at a time per container: a tiny pool suffices.
        pool = ConnectionPool(settings.database_url, min_size=1, max_size=4, open=True,
                              kwargs={"connect_timeout": 10})
        publisher = CommandPublisher(settings.kafka_bootstrap_servers, settings.orders_topic)
        return cls(settings, pool, client, master, auth, WeightMeter(client), publisher)

    @contextmanager
    def db(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection for one request; committed when the block ends without error."""
        with self.pool.connection() as conn:
            yield conn

    def close(self) -> None:
        self.publisher.close()
        self.pool.close()
        self.redis.close()

    @staticmethod
    def now_ms() -> int:
        return time.time_ns() // 1_000_000


def master_key_for(settings: Settings) -> MasterKey:
    if settings.exchange_env == "aws":
        if not settings.kms_key_id:
            raise RuntimeError("EXCHANGE_ENV=aws needs KMS_KEY_ID: the key that wraps API secrets")
        kms = boto3.client("kms", region_name=settings.aws_region)
        return KmsMasterKey(kms, settings.kms_key_id)
    return LocalMasterKey(settings.local_master_key_path)


_current: Services | None = None


def services() -> Services:
    global _current
    if _current is None:
        _current = Services.from_settings(get_settings())
    return _current


def use_services(replacement: Services | None) -> None:
    """Point the handlers at other settings (tests use the test database)."""
    global _current
    if _current is not None and _current is not replacement:
        _current.close()
    _current = replacement
