"""A whole exchange, run as ``exchange up`` runs it, in a folder and on ports of its own.

PostgreSQL, Redis and the Kafka broker come from the local stack's classes
(``opscli.stack``), the API, matcher, sweeper, WebSocket gateway, fan-out and candles
functions from ``app_processes`` (no demo market maker): the same programs with the same
configuration, except that every port and the state folder are this exchange's, passed
through the settings' environment variables. Nothing here touches the shared stack, so
any piece can be killed with SIGKILL and started again. With ``proxied`` every client
reaches PostgreSQL, Redis and Kafka through Toxiproxy (``network``), for network faults.
With ``observed`` it runs what `exchange up` adds for its operators too: the ledger
auditor, the infrastructure probe, Prometheus with the alert rules, and the demo market
maker trading, so that dashboards and alerts can be checked against it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from chalicelib.adapters import accounts_repo
from chalicelib.adapters.envelope import LocalMasterKey
from chalicelib.adapters.postgres import connect
from chalicelib.service_layer import api_keys, wallet
from chalicelib.settings import Settings
from opscli.demo.seed import ensure_catalogue, ensure_user
from opscli.demo.seed import seed as seed_demo
from opscli.faults.network import ProxiedNetwork, Proxy
from opscli.stack import lifecycle
from opscli.stack.apps import AppProcess, app_processes
from opscli.stack.config import StackConfig
from opscli.stack.kafka_broker import KafkaBroker
from opscli.stack.postgres import Postgres
from opscli.stack.process import process_matches, signal_group, spawn, wait_until
from opscli.stack.redis_server import RedisServer

Report = Callable[[str], None]


@dataclass(frozen=True)
class FaultPorts:
    """The isolated exchange's loopback ports (the shared stack uses 25xxx-29xxx)."""

    postgres: int = 23432
    postgres_standby: int = 23433
    redis: int = 23379
    kafka: int = 23092
    kafka_controller: int = 23093
    api: int = 23000
    ws: int = 23001
    ws_management: int = 23002
    web: int = 23003
    matcher_health: int = 23110
    # Each process's /metrics from here on (chalicelib/settings.py METRICS_PORT_OFFSETS),
    # and Prometheus.
    metrics_base: int = 23111
    prometheus: int = 23090
    # Toxiproxy's API and the proxies' ports, when the exchange is ``proxied``.
    toxiproxy: int = 23474
    postgres_proxy: int = 23532
    postgres_standby_proxy: int = 23533
    redis_proxy: int = 23479
    kafka_proxy: int = 23192

    def shifted(self, offset: int) -> FaultPorts:
        """Every port moved by ``offset``: two isolated exchanges side by side."""
        return FaultPorts(**{name: port + offset for name, port in self.__dict__.items()})


# Variables a developer's shell may set that would point a process at another stack.
INHERITED_ENDPOINTS = ("DATABASE_URL", "DATABASE_READ_URL", "MIGRATIONS_DATABASE_URL",
                       "REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS", "ORDERS_TOPIC",
                       "MARKET_EVENTS_TOPIC", "ORDER_EVENTS_TOPIC", "WS_MANAGEMENT_URL",
                       "EXCHANGE_DB_ROLE", "LD_PRELOAD")
DB_NAME = "exchange"
# As `exchange up` starts them, less the demo market maker.
APP_NAMES = ("db-watchdog", "matcher", "sweeper", "api", "ws-gateway", "fanout", "candles")
# What an ``observed`` exchange runs besides, in `exchange up`'s order.
OBSERVED_APP_NAMES = ("ledger-auditor", "infra-probe", "prometheus", "market-maker")
# Reach the nodes directly when proxied: the failover's control plane (Aurora's or
# Patroni's part) and the probe standing in for CloudWatch are not clients on the network
# between the services and their clients.
DIRECT_APPS = ("db-watchdog", "infra-probe")
READY_SECONDS = 120.0
FUNDING = (("BTC", 1_000 * 10**8), ("USDT", 100_000_000 * 10**6))


@dataclass(frozen=True)
class Trader:
    email: str
    user_id: int
    api_key: str
    secret: str


