"""The local Prometheus against an exchange trading the demo: every alert and SLO rule
loaded and none firing, every dashboard panel's query answered with data, and the
matcher killed fires MatcherDown within its ``for:`` (plus a scrape and an evaluation),
which resolves once the matcher is back.

The tests run in this order on one exchange (conftest.py); the last kills the matcher,
and ends with SPEC's ledger invariants checked on the database the demo traded on.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import yaml

from opscli.faults.exchange import IsolatedExchange
from opscli.observability.dashboards import panel_queries
from opscli.stack.prometheus import RULES_DIR
from tests.integration.observability.conftest import PrometheusApi
from tests.support.ledger import assert_ledger_invariants
from tests.support.polling import wait_until

TRADING_SECONDS = 120.0
# MatcherDown's `for:` (iac/observability/rules/alerts.yml), then a scrape to see the
# matcher gone and an evaluation to fire (5 s each locally), with room for a loaded machine.
MATCHER_DOWN_FOR_SECONDS = 60.0
MATCHER_DOWN_BOUND_SECONDS = MATCHER_DOWN_FOR_SECONDS + 5 + 5 + 30
RESOLVE_SECONDS = 90.0
PENDING_SECONDS = 30.0


def rule_files_groups() -> dict[str, int]:
    """Each rule group in iac/observability/rules with its number of rules."""
    groups = {}
    for path in sorted(Path(RULES_DIR).glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            groups[group["name"]] = len(group["rules"])
    return groups


def traded(prometheus: PrometheusApi) -> list[dict[str, Any]]:
    return prometheus.query("sum(exchange_trades_total) > 0")


def evaluated_at(group: dict[str, Any]) -> float:
    """When Prometheus last evaluated a rule group (Unix time; RFC 3339 in nanoseconds)."""
    stamp = re.sub(r"(\.\d{6})\d*", r"\1", group["lastEvaluation"]).replace("Z", "+00:00")
    return datetime.fromisoformat(stamp).timestamp()


def describe(alerts: list[dict[str, Any]]) -> list[str]:
    return [f"{alert['labels']['alertname']} {alert['state']} {alert['labels']}"
            for alert in alerts]


def test_rules_are_loaded_and_none_fires_while_the_demo_trades(
        prometheus_api: PrometheusApi) -> None:
    wait_until(lambda: traded(prometheus_api), timeout=TRADING_SECONDS,
               what="Prometheus to have scraped a trade")
    # Every rule evaluated again on the data now there (before the first scrapes, absent()
    # of the matcher's `up` holds for a moment and MatcherDown goes pending).
    scraped = time.time()
    groups = wait_until(prometheus_api.rule_groups, timeout=TRADING_SECONDS,
                        until=lambda groups: all(evaluated_at(group) > scraped
                                                 for group in groups),
                        what="every rule group evaluated after the trades were scraped")
    loaded = {group["name"]: group for group in groups}
    expected = rule_files_groups()
    assert {name: len(group["rules"]) for name, group in loaded.items()} == expected
    broken = [f"{rule['name']}: {rule.get('lastError')}" for group in loaded.values()
              for rule in group["rules"] if rule["health"] == "err"]
    assert not broken, broken
    assert describe(prometheus_api.alerts("firing")) == []
    # Nor pending, past a moment: one slow scrape may start ExporterDown's `for:`, but an
    # alert that stays pending would fire.
    wait_until(lambda: describe(prometheus_api.alerts()), timeout=PENDING_SECONDS,
               until=lambda alerts: not alerts, what="no alert pending")


def test_every_dashboard_panel_has_data(prometheus_api: PrometheusApi) -> None:
    queries = panel_queries()
    assert queries

    def empty_panels() -> list[str]:
        return [f"{query.dashboard} / {query.panel}: {query.expr}" for query in queries
                if not prometheus_api.query(query.expr)]

    # A rate needs two scrapes of a series since it first appeared: wait for them.
    wait_until(empty_panels, timeout=TRADING_SECONDS, until=lambda empty: not empty,
               what="every dashboard query to return data")


def test_killing_the_matcher_fires_matcher_down(observed_exchange: IsolatedExchange,
                                                prometheus_api: PrometheusApi) -> None:
    def matcher_down(state: str) -> list[dict[str, Any]]:
        return [alert for alert in prometheus_api.alerts(state)
                if alert["labels"]["alertname"] == "MatcherDown"]

    assert matcher_down("firing") == []
    killed = time.monotonic()
    observed_exchange.kill_app("matcher")
    firing = wait_until(lambda: matcher_down("firing"), timeout=MATCHER_DOWN_BOUND_SECONDS,
                        what="MatcherDown to fire")
    fired_after = time.monotonic() - killed
    print(f"MatcherDown fired {fired_after:.1f} s after the matcher's SIGKILL")
    others = [alert for alert in prometheus_api.alerts("firing")
              if alert["labels"]["alertname"] != "MatcherDown"]
    observed_exchange.start_app("matcher")
    assert firing[0]["labels"]["severity"] == "page"
    assert fired_after >= MATCHER_DOWN_FOR_SECONDS
    assert describe(others) == []
    restarted = time.monotonic()
    wait_until(lambda: matcher_down("firing") + matcher_down("pending"),
               timeout=RESOLVE_SECONDS, until=lambda alerts: not alerts,
               what="MatcherDown to resolve")
    print(f"MatcherDown resolved {time.monotonic() - restarted:.1f} s after the restart")
    # The demo moved money throughout: the ledger holds, and the auditor says so too.
    with psycopg.connect(observed_exchange.owner_url(), autocommit=True) as conn:
        assert_ledger_invariants(conn)
    assert [sample["value"][1] for sample in
            prometheus_api.query("exchange_ledger_audit_ok")] == ["1"]
