"""The infrastructure probe (opscli/stack/infra_probe.py) against the shared local stack:
both PostgreSQL nodes up with their roles, Redis and Kafka up; and pointed at services
that are not there (an empty state folder, closed ports), each reported down (0), not an
exception that would end its loop."""

from __future__ import annotations

import socket
from pathlib import Path

from chalicelib.adapters.metrics import PrometheusMetrics
from chalicelib.domain import metric_catalogue as catalogue
from chalicelib.settings import Settings
from opscli.stack.config import StackConfig
from opscli.stack.infra_probe import InfraProbe


def probed(settings: Settings) -> PrometheusMetrics:
    metrics = PrometheusMetrics("infra", process_metrics=False)
    InfraProbe(settings, metrics).probe_once()
    return metrics


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_the_probe_sees_the_local_stack_up(stack: StackConfig, base_settings: Settings) -> None:
    metrics = probed(base_settings)
    roles = {node: role for node in ("node1", "node2") for role in ("primary", "standby")
             if metrics.sample(catalogue.POSTGRES_UP, node=node, role=role) == 1.0}
    assert sorted(roles.values()) == ["primary", "standby"], roles
    assert metrics.sample(catalogue.POSTGRES_REPLICATION_LAG) is not None
    assert (metrics.sample(catalogue.POSTGRES_CONNECTIONS, state="active") or 0) >= 1
    assert metrics.sample(catalogue.REDIS_UP) == 1.0
    assert (metrics.sample(catalogue.REDIS_MEMORY) or 0) > 0
    assert (metrics.sample(catalogue.REDIS_CLIENTS) or 0) >= 1
    assert metrics.sample(catalogue.KAFKA_UP) == 1.0
    assert metrics.sample(catalogue.KAFKA_BROKERS) == 1.0


def test_services_out_of_reach_read_as_down(tmp_path: Path) -> None:
    settings = Settings(EXCHANGE_STATE_DIR=tmp_path, EXCHANGE_REDIS_PORT=closed_port(),
                        EXCHANGE_KAFKA_PORT=closed_port())
    (tmp_path / "postgres").mkdir()
    metrics = probed(settings)
    for node in ("node1", "node2"):
        assert metrics.sample(catalogue.POSTGRES_UP, node=node, role="down") == 0.0
    assert metrics.sample(catalogue.REDIS_UP) == 0.0
    assert metrics.sample(catalogue.KAFKA_UP) == 0.0
    assert metrics.sample(catalogue.KAFKA_BROKERS) == 0.0
