"""Where the local stack keeps its files and which loopback ports it uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from chalicelib.settings import (
    PROJECT_ROOT,
    SERVICE_GROUP_ROLES,
    DbRole,
    Settings,
    local_postgres_url,
    service_login_role,
)

KAFKA_LIBS_DIR = PROJECT_ROOT / ".local" / "kafka-libs"


@dataclass(frozen=True)
class StackConfig:
    state_dir: Path
    pg_port: int
    redis_port: int
    kafka_port: int
    kafka_controller_port: int
    db_user: str
    db_password: str
    db_service_password: str
    databases: tuple[str, ...]
    topic_partitions: dict[str, int] = field(hash=False)
    kafka_libs_dir: Path = KAFKA_LIBS_DIR
    # The port the broker tells clients to reconnect to, when not its own: a TCP proxy's
    # in front of it (the network fault tests), since clients bypass a proxy that only
    # their bootstrap address goes through.
    kafka_advertised_port: int | None = None
    # PostgreSQL's second node (opscli/stack/postgres.py); None: the port after pg_port.
    pg_standby_port: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> StackConfig:
        return cls(
            state_dir=settings.state_dir,
            pg_port=settings.pg_port,
            redis_port=settings.redis_port,
            kafka_port=settings.kafka_port,
            kafka_controller_port=settings.kafka_controller_port,
            db_user=settings.db_user,
            db_password=settings.db_password.get_secret_value(),
            db_service_password=settings.db_service_password.get_secret_value(),
            databases=(settings.db_name, settings.test_db_name),
            topic_partitions=settings.topic_partitions,
            pg_standby_port=settings.pg_standby_port,
        )

    @property
    def standby_port(self) -> int:
        return self.pg_standby_port or self.pg_port + 1

    def database_url(self, db_name: str, role: DbRole = "owner") -> str:
        """`db_name` on the local primary, whichever node it is, logged in as the schema's
        owner or a service."""
        user, password = self.db_user, self.db_password
        if role != "owner":
            user, password = service_login_role(role), self.db_service_password
        return local_postgres_url(user, password, db_name, (self.pg_port, self.standby_port))

    @property
    def service_logins(self) -> dict[str, str]:
        """Each service's group role (granted by the migrations) and its local login."""
        return {group: service_login_role(role) for role, group in SERVICE_GROUP_ROLES.items()}

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def kafka_advertised(self) -> str:
        return f"127.0.0.1:{self.kafka_advertised_port or self.kafka_port}"

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"
