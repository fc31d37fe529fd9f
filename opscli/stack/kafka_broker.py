"""A single-node Apache Kafka broker in KRaft mode, run from Maven Central's jars.

The jars are resolved by `scripts/install.sh` (Maven, `opscli/kafka/pom.xml`) into
`.local/kafka-libs`; the broker runs on the machine's Java 17 with a small heap.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import uuid
from collections.abc import Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

# Exported by confluent_kafka.admin, but only implicitly (mypy --strict refuses that).
from confluent_kafka.admin._config import AlterConfigOpType, ConfigEntry, ConfigResource
from confluent_kafka.admin._resource import ResourceType
from confluent_kafka.cimpl import NewPartitions, NewTopic

from chalicelib.adapters.kafka import make_admin
from opscli.stack.config import StackConfig
from opscli.stack.process import (
    ServiceError,
    StackServer,
    ensure_port_free,
    spawn,
    wait_until,
)

SERVICE = "kafka"
MARKER = "kafka.Kafka"
KAFKA_RESOURCES = Path(__file__).resolve().parent.parent / "kafka"
JVM_OPTIONS = ["-Xms256m", "-Xmx512m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
               "-Djava.awt.headless=true"]


class KafkaBroker(StackServer):
    name = SERVICE
    marker = MARKER
    grace_seconds = 30

    def __init__(self, config: StackConfig) -> None:
        super().__init__(config)
        self.data_dir = self.home / "data"
        self.properties = self.home / "server.properties"

    @property
    def address(self) -> str:
        return self.config.kafka_bootstrap

    def start(self) -> None:
        if self.running_pid() is not None:
            return
        ensure_port_free(SERVICE, self.config.kafka_port, "EXCHANGE_KAFKA_PORT", self.log_path)
        ensure_port_free(SERVICE, self.config.kafka_controller_port,
                         "EXCHANGE_KAFKA_CONTROLLER_PORT", self.log_path)
        self.home.mkdir(parents=True, exist_ok=True)
        self.config.run_dir.mkdir(parents=True, exist_ok=True)
        self._write_properties()
        if not (self.data_dir / "meta.properties").exists():
            self._format_storage()
        spawn(self._java(MARKER, str(self.properties)), log_path=self.log_path,
              pid_file=self.pid_file, cwd=self.home)

    def is_ready(self) -> bool:
        if not super().is_ready():
            return False
        try:
            metadata = self.admin_client().list_topics(timeout=2)
        except KafkaException:
            return False
        return bool(metadata.brokers)

    def ensure_topics(self, partitions: dict[str, int]) -> None:
        """Create missing topics; grow existing ones that have fewer partitions."""
        try:
            ensure_topics(self.admin_client(), partitions)
        except TopicError as exc:
            raise ServiceError(SERVICE, str(exc), self.log_path) from exc

    def admin_client(self) -> AdminClient:
        return make_admin(self.address, **{"socket.timeout.ms": 2000, "log_level": 0})

    def _write_properties(self) -> None:
        host = "127.0.0.1"
        controller = f"{host}:{self.config.kafka_controller_port}"
        self.properties.write_text(
            "process.roles=broker,controller\n"
            "node.id=1\n"
            f"controller.quorum.voters=1@{controller}\n"
            f"listeners=PLAINTEXT://{host}:{self.config.kafka_port},CONTROLLER://{controller}\n"
            f"advertised.listeners=PLAINTEXT://{self.config.kafka_advertised}\n"
            "controller.listener.names=CONTROLLER\n"
            "inter.broker.listener.name=PLAINTEXT\n"
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n"
            f"log.dirs={self.data_dir}\n"
            "num.partitions=1\n"
            "auto.create.topics.enable=false\n"
            "offsets.topic.replication.factor=1\n"
            "offsets.topic.num.partitions=4\n"
            "transaction.state.log.replication.factor=1\n"
            "transaction.state.log.min.isr=1\n"
            "share.coordinator.state.topic.replication.factor=1\n"
            "share.coordinator.state.topic.min.isr=1\n"
            "group.initial.rebalance.delay.ms=0\n"
            "log.retention.hours=168\n"
            "num.network.threads=2\n"
            "num.io.threads=4\n"
        )

    def _format_storage(self) -> None:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        # One option word: an id may start with "-", which would read as another option.
        command = self._java("kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}",
                             "--config", str(self.properties), "--ignore-formatted")
        result = subprocess.run(command, capture_output=True, text=True, check=False,
                                cwd=self.home)
        if result.returncode != 0:
            self.log_path.write_text(result.stdout + result.stderr)
            raise ServiceError(SERVICE, "formatting the KRaft storage failed", self.log_path)

    def _java(self, main_class: str, *args: str) -> list[str]:
        java = shutil.which("java")
        if java is None:
            raise ServiceError(SERVICE, "java is not installed: run scripts/install.sh",
                               self.log_path)
        if not any(self.config.kafka_libs_dir.glob("kafka_2.13-*.jar")):
            raise ServiceError(SERVICE, f"no Kafka jars in {self.config.kafka_libs_dir}: "
                               "run scripts/install.sh", self.log_path)
        log4j = KAFKA_RESOURCES / "log4j2.properties"
        return [java, *JVM_OPTIONS, f"-Dlog4j2.configurationFile={log4j}",
                "-cp", f"{self.config.kafka_libs_dir}/*", main_class, *args]


MIN_INSYNC_REPLICAS = "min.insync.replicas"
TIMEOUT_SECONDS = 30


class TopicError(RuntimeError):
    """A topic could not be created, grown or configured; the message names it."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


