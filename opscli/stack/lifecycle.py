"""Bring the whole local stack up, down, and report its health."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from chalicelib.adapters.migrations import apply_migrations, load_migrations
from opscli.stack.config import StackConfig
from opscli.stack.kafka_broker import KafkaBroker
from opscli.stack.postgres import Postgres
from opscli.stack.process import ServiceError
from opscli.stack.redis_server import RedisServer

READY_TIMEOUT_SECONDS = 120.0

Report = Callable[[str], None]


class Service(Protocol):
    name: str

    @property
    def log_path(self) -> Path: ...
    @property
    def address(self) -> str: ...
    def start(self) -> None: ...
    def wait_ready(self, timeout: float) -> None: ...
    def stop(self) -> None: ...
    def running_pid(self) -> int | None: ...
    def is_ready(self) -> bool: ...


@dataclass(frozen=True)
class Health:
    name: str
    address: str
    pid: int | None
    ready: bool
    log_path: Path
    # PostgreSQL's nodes: which is primary, how the standby keeps up.
    details: tuple[str, ...] = ()

    def describe(self) -> str:
        state = "ready" if self.ready else ("running, not ready" if self.pid else "stopped")
        pid = f"pid {self.pid}" if self.pid else "no process"
        return "\n".join([f"{self.name:<9} {state:<19} {self.address:<16} {pid:<11}"
                          f" log: {self.log_path}", *self.details])


def services(config: StackConfig) -> list[Service]:
    # Kafka first: it takes longest to come up, and the others start meanwhile.
    return [KafkaBroker(config), RedisServer(config), Postgres(config)]


def up(config: StackConfig, report: Report = print) -> None:
    """Start what is not running, wait for readiness, apply the schema, create topics."""
    stack = services(config)
    for service in stack:
        report(f"{service.name}: starting on {service.address}")
        service.start()
    for service in stack:
        service.wait_ready(READY_TIMEOUT_SECONDS)
        report(f"{service.name}: ready on {service.address}")
        if isinstance(service, Postgres):
            for line in service.describe_nodes():
                report(f"{service.name}: {line.strip()}")
    for db_name in config.databases:
        applied = apply_migrations(config.database_url(db_name, "owner"))
        latest = load_migrations()[-1].version
        report(f"postgres: database {db_name} at schema version {latest:04d}"
               f" ({len(applied)} migration(s) applied now)")
    kafka = next(s for s in stack if isinstance(s, KafkaBroker))
    kafka.ensure_topics(config.topic_partitions)
    topics = ", ".join(f"{name} ({count} partitions)"
                       for name, count in config.topic_partitions.items())
    report(f"kafka: topics ready: {topics}")


def down(config: StackConfig, report: Report = print) -> None:
    """Stop only the processes this project started, recorded in its pid files."""
    for service in reversed(services(config)):
        if service.running_pid() is None:
            report(f"{service.name}: not running")
            continue
        service.stop()
        report(f"{service.name}: stopped")


def status(config: StackConfig) -> list[Health]:
    return [Health(s.name, s.address, s.running_pid(), s.is_ready(), s.log_path,
                   tuple(s.describe_nodes()) if isinstance(s, Postgres) else ())
            for s in services(config)]


def log_paths(config: StackConfig) -> dict[str, Path]:
    return {s.name: s.log_path for s in services(config)}


__all__ = ["Health", "ServiceError", "down", "log_paths", "status", "up"]
