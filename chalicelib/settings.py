"""One typed settings object for every role (API, lambdas, matcher, operator CLI).

Values come from environment variables. Locally every URL defaults to the
project's own stack on 127.0.0.1 (ports chosen not to collide with a system
PostgreSQL or Redis). In AWS (`EXCHANGE_ENV=aws`) the database logins, the Redis
AUTH token and the token signing key are secrets: each process's entry point resolves
them at start-up (chalicelib/adapters/secrets.py, `get_settings`), building the
database URLs from the hosts in the environment (iac/README.md, "What the processes
read in AWS"). This module only reads and checks configuration.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent

LOCAL_SIGNING_KEY = "local-development-signing-key-not-for-production"

# The database role a process connects as (chalicelib/migrations/0007_service_roles.sql):
# each service's group role, or the schema's owner (migrations and operators only).
DbRole = Literal["api", "matcher", "functions", "owner"]
SERVICE_GROUP_ROLES: dict[str, str] = {
    "api": "exchange_api", "matcher": "exchange_matcher", "functions": "exchange_functions"}


# Each local role's /metrics port past EXCHANGE_METRICS_BASE_PORT (the matcher's is its
# health port): api 29111, fanout 29112, candles 29113, sweeper 29114, ws-gateway 29115,
# ledger-auditor 29116, infra 29117 by default.
METRICS_PORT_OFFSETS: dict[str, int] = {
    "api": 0, "fanout": 1, "candles": 2, "sweeper": 3, "ws-gateway": 4, "ledger-auditor": 5,
    "infra": 6}


def service_login_role(role: str) -> str:
    """The local stack's login role for a service: a member of its group role."""
    return f"{SERVICE_GROUP_ROLES[role]}_login"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    exchange_env: Literal["local", "aws"] = "local"

    # Local stack: where its data lives and which loopback ports it uses. The ports sit
    # below Linux's ephemeral range (32768-60999): a port inside it can be taken by a
    # client's own outgoing connection (even one connecting to itself while the
    # service restarts), and then the service cannot bind.
    state_dir: Path = Field(default=PROJECT_ROOT / ".local", alias="EXCHANGE_STATE_DIR")
    pg_port: int = Field(default=25432, alias="EXCHANGE_PG_PORT", ge=1024, le=65535)
    # The local PostgreSQL is a primary and a hot standby (opscli/stack/postgres.py): the
    # second node's port, 0 for the one after EXCHANGE_PG_PORT (25433 by default). Which
    # node is primary changes with a failover; clients are given both (local_database_url).
    pg_standby_port: int = Field(default=0, alias="EXCHANGE_PG_STANDBY_PORT", ge=0, le=65535)
    # How long the local primary may stay unreachable before the watchdog (`exchange db
    # watch`, started by `exchange up`) promotes the standby.
    db_failover_after_seconds: float = Field(
        default=5.0, alias="EXCHANGE_DB_FAILOVER_AFTER_SECONDS", gt=0, le=3600)
    redis_port: int = Field(default=26379, alias="EXCHANGE_REDIS_PORT", ge=1024, le=65535)
    kafka_port: int = Field(default=29092, alias="EXCHANGE_KAFKA_PORT", ge=1024, le=65535)
    kafka_controller_port: int = Field(
        default=29093, alias="EXCHANGE_KAFKA_CONTROLLER_PORT", ge=1024, le=65535
    )
    api_port: int = Field(default=28000, alias="EXCHANGE_API_PORT", ge=1024, le=65535)
    # Where `chalice local` listens; the shipped signing key is refused off loopback.
    api_host: str = Field(default="127.0.0.1", alias="EXCHANGE_API_HOST")
    matcher_health_port: int = Field(default=29110, alias="EXCHANGE_MATCHER_PORT", ge=1024,
                                     le=65535)
    # The matcher's health/metrics address: loopback locally; a Kubernetes pod sets
    # 0.0.0.0 so that the kubelet's probes and Prometheus reach it.
    matcher_health_host: str = Field(default="127.0.0.1", alias="EXCHANGE_MATCHER_HOST")
    # Where each local process serves /metrics (EXCHANGE_METRICS_PORT, set per process by
    # `exchange up`): this port plus the role's offset (METRICS_PORT_OFFSETS); the matcher
    # serves its own on its health port. Prometheus listens on loopback, prometheus_port.
    metrics_base_port: int = Field(default=29111, alias="EXCHANGE_METRICS_BASE_PORT",
                                   ge=1024, le=65535 - 16)
    prometheus_port: int = Field(default=29090, alias="EXCHANGE_PROMETHEUS_PORT", ge=1024,
                                 le=65535)
    db_name: str = Field(default="exchange", alias="EXCHANGE_DB_NAME")
    test_db_name: str = Field(default="exchange_test", alias="EXCHANGE_TEST_DB_NAME")
    db_user: str = Field(default="exchange", alias="EXCHANGE_DB_USER")
    db_password: SecretStr = Field(default=SecretStr("exchange"), alias="EXCHANGE_DB_PASSWORD")
    # Locally DATABASE_URL defaults to this role's login (the launcher sets it per
    # process); the services' login roles share one password.
    db_role: DbRole = Field(default="api", alias="EXCHANGE_DB_ROLE")
    db_service_password: SecretStr = Field(default=SecretStr("exchange"),
                                           alias="EXCHANGE_DB_SERVICE_PASSWORD")

    # Service endpoints; derived from the local stack when not given.
    database_url: str = ""
    database_read_url: str = ""
    # The schema owner's URL, for migrations only (in AWS, from MIGRATIONS_SECRET_ARN).
    migrations_database_url: str = ""
    # How long a connection attempt may take per host (a multi-host URL tries the next
    # one after it); unset deadlines and statement timeouts take the process's role's
    # default (chalicelib/adapters/postgres.py, DbLimits). A unit of work past its
    # deadline has its socket shut down: it fails instead of hanging on a dead peer.
    db_connect_timeout_seconds: int = Field(default=3, ge=1, le=60)
    db_deadline_seconds: float | None = Field(default=None, gt=0)
    db_statement_timeout_ms: int | None = Field(default=None, ge=0)
    redis_url: str = ""
    # Redis AUTH; in AWS read from REDIS_AUTH_SECRET_ARN. Given to the client, never
    # written into REDIS_URL, so that it cannot end up in a logged URL.
    redis_password: SecretStr = SecretStr("")
    kafka_bootstrap_servers: str = ""
    # `iam`: MSK's IAM authentication (SASL_SSL with OAUTHBEARER tokens signed by this
    # process's AWS credentials); `plaintext`: the local broker.
    kafka_security: Literal["plaintext", "iam"] = "plaintext"
    # What the release job gives the topics it creates (defaults: 1/1 locally, 3/2 in AWS,
    # where MSK spreads three brokers over three zones).
    kafka_replication_factor: int = Field(default=1, ge=1, le=16)
    kafka_min_insync_replicas: int = Field(default=1, ge=1, le=16)

    # Kafka topics and their partition counts (used when the stack creates them).
    orders_topic: str = "orders"
    market_events_topic: str = "market-events"
    order_events_topic: str = "order-events"
    orders_partitions: int = Field(default=4, ge=1, le=1024)
    market_events_partitions: int = Field(default=4, ge=1, le=1024)
    order_events_partitions: int = Field(default=4, ge=1, le=1024)

    # AWS: secrets to resolve at start-up when exchange_env == "aws". The database login
    # secrets may hold only username and password: the URLs then take their host, port
    # and name from DATABASE_HOST, DATABASE_READ_HOST, DATABASE_PORT and EXCHANGE_DB_NAME.
    aws_region: str = Field(default="us-east-1", alias="AWS_REGION")
    database_secret_arn: str = ""
    signing_secret_arn: str = ""
    database_host: str = ""
    database_read_host: str = ""
    database_port: int = Field(default=5432, ge=1, le=65535)
    # The schema owner's login (Aurora's master secret): the release job only.
    migrations_secret_arn: str = ""
    redis_auth_secret_arn: str = ""
    # The secret the web app's CloudFront sends the API (`{"token": ...}`): with it the
    # viewer's IP header is believed (chalicelib/domain/client_address.py). Empty, as
    # locally: the source IP is the caller's.
    edge_secret_arn: str = ""
    edge_secret: SecretStr = SecretStr("")
    # Each service's login, which the release job creates or updates (opscli/release.py).
    api_db_secret_arn: str = ""
    matcher_db_secret_arn: str = ""
    functions_db_secret_arn: str = ""

    signing_key: SecretStr = SecretStr(LOCAL_SIGNING_KEY)
    # API secrets are envelope-encrypted: a KMS data key in AWS, a local master key
    # file (created on first use under the state folder) in development.
    kms_key_id: str = ""

    # Tokens and sessions.
    jwt_issuer: str = "spot-exchange"
    jwt_audience: str = "spot-exchange-api"
    access_token_ttl_seconds: int = Field(default=900, ge=60, le=3600)
    refresh_session_ttl_seconds: int = Field(default=30 * 86400, ge=3600)

    # Order intake: how long RESULT/FULL responses and cancels wait for the matcher.
    order_result_wait_ms: int = Field(default=3000, ge=0, le=30000)
    # The sweeper republishes commands left unpublished this long after their commit.
    sweeper_threshold_seconds: int = Field(default=5, ge=1)

    # Abuse limits.
    ip_weight_per_minute: int = Field(default=6000, ge=1)
    api_key_weight_per_minute: int = Field(default=6000, ge=1)
    # Password guesses are counted per (email, IP), per IP and per email: one IP hammering
    # an email locks only itself out; the email alone locks after many IPs have failed.
    login_max_failures: int = Field(default=5, ge=1)
    login_ip_max_failures: int = Field(default=20, ge=1)
    login_email_max_failures: int = Field(default=50, ge=1)
    login_lockout_seconds: int = Field(default=900, ge=1)
    # Two-factor code guesses per user (login, step-up, keys, withdrawals).
    totp_max_failures: int = Field(default=5, ge=1)
    # How long a TOTP step-up (POST /v1/auth/step-up) lets a session do admin money actions.
    step_up_ttl_seconds: int = Field(default=300, ge=30, le=3600)

    # WebSocket streams. In AWS clients connect to API Gateway's WebSocket API and
    # messages go out through its management API at ws_management_url
    # (https://{api-id}.execute-api.{region}.amazonaws.com/{stage}). Locally
    # opscli/ws_gateway.py stands in for both: clients connect to ws_port, the
    # management API answers on ws_management_port.
    ws_port: int = Field(default=28001, alias="EXCHANGE_WS_PORT", ge=1024, le=65535)
    # The web app's local server (opscli/web_server.py): the built app, its config.json,
    # and the API behind the same origin, as CloudFront serves them in AWS.
    web_port: int = Field(default=28003, alias="EXCHANGE_WEB_PORT", ge=1024, le=65535)
    ws_management_port: int = Field(default=28002, alias="EXCHANGE_WS_MANAGEMENT_PORT",
                                    ge=1024, le=65535)
    ws_management_url: str = ""

    def metrics_port(self, role: str) -> int:
        """The loopback port where the local process of ``role`` serves /metrics."""
        if role == "matcher":
            return self.matcher_health_port
        return self.metrics_base_port + METRICS_PORT_OFFSETS[role]

    @property
    def local_master_key_path(self) -> Path:
        return self.state_dir / "secrets" / "api-secrets.key"

    @model_validator(mode="after")
    def derive_local_endpoints(self) -> Settings:
        # frozen model: fill the derived defaults through object.__setattr__ once.
        if not self.pg_standby_port:
            object.__setattr__(self, "pg_standby_port", self.pg_port + 1)
        defaults = {
            "database_url": self.local_database_url(self.db_name, self.db_role),
            "database_read_url": self.local_database_url(self.db_name, self.db_role,
                                                         reads_may_lag=True),
            "migrations_database_url": self.local_database_url(self.db_name),
            "redis_url": f"redis://127.0.0.1:{self.redis_port}/0",
            "kafka_bootstrap_servers": f"127.0.0.1:{self.kafka_port}",
        }
        if self.exchange_env == "aws" or "database_url" in self.model_fields_set:
            # A reader of one's own choosing, or in AWS (chalicelib/adapters/secrets.py
            # sets both URLs): reads go to the writer unless a reader is given.
            defaults["database_read_url"] = self.database_url
        for name, value in defaults.items():
            if not getattr(self, name):
                object.__setattr__(self, name, value)
        return self

    @model_validator(mode="after")
    def replicate_topics_across_zones_in_aws(self) -> Settings:
        if self.exchange_env == "aws":
            for name, value in (("kafka_replication_factor", 3),
                                ("kafka_min_insync_replicas", 2)):
                if name not in self.model_fields_set:
                    object.__setattr__(self, name, value)
        return self

    def service_db_secret_arn(self, role: str) -> str:
        """The Secrets Manager secret holding `role`'s database login (release job)."""
        return str(getattr(self, f"{role}_db_secret_arn"))

    @model_validator(mode="after")
    def refuse_the_shipped_signing_key(self) -> Settings:
        # In AWS the key is read from Secrets Manager after construction, and checked
        # then (chalicelib/adapters/secrets.py).
        if self.exchange_env == "local":
            self.check_signing_key()
        return self

    def check_signing_key(self) -> None:
        """Refuse the signing key shipped in this file anywhere but loopback development:
        anyone can read it and mint access tokens for any user."""
        if self.signing_key.get_secret_value() != LOCAL_SIGNING_KEY:
            return
        if self.exchange_env != "local":
            raise ValueError("the token signing key is the one shipped in the source: set"
                             " SIGNING_SECRET_ARN to a secret holding a random key")
        if not is_loopback(self.api_host):
            raise ValueError(f"EXCHANGE_API_HOST={self.api_host} is not loopback, so the"
                             " shipped token signing key would be usable from the network:"
                             " set SIGNING_KEY to a random key (or bind to 127.0.0.1)")

    def local_database_url(self, db_name: str, role: DbRole = "owner", *,
                           reads_may_lag: bool = False) -> str:
        """The local stack's URL of `db_name`, logged in as `role`: the primary, whichever
        node it is; with `reads_may_lag`, the standby (the primary when it is down)."""
        if role == "owner":
            user, secret = self.db_user, self.db_password
        else:
            user, secret = service_login_role(role), self.db_service_password
        return local_postgres_url(user, secret.get_secret_value(), db_name,
                                  (self.pg_port, self.pg_standby_port),
                                  reads_may_lag=reads_may_lag)

    @property
    def ws_management_endpoint(self) -> str:
        """Where post_to_connection goes: the configured URL, else the local gateway
        (in AWS an empty value means "the API Gateway that sent the event")."""
        if self.ws_management_url or self.exchange_env == "aws":
            return self.ws_management_url
        return f"http://127.0.0.1:{self.ws_management_port}"

    @property
    def topic_partitions(self) -> dict[str, int]:
        return {
            self.orders_topic: self.orders_partitions,
            self.market_events_topic: self.market_events_partitions,
            self.order_events_topic: self.order_events_partitions,
        }


def local_postgres_url(user: str, password: str, db_name: str, ports: tuple[int, int], *,
                       reads_may_lag: bool = False) -> str:
    """A libpq URL naming both local nodes, so that a client finds the primary after a
    failover: libpq tries each host in turn (3 s each at most) and keeps the first that
    takes writes; for reads that may lag, the first standby, else the primary."""
    order, attrs = (reversed(ports), "prefer-standby") if reads_may_lag else (ports, "read-write")
    hosts = ",".join(f"127.0.0.1:{port}" for port in order)
    return (f"postgresql://{user}:{password}@{hosts}/{db_name}"
            f"?target_session_attrs={attrs}&connect_timeout=3")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
