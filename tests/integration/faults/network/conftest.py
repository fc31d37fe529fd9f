"""An exchange of its own behind Toxiproxy, for the network fault tests.

The session starts a separate stack (PostgreSQL, Redis, Kafka) on ports 22xxx in a
temporary folder, and Toxiproxy in front of each service. Every client of the exchange
(the API in this process, the matcher and the sweeper as child processes) reaches the
services only through the proxies; the broker advertises its proxy's address, so the
Kafka clients' later connections go through it too. The tests' own checks read the
database directly. Everything is stopped and deleted at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from chalicelib.settings import DbRole, Settings, service_login_role
from opscli.stack import lifecycle
from opscli.stack.config import StackConfig
from opscli.stack.postgres import Postgres
from opscli.stack.toxiproxy import ToxiproxyApi, ToxiproxyServer

DB_NAME = "exchange_network_faults"
PARTITIONS = 2
TOXIPROXY_PORT = 22474
# Each service's own port, and the proxy's port its clients use.
PG_PORT, PG_STANDBY_PORT, PG_PROXY_PORT = 22432, 22433, 22532
REDIS_PORT, REDIS_PROXY_PORT = 22379, 22479
KAFKA_PORT, KAFKA_PROXY_PORT = 22092, 22192
KAFKA_CONTROLLER_PORT = 22093
PROXIES = {"postgres": (PG_PROXY_PORT, PG_PORT), "redis": (REDIS_PROXY_PORT, REDIS_PORT),
           "kafka": (KAFKA_PROXY_PORT, KAFKA_PORT)}


@dataclass(frozen=True)
class FaultyNetwork:
    """The stack (``direct``: its own ports, for the tests' checks) and the proxies its
    clients go through."""

    direct: StackConfig
    toxiproxy: ToxiproxyApi

    @property
    def owner_url(self) -> str:
        """The database as its owner, not through the proxy: for setting up and checking."""
        return self.direct.database_url(DB_NAME)

    def settings(self, role: DbRole, **overrides: Any) -> Settings:
        """What a process of ``role`` reads, every service through its proxy."""
        return Settings(**{**self.values(role), **overrides})

    def environment(self, role: DbRole, **overrides: Any) -> dict[str, str]:
        """The same, as the environment of a child process."""
        return {Settings.model_fields[name].alias or name.upper(): str(value)
                for name, value in {**self.values(role), **overrides}.items()}

    def values(self, role: DbRole) -> dict[str, Any]:
        # The primary alone, as Aurora's cluster endpoint is one host: a multi-host URL
        # would try the standby's own port, past the proxy, whenever the proxy fails.
        url = (f"postgresql://{service_login_role(role)}:{self.direct.db_service_password}"
               f"@127.0.0.1:{PG_PROXY_PORT}/{DB_NAME}")
        return {
            "state_dir": self.direct.state_dir, "db_name": DB_NAME, "db_role": role,
            "database_url": url, "database_read_url": url,
            "migrations_database_url": self.owner_url,
            "redis_url": f"redis://127.0.0.1:{REDIS_PROXY_PORT}/0",
            "kafka_bootstrap_servers": f"127.0.0.1:{KAFKA_PROXY_PORT}",
            "orders_partitions": PARTITIONS, "market_events_partitions": PARTITIONS,
            "order_events_partitions": PARTITIONS,
        }


@pytest.fixture(scope="session")
def faulty_network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultyNetwork]:
    state = tmp_path_factory.mktemp("network-faults")
    settings = Settings(
        state_dir=state, pg_port=PG_PORT, pg_standby_port=PG_STANDBY_PORT,
        redis_port=REDIS_PORT, kafka_port=KAFKA_PORT,
        kafka_controller_port=KAFKA_CONTROLLER_PORT, db_name=DB_NAME, test_db_name=DB_NAME,
        orders_partitions=PARTITIONS, market_events_partitions=PARTITIONS,
        order_events_partitions=PARTITIONS)
    direct = replace(StackConfig.from_settings(settings), databases=(DB_NAME,),
                     kafka_advertised_port=KAFKA_PROXY_PORT)
    server = ToxiproxyServer(direct, TOXIPROXY_PORT)
    postgres_home = Postgres(direct).link
    try:
        # The proxies first: the broker's advertised address is Kafka's proxy.
        server.start()
        server.wait_ready(15)
        for name, (listen, upstream) in PROXIES.items():
            server.api.create_proxy(name, listen, upstream)
        lifecycle.up(direct, report=lambda line: print(f"[network-faults stack] {line}"))
        yield FaultyNetwork(direct, server.api)
    finally:
        lifecycle.down(direct, report=lambda _line: None)
        server.stop()
        # PostgreSQL's files may sit outside the folder (opscli/stack/postgres.py).
        if postgres_home.is_symlink():
            shutil.rmtree(postgres_home.resolve(), ignore_errors=True)
        shutil.rmtree(state, ignore_errors=True)


class Supervised:
    """A child process restarted whenever it exits, as Kubernetes restarts a pod's
    container: a matcher whose database went away ends, and its replacement rebuilds."""

    def __init__(self, module: str, args: list[str], env: Mapping[str, str],
                 log_path: Path) -> None:
        self.command = [sys.executable, "-m", module, *args]
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.restarts = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def start(self) -> None:
        self._spawn()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(10)

    def _spawn(self) -> None:
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(self.command, env=self.env, stdout=log,
                                          stderr=subprocess.STDOUT)

    def _watch(self) -> None:
        # Polled: the child's exit is the state awaited, and Popen offers no callback.
        while not self._stop.wait(0.2):
            if self._proc is not None and self._proc.poll() is not None:
                self.restarts += 1
                self._spawn()
