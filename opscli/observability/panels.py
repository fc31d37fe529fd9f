"""The five dashboards' panels: what an operator looks at, in PromQL.

Names come from chalicelib/domain/metric_catalogue.py (tests/unit/iac/test_dashboards.py
checks every name against it). Error panels read 0 while their exporter answers
(`zero_while`), so "No data" always means nothing is scraped.
"""

from __future__ import annotations

from opscli.observability.model import Dashboard, Query, panel, stat
from opscli.observability.promql import (
    MARKET,
    mean,
    of_processes_exporting,
    per_second,
    quantile,
    rate,
    zero_while,
)

API_ALIVE = per_second("exchange_api_requests_total")
MATCHER_ALIVE = "sum(exchange_matcher_ready)"
ANY_SCRAPED = "sum(up)"
E2E = "exchange_order_end_to_end_seconds"
API_LATENCY = "exchange_api_request_duration_seconds"


def _quantiles(histogram: str, by: str = "") -> tuple[Query, Query]:
    prefix = "{{" + by + "}} " if by else ""
    return (Query(quantile(0.5, histogram, by), prefix + "p50"),
            Query(quantile(0.99, histogram, by), prefix + "p99"))


OVERVIEW = Dashboard(
    uid="exchange-overview", name="overview", title="Exchange / Overview",
    description="Orders in, trades out, how long an order takes, errors and lag.",
    by_market=True,
    panels=(
        stat("Matcher ready", "Matcher instances ready (owning a partition).",
             MATCHER_ALIVE),
        stat("Ledger audit", "1: every invariant held at the last audit; 0: a break.",
             "min(exchange_ledger_audit_ok)"),
        stat("Withdrawals halted", "1 while a ledger break halts withdrawals.",
             "max(exchange_withdrawals_halted)"),
        stat("Consumer lag", "Commands waiting for the matcher, all partitions.",
             "sum(exchange_matcher_consumer_lag_messages)"),
        stat("Order placement availability", "Share of order placements (POST) not"
             " answered 5xx over 5 minutes; objective 99.9% (docs/operations.md).",
             "exchange:order_placement_availability:ratio_rate5m", unit="percentunit"),
        stat("Orders settled within 500 ms", "Share of orders settled within 500 ms of"
             " acceptance over 5 minutes; objective 99%.",
             "exchange:order_end_to_end_within_target:ratio_rate5m", unit="percentunit"),
        stat("Market data within 1 s", "Share of events fanned out within 1 s of"
             " settlement over 5 minutes; objective 99%.",
             "exchange:stream_delivery_within_target:ratio_rate5m", unit="percentunit"),
        stat("End-to-end p99", "Order end-to-end latency, 99th percentile over 5 minutes;"
             " the SLO's alert fires above 0.5 s.",
             "exchange:order_end_to_end_seconds:p99_5m", unit="s"),
        panel("Orders per second", "Orders the API accepted and refused.",
              Query(per_second(f"exchange_orders_accepted_total{{{MARKET}}}"), "accepted"),
              Query(zero_while(per_second(f"exchange_orders_rejected_total{{{MARKET}}}"),
                               API_ALIVE), "rejected"),
              unit="ops"),
        panel("Trades per second", "Trades settled, by market.",
              Query(per_second(f"exchange_trades_total{{{MARKET}}}", "market"), "{{market}}"),
              unit="ops"),
        panel("Order end to end", "From the API accepting an order to its settlement"
              " committed.", *_quantiles(E2E), unit="s"),
        panel("API 5xx per second", "API answers with a 5xx status.",
              Query(zero_while(per_second('exchange_api_requests_total{status=~"5.."}'),
                               API_ALIVE), "5xx"),
              unit="ops"),
        panel("Consumer lag by partition", "Commands waiting behind the matcher.",
              Query("max by (partition) (exchange_matcher_consumer_lag_messages)",
                    "partition {{partition}}")),
        panel("Failures per second", "Kafka and Redis writes that failed, failed"
              " function records and failed matcher batches.",
              Query(zero_while(per_second("exchange_kafka_publish_failures_total"),
                               ANY_SCRAPED), "Kafka publish"),
              Query(zero_while(per_second("exchange_redis_publish_failures_total"),
                               ANY_SCRAPED), "Redis publish"),
              Query(zero_while(per_second("exchange_function_batch_failures_total"),
                               ANY_SCRAPED), "function records"),
              Query(per_second("exchange_matcher_batch_errors_total"), "matcher batches"),
              unit="ops"),
    ))

