"""The catalogue's names and labels are enforced the same way for Prometheus and EMF."""

from __future__ import annotations

import json
import re

import pytest

from chalicelib.adapters.metrics import EmfMetrics, PrometheusMetrics
from chalicelib.domain import metric_catalogue as catalogue
from chalicelib.domain.tracing import correlation_id

pytestmark = pytest.mark.unit

NAME = re.compile(r"exchange_[a-z0-9_]+")


def test_catalogue_names_follow_prometheus_conventions() -> None:
    names = [spec.name for spec in catalogue.CATALOGUE]
    assert len(names) == len(set(names)), "a metric is listed twice"
    for spec in catalogue.CATALOGUE:
        assert NAME.fullmatch(spec.name), spec.name
        assert spec.help
        assert spec.roles
        assert spec.name.endswith("_total") == (spec.kind == "counter"), spec.name
        if spec.unit == "seconds" and spec.kind != "counter":
            assert spec.name.endswith(("_seconds", "_timestamp_seconds")), spec.name


def test_prometheus_records_by_label_and_refuses_wrong_labels() -> None:
    metrics = PrometheusMetrics("api", process_metrics=False)
    metrics.inc(catalogue.ORDERS_ACCEPTED, market="BTCUSDT", type="LIMIT")
    metrics.inc(catalogue.ORDERS_ACCEPTED, 2, market="BTCUSDT", type="LIMIT")
    assert metrics.sample(catalogue.ORDERS_ACCEPTED, market="BTCUSDT", type="LIMIT") == 3
    with pytest.raises(ValueError, match="takes labels"):
        metrics.inc(catalogue.ORDERS_ACCEPTED, market="BTCUSDT")
    with pytest.raises(KeyError):
        metrics.inc(catalogue.TRADES, market="BTCUSDT")  # the matcher's, not the API's


def test_emf_writes_one_line_per_value_with_labels_as_dimensions(
        capsys: pytest.CaptureFixture[str]) -> None:
    EmfMetrics("api").observe(catalogue.API_REQUEST_SECONDS, 0.25, route="/api/v3/order",
                              method="POST")
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["exchange_api_request_duration_seconds"] in (0.25, [0.25])
    assert line["route"] == "/api/v3/order"
    assert line["service"] == "api"
    directive = line["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "Exchange"
    assert set(directive["Dimensions"][0]) >= {"route", "method", "service"}


def test_correlation_ids_are_kept_when_safe_and_replaced_when_not() -> None:
    assert correlation_id("order-123.abc") == "order-123.abc"
    for offered in (None, "", "x" * 65, "a b", "a\nb", "-starts-with-dash"):
        made = correlation_id(offered)
        assert made != offered
        assert re.fullmatch(r"[0-9a-f]{32}", made)