def fault_environment(state_dir: Path, ports: FaultPorts) -> dict[str, str]:
    """The settings' variables that make every process of the exchange use ``state_dir``
    and ``ports``, and the knobs a pod would have (the matcher's static membership)."""
    return {
        "EXCHANGE_ENV": "local",
        "EXCHANGE_STATE_DIR": str(state_dir),
        "EXCHANGE_PG_PORT": str(ports.postgres),
        "EXCHANGE_PG_STANDBY_PORT": str(ports.postgres_standby),
        "EXCHANGE_REDIS_PORT": str(ports.redis),
        "EXCHANGE_KAFKA_PORT": str(ports.kafka),
        "EXCHANGE_KAFKA_CONTROLLER_PORT": str(ports.kafka_controller),
        "EXCHANGE_API_PORT": str(ports.api),
        "EXCHANGE_API_HOST": "127.0.0.1",
        "EXCHANGE_WS_PORT": str(ports.ws),
        "EXCHANGE_WS_MANAGEMENT_PORT": str(ports.ws_management),
        "EXCHANGE_WEB_PORT": str(ports.web),
        "EXCHANGE_MATCHER_PORT": str(ports.matcher_health),
        "EXCHANGE_MATCHER_HOST": "127.0.0.1",
        "EXCHANGE_METRICS_BASE_PORT": str(ports.metrics_base),
        "EXCHANGE_PROMETHEUS_PORT": str(ports.prometheus),
        "EXCHANGE_DB_NAME": DB_NAME,
        "EXCHANGE_TEST_DB_NAME": DB_NAME,
        # One pod, one identity: a restarted matcher takes its partitions back at once
        # (as its StatefulSet pod does), not after the dead member's session times out.
        "MATCHER_INSTANCE_ID": "matcher-0",
        "MATCHER_STATIC_MEMBERSHIP": "true",
        "MATCHER_SESSION_TIMEOUT_MS": "6000",
        # Every client of the driver comes from 127.0.0.1: the per-IP weight limit would
        # otherwise throttle the whole load as one abusive client.
        "IP_WEIGHT_PER_MINUTE": "1000000",
        "API_KEY_WEIGHT_PER_MINUTE": "1000000",
    }


