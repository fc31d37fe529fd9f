"""Every metric the exchange exports, named once.

Each role exports its own metrics under these names: with prometheus-client where a
Prometheus scrapes it (the matcher's pod, the local processes), and as Powertools
Metrics (CloudWatch EMF) in Lambda. Names follow Prometheus' conventions: an
``exchange_`` prefix, base units (seconds, bytes), ``_total`` on counters. Amounts of
money are in the asset's smallest unit, as everywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MetricKind = Literal["counter", "gauge", "histogram"]
# Roles that export metrics: one process (locally) or function / pod (in AWS) each.
Role = Literal["api", "matcher", "fanout", "candles", "sweeper", "ws-gateway",
               "ledger-auditor", "infra"]
# The CloudWatch unit each name's values are sent with under EMF.
Unit = Literal["seconds", "count", "bytes", "messages", "units", "boolean", "timestamp"]

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                   2.5, 5.0, 10.0)
BATCH_BUCKETS = (1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0,
                 10000.0)


@dataclass(frozen=True)
class MetricSpec:
    name: str
    kind: MetricKind
    help: str
    unit: Unit
    roles: tuple[Role, ...]
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = LATENCY_BUCKETS


def _counter(name: str, help_: str, roles: tuple[Role, ...], labels: tuple[str, ...] = (),
             unit: Unit = "count") -> MetricSpec:
    assert name.endswith("_total"), name
    return MetricSpec(name, "counter", help_, unit, roles, labels)


def _gauge(name: str, help_: str, roles: tuple[Role, ...], labels: tuple[str, ...] = (),
           unit: Unit = "count") -> MetricSpec:
    return MetricSpec(name, "gauge", help_, unit, roles, labels)


def _histogram(name: str, help_: str, roles: tuple[Role, ...], labels: tuple[str, ...] = (),
               unit: Unit = "seconds",
               buckets: tuple[float, ...] = LATENCY_BUCKETS) -> MetricSpec:
    return MetricSpec(name, "histogram", help_, unit, roles, labels, buckets)


# Order intake (the API).
ORDERS_ACCEPTED = _counter("exchange_orders_accepted_total",
                           "Orders accepted by the API, by market and order type",
                           ("api",), ("market", "type"))
ORDERS_REJECTED = _counter("exchange_orders_rejected_total",
                           "Orders refused by the API, by market and reason (the error code)",
                           ("api",), ("market", "reason"))
API_REQUESTS = _counter("exchange_api_requests_total",
                        "API requests answered, by route, method and HTTP status",
                        ("api",), ("route", "method", "status"))
API_REQUEST_SECONDS = _histogram("exchange_api_request_duration_seconds",
                                 "Time to answer one API request, by route and method",
                                 ("api",), ("route", "method"))
RATE_LIMITED = _counter("exchange_rate_limit_rejections_total",
                        "Requests refused by a rate limit (429/418), by limit",
                        ("api",), ("limit",))
KAFKA_PUBLISH_FAILURES = _counter("exchange_kafka_publish_failures_total",
                                  "Messages the broker did not acknowledge, by service",
                                  ("api", "matcher", "sweeper"), ("service",))
REDIS_PUBLISH_FAILURES = _counter("exchange_redis_publish_failures_total",
                                  "Writes to Redis that failed, by service",
                                  ("api", "matcher", "fanout", "candles"), ("service",))

# The matcher.
MATCHER_COMMANDS = _counter("exchange_matcher_commands_total",
                            "Commands consumed, by outcome (applied, duplicate, halted)",
                            ("matcher",), ("outcome",))
MATCHER_BATCH_SIZE = _histogram("exchange_matcher_batch_size", "Commands per settled batch",
                                ("matcher",), unit="count", buckets=BATCH_BUCKETS)
MATCHER_ENGINE_SECONDS = _histogram("exchange_matcher_engine_seconds",
                                    "Time the engine takes to match one batch", ("matcher",))
MATCHER_SETTLEMENT_SECONDS = _histogram("exchange_matcher_settlement_seconds",
                                        "From a batch's matching to its commit (the next"
                                        " batch is matched meanwhile)", ("matcher",))
MATCHER_PUBLISH_LAG_SECONDS = _histogram("exchange_matcher_publish_lag_seconds",
                                         "From a batch's commit to its events acknowledged"
                                         " by the broker", ("matcher",))
MATCHER_CONSUMER_LAG = _gauge("exchange_matcher_consumer_lag_messages",
                              "Commands waiting in a partition behind the matcher",
                              ("matcher",), ("partition",), unit="messages")
MATCHER_PARTITIONS_OWNED = _gauge("exchange_matcher_partitions_owned",
                                  "Partitions this matcher instance owns and matches",
                                  ("matcher",))
MATCHER_READY = _gauge("exchange_matcher_ready",
                       "1 when the matcher is live and owns a partition (its /readyz)",
                       ("matcher",), unit="boolean")
MATCHER_REBUILD_SECONDS = _histogram("exchange_matcher_rebuild_seconds",
                                     "Time to rebuild one market's book from PostgreSQL"
                                     " (recovery)", ("matcher",))
MATCHER_FENCED_BATCHES = _counter("exchange_matcher_fenced_batches_total",
                                  "Batches refused because another instance owns the"
                                  " partition", ("matcher",))
MATCHER_BATCH_ERRORS = _counter("exchange_matcher_batch_errors_total",
                                "Batches whose settlement failed and was rolled back",
                                ("matcher",))
ORDER_END_TO_END_SECONDS = _histogram("exchange_order_end_to_end_seconds",
                                      "From the API accepting an order to its settlement"
                                      " committed", ("matcher",))
TRADES = _counter("exchange_trades_total", "Trades settled, by market", ("matcher",),
                  ("market",))
BOOK_DEPTH_LEVELS = _gauge("exchange_book_depth_levels",
                           "Price levels in a market's book, by side", ("matcher",),
                           ("market", "side"))
OPEN_ORDERS = _gauge("exchange_open_orders", "Orders resting in a market's book",
                     ("matcher",), ("market",))

# The MSK-triggered functions and the WebSocket side.
FUNCTION_RECORDS = _counter("exchange_function_records_total",
                            "Kafka records a function processed, by function",
                            ("fanout", "candles"), ("function",))
FUNCTION_BATCH_FAILURES = _counter("exchange_function_batch_failures_total",
                                   "Records a function failed and left for redelivery,"
                                   " by function", ("fanout", "candles"), ("function",))
FUNCTION_UNREADABLE_RECORDS = _counter("exchange_function_unreadable_records_total",
                                       "Records a function can never read, logged and"
                                       " skipped, by function", ("candles",), ("function",))
STREAM_MESSAGES_SENT = _counter("exchange_stream_messages_sent_total",
                                "WebSocket messages the fan-out posted to connections",
                                ("fanout",))
STREAM_DELIVERY_SECONDS = _histogram("exchange_stream_delivery_seconds",
                                     "From an event's settlement to its fan-out to"
                                     " subscribers (market-data freshness)", ("fanout",))
WS_CONNECTIONS = _gauge("exchange_ws_connections", "Open WebSocket connections",
                        ("ws-gateway",))
WS_MESSAGES_SENT = _counter("exchange_ws_messages_sent_total",
                            "Messages the WebSocket gateway wrote to clients",
                            ("ws-gateway",))
SWEEPER_REPUBLISHED = _counter("exchange_sweeper_republished_total",
                               "Accepted commands the sweeper published after the API did"
                               " not", ("sweeper",))

# Money: the ledger auditor's view of the live database.
LEDGER_AUDIT_OK = _gauge("exchange_ledger_audit_ok",
                         "1 when the last audit found every invariant holding, 0 on a break",
                         ("ledger-auditor",), unit="boolean")
LEDGER_AUDIT_BREAKS = _gauge("exchange_ledger_audit_breaks",
                             "Rows breaking an invariant at the last audit, by invariant",
                             ("ledger-auditor",), ("invariant",))
LEDGER_AUDIT_LAST_SUCCESS = _gauge("exchange_ledger_audit_last_success_timestamp_seconds",
                                   "When an audit last completed (Unix time)",
                                   ("ledger-auditor",), unit="timestamp")
LEDGER_AUDIT_SECONDS = _histogram("exchange_ledger_audit_duration_seconds",
                                  "Time one audit pass took", ("ledger-auditor",))
LEDGER_ENTRIES_AUDITED = _counter("exchange_ledger_entries_audited_total",
                                  "Ledger entries read by the auditor's incremental passes",
                                  ("ledger-auditor",))
WITHDRAWALS_HALTED = _gauge("exchange_withdrawals_halted",
                            "1 while withdrawals are halted by a ledger break",
                            ("ledger-auditor",), unit="boolean")
WITHDRAWALS_PENDING = _gauge("exchange_withdrawals_pending",
                             "Withdrawals requested and not yet completed, by asset",
                             ("ledger-auditor",), ("asset",))
WITHDRAWALS_PENDING_OLDEST = _gauge("exchange_withdrawals_pending_oldest_seconds",
                                    "Age of the oldest pending withdrawal",
                                    ("ledger-auditor",), unit="seconds")
FEES_COLLECTED = _gauge("exchange_fees_collected",
                        "Fees held by the exchange's fee account, by asset (smallest unit)",
                        ("ledger-auditor",), ("asset",), unit="units")
DEPOSITS_CREDITED = _gauge("exchange_deposits_credited",
                           "Deposits credited to date, by asset (smallest unit)",
                           ("ledger-auditor",), ("asset",), unit="units")
WITHDRAWALS_COMPLETED = _gauge("exchange_withdrawals_completed",
                               "Withdrawals sent to date, by asset (smallest unit)",
                               ("ledger-auditor",), ("asset",), unit="units")

# The backing services, as a probe sees them (locally; in AWS CloudWatch has them too).
POSTGRES_UP = _gauge("exchange_postgres_up", "1 when a PostgreSQL node answers, by node and"
                     " role", ("infra",), ("node", "role"), unit="boolean")
POSTGRES_REPLICATION_LAG = _gauge("exchange_postgres_replication_lag_bytes",
                                  "WAL the standby has not replayed yet", ("infra",),
                                  unit="bytes")
POSTGRES_CONNECTIONS = _gauge("exchange_postgres_connections",
                              "Connections to the primary, by state", ("infra",), ("state",))
REDIS_UP = _gauge("exchange_redis_up", "1 when Redis answers PING", ("infra",),
                  unit="boolean")
REDIS_MEMORY = _gauge("exchange_redis_memory_bytes", "Memory Redis uses", ("infra",),
                      unit="bytes")
REDIS_CLIENTS = _gauge("exchange_redis_connected_clients", "Clients connected to Redis",
                       ("infra",))
KAFKA_UP = _gauge("exchange_kafka_up", "1 when the Kafka brokers answer a metadata request",
                  ("infra",), unit="boolean")
KAFKA_BROKERS = _gauge("exchange_kafka_brokers", "Brokers in the cluster's metadata",
                       ("infra",))

CATALOGUE: tuple[MetricSpec, ...] = tuple(
    value for value in list(globals().values()) if isinstance(value, MetricSpec))


def specs_of(role: Role) -> tuple[MetricSpec, ...]:
    """The metrics one role exports."""
    return tuple(spec for spec in CATALOGUE if role in spec.roles)