MATCHER = Dashboard(
    uid="exchange-matcher", name="matcher", title="Exchange / Matcher",
    description="The matching cluster: lag per partition, batches, books and recovery.",
    by_market=True,
    panels=(
        stat("Ready instances", "Matcher instances live and owning a partition.",
             MATCHER_ALIVE),
        stat("Partitions owned", "Partitions matched, all instances.",
             "sum(exchange_matcher_partitions_owned)"),
        stat("Fenced batches per second", "Batches refused: another instance owns the"
             " partition.", per_second("exchange_matcher_fenced_batches_total"), unit="ops"),
        stat("Batch errors per second", "Settlements that failed and were rolled back.",
             per_second("exchange_matcher_batch_errors_total"), unit="ops"),
        panel("Consumer lag by partition", "Commands waiting in each partition.",
              Query("max by (partition) (exchange_matcher_consumer_lag_messages)",
                    "partition {{partition}}")),
        panel("Commands per second", "Commands consumed, by outcome.",
              Query(per_second("exchange_matcher_commands_total", "outcome"), "{{outcome}}"),
              unit="ops"),
        panel("Batch size", "Commands per settled batch.",
              Query(quantile(0.5, "exchange_matcher_batch_size"), "p50"),
              Query(quantile(0.99, "exchange_matcher_batch_size"), "p99"),
              Query(mean("exchange_matcher_batch_size"), "mean")),
        panel("Engine time", "Time the engine takes to match one batch.",
              *_quantiles("exchange_matcher_engine_seconds"), unit="s"),
        panel("Settlement time", "From a batch's matching to its commit.",
              *_quantiles("exchange_matcher_settlement_seconds"), unit="s"),
        panel("Publish lag", "From a batch's commit to its events acknowledged.",
              *_quantiles("exchange_matcher_publish_lag_seconds"), unit="s"),
        panel("Book rebuilds", "Books rebuilt from PostgreSQL (recovery): the mean time"
              " since each instance started, and rebuilds in the last hour.",
              Query("sum(exchange_matcher_rebuild_seconds_sum)"
                    " / sum(exchange_matcher_rebuild_seconds_count)", "mean seconds"),
              Query("sum(increase(exchange_matcher_rebuild_seconds_count[1h]))",
                    "rebuilds in 1h")),
        panel("Partitions owned by instance", "Who matches what: a takeover moves them.",
              Query("sum by (instance) (exchange_matcher_partitions_owned)", "{{instance}}")),
        panel("Open orders", "Orders resting in each market's book.",
              Query(f"sum by (market) (exchange_open_orders{{{MARKET}}})", "{{market}}")),
        panel("Book depth", "Price levels per market and side.",
              Query(f"sum by (market, side) (exchange_book_depth_levels{{{MARKET}}})",
                    "{{market}} {{side}}")),
        panel("Matcher CPU", "CPU seconds per second of each matcher process.",
              Query(of_processes_exporting("exchange_matcher_ready",
                                           rate("process_cpu_seconds_total")),
                    "{{instance}}"),
              unit="percentunit"),
        panel("Matcher memory", "Resident memory of each matcher process.",
              Query(of_processes_exporting("exchange_matcher_ready",
                                           "process_resident_memory_bytes"),
                    "{{instance}}"),
              unit="bytes"),
    ))

API = Dashboard(
    uid="exchange-api", name="api", title="Exchange / API",
    description="The REST API per route, order intake, rate limits and the streams.",
    by_market=True,
    panels=(
        panel("Requests per second by route", "API requests answered.",
              Query(per_second("exchange_api_requests_total", "route, method"),
                    "{{method}} {{route}}"), unit="ops"),
        panel("Requests per second by status", "API answers by HTTP status.",
              Query(per_second("exchange_api_requests_total", "status"), "{{status}}"),
              unit="ops"),
        panel("Latency p50 by route", "Median time to answer.",
              Query(quantile(0.5, API_LATENCY, "route"), "{{route}}"), unit="s"),
        panel("Latency p99 by route", "99th percentile time to answer.",
              Query(quantile(0.99, API_LATENCY, "route"), "{{route}}"), unit="s"),
        panel("Orders accepted per second", "By market and order type.",
              Query(per_second(f"exchange_orders_accepted_total{{{MARKET}}}", "market, type"),
                    "{{market}} {{type}}"), unit="ops"),
        panel("Orders rejected per second", "By reason (the error code).",
              Query(zero_while(per_second(f"exchange_orders_rejected_total{{{MARKET}}}",
                                          "reason"), API_ALIVE), "{{reason}}"),
              unit="ops"),
        panel("Rate-limit rejections per second", "Requests refused with 429/418, by limit.",
              Query(zero_while(per_second("exchange_rate_limit_rejections_total", "limit"),
                               API_ALIVE), "{{limit}}"), unit="ops"),
        panel("Publish failures per second", "Kafka messages not acknowledged and Redis"
              " writes that failed, by service.",
              Query(zero_while(per_second("exchange_kafka_publish_failures_total",
                                          "service"), ANY_SCRAPED), "Kafka {{service}}"),
              Query(zero_while(per_second("exchange_redis_publish_failures_total",
                                          "service"), ANY_SCRAPED), "Redis {{service}}"),
              unit="ops"),
        panel("Sweeper republished per second", "Accepted commands the API did not publish"
              " and the sweeper did.",
              Query(per_second("exchange_sweeper_republished_total"), "republished"),
              unit="ops"),
        panel("WebSocket connections", "Open connections to the gateway.",
              Query("sum(exchange_ws_connections)", "connections")),
        panel("WebSocket messages per second", "Written by the gateway and posted by the"
              " fan-out.",
              Query(per_second("exchange_ws_messages_sent_total"), "gateway"),
              Query(per_second("exchange_stream_messages_sent_total"), "fan-out"),
              unit="ops"),
        panel("Market-data freshness", "From an event's settlement to its fan-out.",
              *_quantiles("exchange_stream_delivery_seconds"), unit="s"),
        panel("Function records per second", "Kafka records processed and failed (left"
              " for redelivery), by function.",
              Query(per_second("exchange_function_records_total", "function"),
                    "{{function}}"),
              Query(zero_while(per_second("exchange_function_batch_failures_total",
                                          "function"), ANY_SCRAPED),
                    "{{function}} failed"),
              Query(zero_while(per_second("exchange_function_unreadable_records_total",
                                          "function"), ANY_SCRAPED),
                    "{{function}} unreadable, skipped"),
              unit="ops"),
    ))

