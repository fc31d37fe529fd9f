"""The local stack's backing services as metrics (role ``infra``): every few seconds it
asks each PostgreSQL node what it is, how far the standby's replay is behind and how
many connections the primary holds, Redis its memory and clients, Kafka its brokers,
and exports the answers on EXCHANGE_METRICS_PORT for Prometheus. In AWS CloudWatch
has these from RDS, ElastiCache and MSK; this stands in for them locally.

Run by `exchange up` as ``python -m opscli.stack.infra_probe``; stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from dataclasses import dataclass
from typing import cast

import psycopg
import redis
from confluent_kafka import KafkaException

from chalicelib.adapters.json_logs import configure_logging
from chalicelib.adapters.kafka import make_admin
from chalicelib.adapters.metrics import MetricsRecorder, metrics_for
from chalicelib.domain import metric_catalogue as catalogue
from chalicelib.settings import Settings
from opscli.stack.config import StackConfig
from opscli.stack.pg_node import PostgresNode
from opscli.stack.postgres import Postgres

INTERVAL_SECONDS = 5.0
TIMEOUT_SECONDS = 2
# pg_stat_activity's states; a client backend between statements may have none yet.
CONNECTION_STATES = ("active", "idle", "idle in transaction",
                     "idle in transaction (aborted)", "fastpath function call", "disabled")

log = logging.getLogger("infra-probe")


@dataclass(frozen=True)
class NodeHealth:
    name: str
    role: str  # primary, standby, or down when it does not answer
    replication_lag_bytes: int = 0
    connections: tuple[tuple[str, int], ...] = ()


def node_health(node: PostgresNode) -> NodeHealth:
    """What one node says about itself (as the superuser, over its socket)."""
    try:
        with node.connect(timeout=TIMEOUT_SECONDS) as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            if row is None or row[0]:
                return NodeHealth(node.name, "standby")
            lag = conn.execute(
                "SELECT coalesce(max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)), 0)"
                "::bigint FROM pg_stat_replication").fetchone()
            states = conn.execute(
                "SELECT coalesce(state, 'unknown'), count(*) FROM pg_stat_activity"
                " WHERE backend_type = 'client backend' GROUP BY 1").fetchall()
    except psycopg.Error:
        return NodeHealth(node.name, "down")
    return NodeHealth(node.name, "primary", cast(int, lag[0]) if lag else 0,
                      tuple((str(state), cast(int, count)) for state, count in states))


class InfraProbe:
    """Exports one look at every service per ``probe_once``."""

    def __init__(self, settings: Settings, recorder: MetricsRecorder) -> None:
        self.config = StackConfig.from_settings(settings)
        self.postgres = Postgres(self.config)
        self.recorder = recorder
        self.redis = redis.Redis.from_url(self.config.redis_url,
                                          socket_timeout=TIMEOUT_SECONDS,
                                          socket_connect_timeout=TIMEOUT_SECONDS)
        # librdkafka's own lines (a broker refusing connections while Kafka is down) go
        # through this process's JSON log, not raw to stderr.
        self.kafka = make_admin(self.config.kafka_bootstrap,
                                **{"socket.timeout.ms": TIMEOUT_SECONDS * 1000, "logger": log})
        # The (node, role) series exported last time: a node changing role (a failover)
        # must not leave its old series behind.
        self._node_series: set[tuple[str, str]] = set()

    def probe_once(self) -> None:
        self.probe_postgres()
        self.probe_redis()
        self.probe_kafka()

    def probe_postgres(self) -> None:
        nodes = [node_health(node) for node in self.postgres.nodes]
        series = {(node.name, node.role) for node in nodes}
        for name, role in self._node_series - series:
            self.recorder.remove(catalogue.POSTGRES_UP, node=name, role=role)
        self._node_series = series
        for node in nodes:
            self.recorder.set(catalogue.POSTGRES_UP, 0.0 if node.role == "down" else 1.0,
                              node=node.name, role=node.role)
        primary = next((node for node in nodes if node.role == "primary"), None)
        if primary is None:
            return
        # No standby streaming reads as no lag: a standby down is PostgresDown's to say.
        self.recorder.set(catalogue.POSTGRES_REPLICATION_LAG, primary.replication_lag_bytes)
        counts = dict(primary.connections)
        for state in sorted({*CONNECTION_STATES, *counts}):
            self.recorder.set(catalogue.POSTGRES_CONNECTIONS, counts.get(state, 0), state=state)

    def probe_redis(self) -> None:
        try:
            info = self.redis.info()
        except redis.RedisError:
            self.recorder.set(catalogue.REDIS_UP, 0.0)
            return
        self.recorder.set(catalogue.REDIS_UP, 1.0)
        self.recorder.set(catalogue.REDIS_MEMORY, float(info["used_memory"]))
        self.recorder.set(catalogue.REDIS_CLIENTS, float(info["connected_clients"]))

    def probe_kafka(self) -> None:
        try:
            metadata = self.kafka.list_topics(timeout=TIMEOUT_SECONDS)
        except KafkaException:
            self.recorder.set(catalogue.KAFKA_UP, 0.0)
            self.recorder.set(catalogue.KAFKA_BROKERS, 0.0)
            return
        self.recorder.set(catalogue.KAFKA_UP, 1.0 if metadata.brokers else 0.0)
        self.recorder.set(catalogue.KAFKA_BROKERS, float(len(metadata.brokers)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--interval", type=float, default=INTERVAL_SECONDS)
    args = parser.parse_args()
    configure_logging(service="infra-probe")
    probe = InfraProbe(Settings(), metrics_for("infra"))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    log.info("probing PostgreSQL, Redis and Kafka every %.0f s", args.interval)
    # A service down is a value (0), not a failure: the loop ends only when told to.
    while not stop.is_set():
        probe.probe_once()
        stop.wait(args.interval)


if __name__ == "__main__":
    main()