class IsolatedExchange:
    """The exchange under ``state_dir``; ``start`` brings it up, ``close`` removes it.
    ``proxied``: its clients go through Toxiproxy (``network``); the caller's own checks
    (``owner_url``, ``settings``) still reach the services directly. ``observed``: it
    runs OBSERVED_APP_NAMES too (Prometheus on ``ports.prometheus``); ``extra_apps``, more
    of ``app_processes`` by name (the web app's server, ``web``)."""

    def __init__(self, state_dir: Path, ports: FaultPorts | None = None,
                 report: Report = print, *, proxied: bool = False,
                 observed: bool = False, extra_apps: tuple[str, ...] = ()) -> None:
        self.state_dir = state_dir
        self.observed = observed
        self.app_names = APP_NAMES + (OBSERVED_APP_NAMES if observed else ()) + extra_apps
        self.ports = ports or FaultPorts()
        self.report = report
        self.environment = fault_environment(state_dir, self.ports)
        # Keyword names are the variables' aliases; fields without one by their own name.
        self.settings = Settings(**self.environment,  # type: ignore[arg-type]
                                 database_url="", database_read_url="",
                                 migrations_database_url="", redis_url="",
                                 kafka_bootstrap_servers="")
        self.config = StackConfig.from_settings(self.settings)
        self.network: ProxiedNetwork | None = None
        if proxied:
            self.config = replace(self.config, kafka_advertised_port=self.ports.kafka_proxy)
            self.network = ProxiedNetwork(self.config, self.ports.toxiproxy, proxies(self.ports))
        self.kafka = KafkaBroker(self.config)
        self.redis = RedisServer(self.config)
        self.postgres = Postgres(self.config)
        self.apps: dict[str, AppProcess] = {
            p.name: p for p in app_processes(self.settings) if p.name in self.app_names}
        self.traders: list[Trader] = []

    # ------------------------------------------------------------------ lifecycle

    def start(self, traders: int) -> None:
        """Services, schema, topics, funded traders, then every process, each ready."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        # PostgreSQL runs as its own user, which must be able to walk into the folder.
        self.state_dir.chmod(0o755)
        if self.network is not None:
            self.network.start()
        lifecycle.up(self.config, report=lambda line: self.report(f"[faults] {line}"))
        self.traders = self.seed(traders)
        if self.observed:
            # The market maker's traders and keys, as `exchange up` makes them.
            seed_demo(self.settings, report=lambda _line: None)
        for name in self.app_names:
            self.start_app(name)

    def ensure_running(self) -> None:
        """Start whatever a fault (or a failed test) left stopped, and wait until ready."""
        if self.kafka.running_pid() is None:
            self.start_kafka()
        if self.redis.running_pid() is None:
            self.start_redis()
        if self.postgres.running_pid() is None:
            self.postgres.start()
        for service in (self.kafka, self.redis, self.postgres):
            service.wait_ready(READY_SECONDS)
        for name in self.app_names:
            self.start_app(name)

    def close(self) -> None:
        """Stop every process and service, then remove the folder (and PostgreSQL's data
        where it had to live outside it)."""
        for name in reversed(self.app_names):
            self.apps[name].stop()
        lifecycle.down(self.config, report=lambda _line: None)
        if self.network is not None:
            self.network.stop()
        outside = self.postgres.link.resolve() if self.postgres.link.is_symlink() else None
        shutil.rmtree(self.state_dir, ignore_errors=True)
        if outside is not None:
            shutil.rmtree(outside, ignore_errors=True)

    def owner_url(self) -> str:
        return self.config.database_url(DB_NAME, "owner")

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.api}"

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.prometheus}"

    # ------------------------------------------------------------------ processes

    def app_environment(self, app: AppProcess, extra: Mapping[str, str]) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if k not in INHERITED_ENDPOINTS}
        role = {} if app.db_role is None else {"EXCHANGE_DB_ROLE": app.db_role}
        proxied = ({} if self.network is None or app.name in DIRECT_APPS
                   else proxied_ports(self.ports))
        return {**app.env_defaults, **base, **self.environment, **proxied, **role, **extra}

    def start_app(self, name: str, extra_env: Mapping[str, str] | None = None) -> None:
        """Start ``name`` (as AppProcess.start does, with this exchange's environment) and
        wait until it is ready."""
        app = self.apps[name]
        if app.running_pid() is None:
            app.pid_file.parent.mkdir(parents=True, exist_ok=True)
            spawn(self.command(app), log_path=app.log_path, pid_file=app.pid_file,
                  cwd=app.cwd, env=self.app_environment(app, extra_env or {}))
        app.wait_ready(READY_SECONDS)

    @staticmethod
    def command(app: AppProcess) -> list[str]:
        if "lambdas.msk_runner" not in app.command:
            return app.command
        # As the matcher: a restarted function takes its partitions back at once.
        return [*app.command, "--instance-id", f"{app.name}-0"]

    def kill_app(self, name: str) -> None:
        """SIGKILL the process (and what it started), no chance to finish anything."""
        app = self.apps[name]
        pid = app.running_pid()
        if pid is not None:
            kill_hard(pid, app.marker)

    def restart_app(self, name: str, extra_env: Mapping[str, str] | None = None) -> None:
        self.kill_app(name)
        self.start_app(name, extra_env)

    # ------------------------------------------------------------------- services

    def kill_kafka(self) -> None:
        pid = self.kafka.running_pid()
        if pid is not None:
            kill_hard(pid, self.kafka.marker)

    def start_kafka(self) -> None:
        self.report_held(wait_ports_free(self.ports.kafka, self.ports.kafka_controller))
        self.kafka.start()
        self.kafka.wait_ready(READY_SECONDS)

    def report_held(self, sockets: list[str]) -> None:
        for line in sockets:
            self.report(f"[faults] port still held: {line}")

    def kill_redis(self, *, wipe: bool) -> None:
        """SIGKILL Redis; with ``wipe`` its append-only file and snapshot go too, so that
        it comes back empty (as a replaced cache node does)."""
        pid = self.redis.running_pid()
        if pid is not None:
            kill_hard(pid, self.redis.marker)
        if wipe:
            shutil.rmtree(self.redis.home / "appendonlydir", ignore_errors=True)
            (self.redis.home / "dump.rdb").unlink(missing_ok=True)

    def start_redis(self) -> None:
        self.report_held(wait_ports_free(self.ports.redis))
        self.redis.start()
        self.redis.wait_ready(READY_SECONDS)

    def kill_postgres_primary(self) -> None:
        """SIGKILL the primary's postmaster; its backends end when they notice. The
        db-watchdog fails over to the standby once it has stayed down a while."""
        pid = self.postgres.running_pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            wait_until(lambda: exited(pid), 30, interval=0.05)

    # ----------------------------------------------------------------------- data

    def seed(self, count: int) -> list[Trader]:
        """BTCUSDT and ETHUSDT (the demo's catalogue) and ``count`` traders, each funded
        and with a READ+TRADE API key, made through the service layer as the admin API
        would."""
        master = LocalMasterKey(self.settings.local_master_key_path)
        traders = []
        with connect(self.settings.database_url, autocommit=True) as conn:
            operator_id, _ = ensure_user(conn, "operator@faults.exchange")
            accounts_repo.set_admin(conn, "operator@faults.exchange", True)
            ensure_catalogue(conn, operator_id)
            for number in range(count):
                email = f"trader{number}@faults.exchange"
                user_id, _ = ensure_user(conn, email)
                for asset, amount in FUNDING:
                    wallet.credit_deposit(conn, actor_id=operator_id, user_id=user_id,
                                          asset=asset, amount=amount,
                                          external_txid=f"faults-{email}-{asset}")
                created = api_keys.create_api_key(conn, master, user_id, "faults",
                                                  ["READ", "TRADE"], [])
                traders.append(Trader(email, user_id, str(created["apiKey"]),
                                      str(created["secretKey"])))
        return traders


def proxies(ports: FaultPorts) -> list[Proxy]:
    return [Proxy("postgres-node1", ports.postgres_proxy, ports.postgres),
            Proxy("postgres-node2", ports.postgres_standby_proxy, ports.postgres_standby),
            Proxy("redis", ports.redis_proxy, ports.redis),
            Proxy("kafka", ports.kafka_proxy, ports.kafka)]


def proxied_ports(ports: FaultPorts) -> dict[str, str]:
    """A client process's services' ports, its proxies': every URL it derives from them
    (each role's multi-host PostgreSQL URL, Redis, the Kafka bootstrap) goes through one."""
    return {"EXCHANGE_PG_PORT": str(ports.postgres_proxy),
            "EXCHANGE_PG_STANDBY_PORT": str(ports.postgres_standby_proxy),
            "EXCHANGE_REDIS_PORT": str(ports.redis_proxy),
            "EXCHANGE_KAFKA_PORT": str(ports.kafka_proxy)}


def kill_hard(pid: int, marker: str) -> None:
    """SIGKILL ``pid``'s process group and wait until it is gone."""
    if process_matches(pid, marker):
        signal_group(pid, signal.SIGKILL)
        wait_until(lambda: exited(pid), 30, interval=0.05)


def wait_ports_free(*ports: int) -> list[str]:
    """Wait until a server could bind these ports again (for a moment after its SIGKILL
    the dead server's connections may still hold its port); the sockets still holding
    them after a minute, if any."""
    def free() -> bool:
        for port in ports:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    return False
        return True

    if wait_until(free, 60, interval=0.2):
        return []
    sockets = subprocess.run(["ss", "-tanp"], capture_output=True, text=True, check=False)
    return [line for line in sockets.stdout.splitlines()
            if any(f":{port} " in line for port in ports)]


def exited(pid: int) -> bool:
    """Gone or a zombie: its files and sockets are closed. (A dying process's command
    line is empty well before that: its memory goes first, its sockets after.)"""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)  # ours (spawned from this process): reap it
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return any(line.split()[:2] == ["State:", "Z"] for line in status.splitlines())
