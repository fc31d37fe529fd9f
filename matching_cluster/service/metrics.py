"""Prometheus metrics of one matcher instance (its own registry, served on /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.commands = Counter("matcher_commands", "Commands consumed (rate() = commands/s)",
                                ["outcome"], registry=r)
        self.batch_size = Histogram("matcher_batch_size", "Commands per settled batch",
                                    buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500),
                                    registry=r)
        self.match_seconds = Histogram("matcher_match_seconds", "Engine time per batch",
                                       buckets=_LATENCY_BUCKETS, registry=r)
        self.settle_seconds = Histogram("matcher_settlement_seconds",
                                        "Settlement transaction time per batch",
                                        buckets=_LATENCY_BUCKETS, registry=r)
        self.rebuild_seconds = Histogram("matcher_rebuild_seconds",
                                         "Time to rebuild one market's book from PostgreSQL",
                                         buckets=_LATENCY_BUCKETS, registry=r)
        self.lag = Gauge("matcher_consumer_lag", "Messages behind the partition's end",
                         ["partition"], registry=r)
        self.fenced = Counter("matcher_fenced", "Batches refused because another instance"
                              " owns the partition", registry=r)
        self.batch_errors = Counter("matcher_batch_errors", "Batches rolled back", registry=r)
