"""The matcher's composition root: the one place its adapters are built and wired.

``python -m matching_cluster.service`` and the tests start matchers from here; a test
passes only what it replaces (its own topics and database role through the settings, a
consumer group of its own through the config, a clock).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.adapters.kafka import make_producer
from chalicelib.adapters.postgres import MATCHER_LIMITS, DbLimits, connect
from chalicelib.adapters.redis_store import redis_client
from chalicelib.domain.clock import Clock
from chalicelib.settings import Settings

from . import repository as repo
from .clock import DatabaseClock
from .consumer import MAX_RECOVERY_BACKOFF_S, Matcher, MatcherConfig
from .durability import DurabilityBarrier
from .durability_repository import wait_for_commits
from .metrics import Metrics
from .publish_thread import PublishThread
from .publishing import Publisher

# How long a stopping matcher waits for the events of its settled batches to go out.
PUBLISH_DRAIN_SECONDS = 10

# Allocations (net of frees) between two young collections. At Python's default, 700,
# they come many times per batch, and a batch's commands and events stay alive until it
# is settled and published, so they mostly scan live objects. With the freeze below, no
# collection runs during bench/settlement.py's timed batches and its matcher CPU per
# command falls by about an eighth. The older generations keep their defaults.
YOUNG_COLLECTION_THRESHOLD = 50_000


@dataclass(frozen=True)
class MatcherProcess:
    """A wired matcher and the publisher it hands settled batches to."""

    matcher: Matcher
    publisher: PublishThread
    metrics: Metrics
    config: MatcherConfig

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set; then send what the settled batches left queued."""
        try:
            self.matcher.run(stop)
        finally:
            self.publisher.close(PUBLISH_DRAIN_SECONDS)


def bootstrap_matcher(
    settings: Settings, config: MatcherConfig | None = None, *,
    clock: Clock | None = None,
) -> MatcherProcess:
    """A matcher on ``settings``' database, Redis and topics, configured by ``config``
    (by default from the ``MATCHER_*`` environment), on ``clock`` (by default the
    database's: ``DatabaseClock``)."""
    config = config or MatcherConfig()
    metrics = Metrics()
    limits = MATCHER_LIMITS.for_settings(settings)

    def connection(name: str) -> Callable[[], repo.Conn]:
        return lambda: connect(settings.database_url, autocommit=True, limits=limits,
                               application_name=name)

    durability = None if config.synchronous_commit else DurabilityBarrier(
        connection(barrier_connection_name(config.instance_id)), owner=config.instance_id,
        topic=settings.orders_topic, deadline_s=config.batch_deadline_seconds,
        retry_backoff_s=config.retry_backoff_seconds, max_backoff_s=MAX_RECOVERY_BACKOFF_S)
    publisher = PublishThread(Publisher(redis_client(settings),
                                        make_producer(settings.kafka_bootstrap_servers),
                                        market_events_topic=settings.market_events_topic,
                                        order_events_topic=settings.order_events_topic,
                                        metrics=metrics), durability)
    settlement_connection = connection(settlement_connection_name(config.instance_id))

    def settlement_conn() -> repo.Conn:
        conn = settlement_connection()
        if not config.synchronous_commit:
            wait_for_commits(conn, synchronous=False)
        return conn

    matcher = Matcher(conn_factory=settlement_conn,
                      reads_conn_factory=connection(reads_connection_name(config.instance_id)),
                      topic=settings.orders_topic, config=config,
                      bootstrap_servers=settings.kafka_bootstrap_servers,
                      publish=publisher.publish, publish_marks=publisher.publish_marks,
                      metrics=metrics,
                      clock=clock or DatabaseClock(
                          lambda: database_time_ms(settings.database_url, limits)))
    return MatcherProcess(matcher, publisher, metrics, config)


def settlement_connection_name(instance_id: str) -> str:
    """The ``application_name`` of an instance's settlement connection."""
    return f"matcher {instance_id}"


def reads_connection_name(instance_id: str) -> str:
    """The ``application_name`` of the connection an instance prepares batches on."""
    return f"matcher {instance_id} reads"


def barrier_connection_name(instance_id: str) -> str:
    """The ``application_name`` of an instance's durability barrier connection."""
    return f"matcher {instance_id} barrier"


def tune_garbage_collector() -> None:
    """Collect less often in a matcher process; called once it is wired, before it
    consumes. What exists by then (modules, settings, clients) lives as long as the
    process: frozen, no collection scans it again. Reference counting still frees
    everything the matcher drops; only cycles are left to the (rarer) collections."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, middle, oldest)


def database_time_ms(database_url: str, limits: DbLimits) -> int:
    with connect(database_url, autocommit=True, limits=limits) as conn:
        return repo.database_time_ms(conn)
