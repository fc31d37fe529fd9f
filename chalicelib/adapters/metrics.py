"""The catalogue's metrics, recorded where they are read.

``PrometheusMetrics`` keeps them in a prometheus-client registry (the matcher's pod and
every local process, scraped by Prometheus); ``EmfMetrics`` writes each value as one
CloudWatch EMF line through Powertools (in Lambda, where nothing scrapes). Both take the
catalogue's ``MetricSpec`` and its labels as keywords, so a misspelled name or label fails
at once in both. ``metrics_for`` chooses for the process it runs in.
"""

from __future__ import annotations

import os
import threading
from typing import Protocol
from wsgiref.simple_server import WSGIServer

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)
from prometheus_client.metrics import MetricWrapperBase

from chalicelib.domain.metric_catalogue import MetricSpec, Role, Unit, specs_of

NAMESPACE = "Exchange"
# Where a local process serves /metrics: set by `exchange up` (opscli/stack/apps.py).
PORT_VARIABLE = "EXCHANGE_METRICS_PORT"
HOST_VARIABLE = "EXCHANGE_METRICS_HOST"

_EMF_UNITS: dict[Unit, MetricUnit] = {
    "seconds": MetricUnit.Seconds, "count": MetricUnit.Count, "bytes": MetricUnit.Bytes,
    "messages": MetricUnit.Count, "units": MetricUnit.Count, "boolean": MetricUnit.NoUnit,
    "timestamp": MetricUnit.Seconds,
}


class MetricsRecorder(Protocol):
    def inc(self, spec: MetricSpec, amount: float = 1.0, **labels: str) -> None: ...

    def observe(self, spec: MetricSpec, value: float, **labels: str) -> None: ...

    def set(self, spec: MetricSpec, value: float, **labels: str) -> None: ...

    def remove(self, spec: MetricSpec, **labels: str) -> None: ...


class PrometheusMetrics:
    """One role's metrics in a registry of their own (with the process' CPU and memory)."""

    def __init__(self, role: Role, *, process_metrics: bool = True) -> None:
        self.role = role
        self.registry = CollectorRegistry()
        if process_metrics:
            for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
                self.registry.register(collector)
        self._collectors: dict[str, MetricWrapperBase] = {
            spec.name: _collector(spec, self.registry) for spec in specs_of(role)}

    def inc(self, spec: MetricSpec, amount: float = 1.0, **labels: str) -> None:
        self._child(spec, labels).inc(amount)  # type: ignore[attr-defined]

    def observe(self, spec: MetricSpec, value: float, **labels: str) -> None:
        self._child(spec, labels).observe(value)  # type: ignore[attr-defined]

    def set(self, spec: MetricSpec, value: float, **labels: str) -> None:
        self._child(spec, labels).set(value)  # type: ignore[attr-defined]

    def remove(self, spec: MetricSpec, **labels: str) -> None:
        collector = self._collectors[spec.name]
        try:
            collector.remove(*(labels[name] for name in spec.labels))
        except KeyError:
            return

    def sample(self, spec: MetricSpec, suffix: str = "", **labels: str) -> float | None:
        """The current value of one series (tests and the local CLI read it)."""
        name = spec.name + suffix
        return self.registry.get_sample_value(name, labels or None)

    def serve(self, port: int, host: str = "127.0.0.1") -> WSGIServer:
        """Serve /metrics on a daemon thread."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server

    def _child(self, spec: MetricSpec, labels: dict[str, str]) -> MetricWrapperBase:
        collector = self._collectors[spec.name]
        if set(labels) != set(spec.labels):
            raise ValueError(f"{spec.name} takes labels {spec.labels}, not {tuple(labels)}")
        return collector.labels(**labels) if spec.labels else collector


class EmfMetrics:
    """Each value as one EMF line on stdout; its labels become CloudWatch dimensions."""

    def __init__(self, role: Role, namespace: str = NAMESPACE) -> None:
        self.role = role
        self.namespace = namespace
        self._names = {spec.name for spec in specs_of(role)}

    def inc(self, spec: MetricSpec, amount: float = 1.0, **labels: str) -> None:
        self._emit(spec, amount, labels)

    def observe(self, spec: MetricSpec, value: float, **labels: str) -> None:
        self._emit(spec, value, labels)

    def set(self, spec: MetricSpec, value: float, **labels: str) -> None:
        self._emit(spec, value, labels)

    def remove(self, spec: MetricSpec, **labels: str) -> None:
        """Nothing is kept between values."""

    def _emit(self, spec: MetricSpec, value: float, labels: dict[str, str]) -> None:
        if spec.name not in self._names:
            raise ValueError(f"{spec.name} is not a metric of {self.role}")
        if set(labels) != set(spec.labels):
            raise ValueError(f"{spec.name} takes labels {spec.labels}, not {tuple(labels)}")
        with single_metric(name=spec.name, unit=_EMF_UNITS[spec.unit], value=value,
                           namespace=self.namespace) as metric:
            # Written when the block ends: one line, the labels as its dimensions.
            for name, label in {"service": self.role, **labels}.items():
                metric.add_dimension(name=name, value=label)


_served: dict[Role, PrometheusMetrics] = {}
_lock = threading.Lock()


def metrics_for(role: Role) -> MetricsRecorder:
    """The role's recorder in this process: EMF in Lambda; elsewhere a registry, served on
    EXCHANGE_METRICS_PORT when that is set (once per process, whoever asks first).

    Only the first role asked is served: a process hosting another role's code (the
    WebSocket gateway runs the API's handlers) asks for its own role first, and the
    other role's registry is kept but not served on the same port."""
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME") and not os.environ.get(PORT_VARIABLE):
        return EmfMetrics(role)
    with _lock:
        if role not in _served:
            metrics = PrometheusMetrics(role)
            port = os.environ.get(PORT_VARIABLE)
            if port and not _served:
                metrics.serve(int(port), os.environ.get(HOST_VARIABLE, "127.0.0.1"))
            _served[role] = metrics
        return _served[role]


def _collector(spec: MetricSpec, registry: CollectorRegistry) -> MetricWrapperBase:
    if spec.kind == "counter":
        return Counter(spec.name, spec.help, spec.labels, registry=registry)
    if spec.kind == "gauge":
        return Gauge(spec.name, spec.help, spec.labels, registry=registry)
    return Histogram(spec.name, spec.help, spec.labels, registry=registry,
                     buckets=spec.buckets)