def ensure_topics(admin: AdminClient, partitions: Mapping[str, int], *,
                  replication_factor: int = 1, min_insync_replicas: int = 1) -> list[str]:
    """Create missing topics, grow those with fewer partitions (never shrinking: keys
    would move between partitions and lose their order), and set min.insync.replicas
    where it differs. Returns what changed, one line per change: nothing when the topics
    already are as asked.

    Topics are created without configuration and min.insync.replicas is set afterwards
    only where the cluster's default differs: MSK Serverless (the dev stage) fixes it at
    2 and refuses it in a topic's configuration.
    """
    existing = admin.list_topics(timeout=TIMEOUT_SECONDS).topics
    missing = {name: count for name, count in partitions.items() if name not in existing}
    grow = {name: count for name, count in partitions.items()
            if name in existing and len(existing[name].partitions) < count}
    wait(admin.create_topics([
        NewTopic(name, num_partitions=count, replication_factor=replication_factor)
        for name, count in missing.items()]) if missing else {})
    wait(admin.create_partitions([NewPartitions(name, count) for name, count in grow.items()])
         if grow else {})
    isr = str(min_insync_replicas)
    reconfigure = [name for name in partitions
                   if topic_config(admin, name, MIN_INSYNC_REPLICAS) != isr]
    wait(admin.incremental_alter_configs([
        ConfigResource(ResourceType.TOPIC, name, incremental_configs=[ConfigEntry(
            MIN_INSYNC_REPLICAS, isr, incremental_operation=AlterConfigOpType.SET)])
        for name in reconfigure]) if reconfigure else {})
    return ([f"created {name} ({count} partitions, replication factor {replication_factor})"
             for name, count in missing.items()]
            + [f"grew {name} from {len(existing[name].partitions)} to {count} partitions"
               for name, count in grow.items()]
            + [f"set {name} {MIN_INSYNC_REPLICAS}={isr}" for name in reconfigure])


def topic_config(admin: AdminClient, topic: str, key: str) -> str | None:
    """`key` of `topic`'s configuration. A topic created a moment ago may not be known yet
    to the broker that answers: asked again until it is."""
    answer: dict[str, Any] = {}

    def described() -> bool:
        try:
            answer.update(wait(admin.describe_configs([ConfigResource(ResourceType.TOPIC,
                                                                      topic)])))
        except TopicError as exc:
            if exc.code != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise
            return False
        return True

    if not wait_until(described, TIMEOUT_SECONDS, interval=0.5):
        raise TopicError(f"topic {topic}: not known to the brokers {TIMEOUT_SECONDS} s after"
                         " its creation")
    entry = answer[topic].get(key)
    return None if entry is None else str(entry.value)


def wait(futures: Mapping[Any, Future[Any]]) -> dict[str, Any]:
    """Each admin request's result by topic name; an existing topic counts as created
    (another release got there first)."""
    results: dict[str, Any] = {}
    for key, future in futures.items():
        topic = key.name if isinstance(key, ConfigResource) else str(key)
        try:
            results[topic] = future.result(timeout=TIMEOUT_SECONDS)
        except KafkaException as exc:
            error = exc.args[0]
            if error.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise TopicError(f"topic {topic}: {error.name()}: {error.str()}",
                                 error.code()) from exc
    return results
