"""The exchange's own processes on the local stack: the API (`chalice local`), the
matcher, the sweeper, the WebSocket gateway, the web app's server, the stream fan-out and
candles functions, the ledger auditor, the infrastructure probe, Prometheus and the demo
market maker, started and stopped like the services, through pid files. Each serves its
metrics on a loopback port of its own (EXCHANGE_METRICS_PORT), which Prometheus scrapes."""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from chalicelib.adapters.metrics import PORT_VARIABLE as METRICS_PORT_VARIABLE
from chalicelib.settings import PROJECT_ROOT, DbRole, Settings
from opscli.stack.process import (
    PidFileProcess,
    ServiceError,
    ensure_port_free,
    spawn,
)


@dataclass
class AppProcess(PidFileProcess):
    name: str
    command: list[str]
    marker: str
    state_dir: Path
    cwd: Path = PROJECT_ROOT
    ready_url: str | None = None
    port: int | None = None
    port_variable: str = ""
    address: str = ""
    # The database role it connects as (EXCHANGE_DB_ROLE); None: it uses no database.
    db_role: DbRole | None = None
    # Environment defaults of its own, which the caller's environment overrides.
    env_defaults: dict[str, str] = field(default_factory=dict)
    log_path: Path = field(init=False)
    pid_file: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.state_dir / "logs" / f"{self.name}.log"
        self.pid_file = self.state_dir / "run" / f"{self.name}.pid"

    def start(self) -> None:
        if self.running_pid() is not None:
            return
        if self.port is not None:
            ensure_port_free(self.name, self.port, self.port_variable, self.log_path)
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        env = {**self.env_defaults, **os.environ}
        if self.db_role is not None:
            env["EXCHANGE_DB_ROLE"] = self.db_role
        spawn(self.command, log_path=self.log_path, pid_file=self.pid_file, cwd=self.cwd,
              env=env)

    def is_ready(self) -> bool:
        alive = super().is_ready()
        if not alive or self.ready_url is None:
            return alive
        try:
            with urllib.request.urlopen(self.ready_url, timeout=2) as response:  # noqa: S310
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False


def metrics_env(settings: Settings, role: str) -> dict[str, str]:
    """Where the process of ``role`` serves /metrics (chalicelib/adapters/metrics.py)."""
    return {METRICS_PORT_VARIABLE: str(settings.metrics_port(role))}


def msk_function(name: str, handler: str, settings: Settings,
                 topics: list[str]) -> AppProcess:
    """An MSK-triggered Lambda function, run locally by lambdas.msk_runner."""
    topic_args = [arg for topic in topics for arg in ("--topic", topic)]
    return AppProcess(name, [sys.executable, "-m", "lambdas.msk_runner", handler, *topic_args,
                             "--group", name], handler, settings.state_dir,
                      address="(consumer)", db_role="functions",
                      env_defaults=metrics_env(settings, name))


def client_url(host: str, port: int) -> str:
    """How a local client reaches a server bound to ``host`` (any address: loopback)."""
    if host in ("0.0.0.0", "::"):  # noqa: S104 - compared with, not bound to
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def app_processes(settings: Settings) -> list[AppProcess]:
    python = sys.executable
    state = settings.state_dir
    api_url = client_url(settings.api_host, settings.api_port)
    matcher_url = client_url(settings.matcher_health_host, settings.matcher_health_port)
    chalice = str(Path(python).parent / "chalice")
    prometheus_url = client_url("127.0.0.1", settings.prometheus_port)
    web_url = client_url("127.0.0.1", settings.web_port)
    return [
        # Fails PostgreSQL over to its standby when the primary stays down.
        AppProcess("db-watchdog", [python, "-m", "opscli.cli", "db", "watch"],
                   "opscli.cli db watch", state, address="(loop)"),
        AppProcess("matcher", [python, "-m", "matching_cluster.service"],
                   "matching_cluster.service", state, ready_url=f"{matcher_url}/readyz",
                   port=settings.matcher_health_port, port_variable="EXCHANGE_MATCHER_PORT",
                   address=matcher_url, db_role="matcher",
                   # One matcher under one name (MATCHER_INSTANCE_ID, `matcher-0`): restarted
                   # after a crash, it takes its partitions back at once rather than after
                   # the consumer group's session timeout.
                   env_defaults={"MATCHER_STATIC_MEMBERSHIP": "true"}),
        AppProcess("sweeper", [python, "-m", "lambdas.sweeper"], "lambdas.sweeper", state,
                   address="(loop)", db_role="functions",
                   env_defaults=metrics_env(settings, "sweeper")),
        AppProcess("api", [chalice, "local", "--host", settings.api_host, "--port",
                           str(settings.api_port), "--stage", "dev", "--no-autoreload"],
                   "chalice local", state,
                   cwd=PROJECT_ROOT / "api", ready_url=f"{api_url}/api/v3/ping",
                   port=settings.api_port, port_variable="EXCHANGE_API_PORT", address=api_url,
                   db_role="api", env_defaults=metrics_env(settings, "api")),
        AppProcess("ws-gateway", [python, "-m", "opscli.ws_gateway"], "opscli.ws_gateway",
                   state, ready_url=f"http://127.0.0.1:{settings.ws_port}/healthz",
                   port=settings.ws_port, port_variable="EXCHANGE_WS_PORT",
                   address=f"ws://127.0.0.1:{settings.ws_port}", db_role="api",
                   env_defaults=metrics_env(settings, "ws-gateway")),
        # The web app and the API on one origin, as CloudFront serves them in AWS.
        AppProcess("web", [python, "-m", "opscli.web_server"], "opscli.web_server", state,
                   ready_url=f"{web_url}/healthz", port=settings.web_port,
                   port_variable="EXCHANGE_WEB_PORT", address=web_url),
        msk_function("fanout", "lambdas.fanout.handler", settings,
                     [settings.market_events_topic, settings.order_events_topic]),
        msk_function("candles", "lambdas.candles.handler", settings,
                     [settings.market_events_topic]),
        # SPEC's ledger invariants checked on the live database (the scheduled Lambda's
        # loop); a break halts withdrawals.
        AppProcess("ledger-auditor", [python, "-m", "lambdas.ledger_auditor", "--loop"],
                   "lambdas.ledger_auditor", state, address="(loop)", db_role="functions",
                   env_defaults=metrics_env(settings, "ledger-auditor")),
        # PostgreSQL, Redis and Kafka as metrics (CloudWatch's part in AWS).
        AppProcess("infra-probe", [python, "-m", "opscli.stack.infra_probe"],
                   "opscli.stack.infra_probe", state, address="(loop)",
                   env_defaults=metrics_env(settings, "infra")),
        # Execs Debian's prometheus once its configuration is written: the marker is in
        # both command lines.
        AppProcess("prometheus", [python, "-m", "opscli.stack.prometheus"], "prometheus",
                   state, ready_url=f"{prometheus_url}/-/ready", port=settings.prometheus_port,
                   port_variable="EXCHANGE_PROMETHEUS_PORT", address=prometheus_url),
        AppProcess("market-maker", [python, "-m", "opscli.demo.market_maker", "--api", api_url],
                   "opscli.demo.market_maker", state, address="(demo)"),
    ]


__all__ = ["AppProcess", "ServiceError", "app_processes"]