MONEY = Dashboard(
    uid="exchange-money", name="money", title="Exchange / Money",
    description="The ledger auditor's view: invariants, fees, deposits and withdrawals.",
    panels=(
        stat("Ledger audit", "1: every invariant held at the last audit; 0: a break.",
             "min(exchange_ledger_audit_ok)"),
        stat("Withdrawals halted", "1 while a ledger break halts withdrawals (an admin"
             " clears it).", "max(exchange_withdrawals_halted)"),
        stat("Last audit", "Seconds since an audit last completed.",
             "time() - max(exchange_ledger_audit_last_success_timestamp_seconds)",
             unit="s"),
        stat("Oldest pending withdrawal", "Age of the oldest withdrawal not completed.",
             "max(exchange_withdrawals_pending_oldest_seconds)", unit="s"),
        panel("Ledger breaks by invariant", "Rows breaking an invariant at the last audit.",
              Query("max by (invariant) (exchange_ledger_audit_breaks)", "{{invariant}}")),
        panel("Audit passes", "Time one pass takes and ledger entries read per second.",
              Query(quantile(0.99, "exchange_ledger_audit_duration_seconds"), "p99 seconds"),
              Query(per_second("exchange_ledger_entries_audited_total"), "entries/s")),
        panel("Fees collected by asset", "Held by the fee account, in the asset's"
              " smallest unit.",
              Query("sum by (asset) (exchange_fees_collected)", "{{asset}}")),
        panel("Withdrawals pending by asset", "Requested and not yet completed.",
              Query("sum by (asset) (exchange_withdrawals_pending)", "{{asset}}")),
        panel("Deposits credited by asset", "To date, in the asset's smallest unit.",
              Query("sum by (asset) (exchange_deposits_credited)", "{{asset}}")),
        panel("Withdrawals completed by asset", "To date, in the asset's smallest unit.",
              Query("sum by (asset) (exchange_withdrawals_completed)", "{{asset}}")),
    ))

INFRASTRUCTURE = Dashboard(
    uid="exchange-infrastructure", name="infrastructure",
    title="Exchange / Infrastructure",
    description="PostgreSQL, Redis and Kafka as a probe sees them; every process.",
    panels=(
        stat("Redis up", "1 when Redis answers PING.", "min(exchange_redis_up)"),
        stat("Kafka up", "1 when the brokers answer a metadata request.",
             "min(exchange_kafka_up)"),
        stat("Kafka brokers", "Brokers in the cluster's metadata.",
             "min(exchange_kafka_brokers)"),
        stat("Targets down", "Scraped processes not answering.",
             "count(up == 0) or on() (0 * sum(up))"),
        panel("PostgreSQL nodes", "1 when a node answers, by node and role.",
              Query("max by (node, role) (exchange_postgres_up)", "{{node}} {{role}}")),
        panel("PostgreSQL replication lag", "WAL the standby has not replayed.",
              Query("max(exchange_postgres_replication_lag_bytes)", "lag"), unit="bytes"),
        panel("PostgreSQL connections", "Connections to the primary, by state.",
              Query("sum by (state) (exchange_postgres_connections)", "{{state}}")),
        panel("Redis memory", "Memory Redis uses.",
              Query("max(exchange_redis_memory_bytes)", "used"), unit="bytes"),
        panel("Redis clients", "Clients connected to Redis.",
              Query("max(exchange_redis_connected_clients)", "clients")),
        panel("Scrape targets", "1 when a scraped process answers, by job.",
              Query("min by (job) (up)", "{{job}}")),
        panel("Resident memory by job", "Each process' resident memory.",
              Query("sum by (job) (process_resident_memory_bytes)", "{{job}}"),
              unit="bytes"),
        panel("CPU by job", "CPU seconds per second of each process.",
              Query(per_second("process_cpu_seconds_total", "job"), "{{job}}"),
              unit="percentunit"),
    ))

DASHBOARDS: tuple[Dashboard, ...] = (OVERVIEW, MATCHER, API, MONEY, INFRASTRUCTURE)
