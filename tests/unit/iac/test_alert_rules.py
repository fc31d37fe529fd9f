"""The alert and SLO rules (iac/observability/rules) load, behave as their promtool tests
say, and point where they claim.

promtool (Debian's prometheus package, installed by scripts/install.sh) checks the files
and runs the unit tests under rules/tests. Then: every alert has a severity (page or
ticket), a summary, a description and a runbook link to a heading that exists in
docs/operations.md; every metric a rule reads is in the catalogue
(chalicelib/domain/metric_catalogue.py), a Prometheus built-in, or recorded by a rule;
every alert is tested both firing and quiet; the local Prometheus' generated
configuration passes ``promtool check config``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from chalicelib.domain.metric_catalogue import CATALOGUE
from chalicelib.settings import Settings
from opscli.stack import prometheus

REPO = Path(__file__).resolve().parents[3]
RULES_DIR = REPO / "iac" / "observability" / "rules"
RULE_FILES = sorted(RULES_DIR.glob("*.yml"))
TEST_FILES = sorted((RULES_DIR / "tests").glob("*.yml"))
OPERATIONS = REPO / "docs" / "operations.md"
RUNBOOK_PREFIX = "docs/operations.md#"
# Prometheus' own series, and the process collector's that every local process exports.
BUILT_IN = {"up", "process_start_time_seconds"}
HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")
# What an expression holds besides metric names.
STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
MATCHERS = re.compile(r"\{[^}]*\}|\[[^\]]*\]")
GROUPINGS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
FUNCTION_CALL = re.compile(r"\b[a-z_]+\s*\(")
IDENTIFIER = re.compile(r"(?<![\w.])[a-zA-Z_:][\w:]*")
KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
            "group_left", "group_right", "inf", "nan"}


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is not installed: run scripts/install.sh (Debian package"
                    " prometheus)")
    return path


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, check=False,
                          timeout=120)


@cache
def rule_groups() -> list[dict[str, Any]]:
    return [group for path in RULE_FILES
            for group in yaml.safe_load(path.read_text())["groups"]]


def alerts() -> list[dict[str, Any]]:
    return [rule for group in rule_groups() for rule in group["rules"] if "alert" in rule]


def recorded_names() -> set[str]:
    return {rule["record"] for group in rule_groups() for rule in group["rules"]
            if "record" in rule}


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


@cache
def operations_anchors() -> set[str]:
    return {github_anchor(line.lstrip("#")) for line in OPERATIONS.read_text().splitlines()
            if line.startswith("#")}


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (roughly PromQL's lexer: strings, label
    matchers, ranges, groupings and function names removed)."""
    text = STRINGS.sub(" ", expr)
    text = MATCHERS.sub(" ", text)
    text = GROUPINGS.sub(" ", text)
    text = FUNCTION_CALL.sub(" (", text)
    return {name for name in IDENTIFIER.findall(text) if name.lower() not in KEYWORDS}


def catalogue_names() -> set[str]:
    names = set()
    for spec in CATALOGUE:
        names.add(spec.name)
        if spec.kind == "histogram":
            names.update(spec.name + suffix for suffix in HISTOGRAM_SUFFIXES)
    return names


def test_there_are_rule_files_and_tests() -> None:
    assert [path.name for path in RULE_FILES] == ["alerts.yml", "slo.yml"]
    assert TEST_FILES


def test_promtool_checks_the_rule_files() -> None:
    result = run_promtool("check", "rules", *map(str, RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("test_file", TEST_FILES, ids=lambda path: path.name)
def test_promtool_unit_tests_pass(test_file: Path) -> None:
    result = run_promtool("test", "rules", str(test_file))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("alert", alerts(), ids=lambda rule: rule["alert"])
def test_every_alert_says_how_bad_what_and_where_its_runbook_is(alert: dict[str, Any]) -> None:
    assert alert["labels"]["severity"] in ("page", "ticket")
    annotations = alert["annotations"]
    assert annotations["summary"].strip()
    assert annotations["description"].strip()
    url = annotations["runbook_url"]
    assert url.startswith(RUNBOOK_PREFIX), url
    anchor = url.removeprefix(RUNBOOK_PREFIX)
    assert anchor in operations_anchors(), (
        f"{alert['alert']}'s runbook {url}: docs/operations.md has no heading with that"
        " anchor")


def test_every_metric_a_rule_reads_is_exported() -> None:
    known = catalogue_names() | BUILT_IN | recorded_names()
    unknown = {f"{rule.get('alert') or rule.get('record')}: {name}"
               for group in rule_groups() for rule in group["rules"]
               for name in metric_names(str(rule["expr"])) if name not in known}
    assert not unknown, "rules read metrics nothing exports:\n" + "\n".join(sorted(unknown))


def test_the_metric_name_reader_finds_names_and_only_names() -> None:
    expr = ('sum by (le) (rate(exchange_x_bucket{route=~"/a|b", le="0.5"}[5m]))'
            ' / on() group_left exchange:y:ratio_rate5m > bool 3 and absent(up{job="m"})')
    assert metric_names(expr) == {"exchange_x_bucket", "exchange:y:ratio_rate5m", "up"}


def promtool_cases() -> list[tuple[str, bool]]:
    """(alert name, whether it is expected to fire) of every promtool test case."""
    cases = []
    for path in TEST_FILES:
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                cases.append((case["alertname"], bool(case.get("exp_alerts"))))
    return cases


@pytest.mark.parametrize("alert", alerts(), ids=lambda rule: rule["alert"])
def test_every_alert_is_tested_firing_and_quiet(alert: dict[str, Any]) -> None:
    cases = set(promtool_cases())
    assert (alert["alert"], True) in cases, f"no promtool test sees {alert['alert']} fire"
    assert (alert["alert"], False) in cases, f"no promtool test sees {alert['alert']} quiet"


def test_the_local_prometheus_configuration_is_valid(tmp_path: Path) -> None:
    settings = Settings(EXCHANGE_STATE_DIR=tmp_path)
    path = prometheus.write_config(settings)
    result = run_promtool("check", "config", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load(path.read_text())
    jobs = {job["job_name"]: job["static_configs"][0]["targets"]
            for job in config["scrape_configs"]}
    assert jobs["matcher"] == [f"127.0.0.1:{settings.matcher_health_port}"]
    assert jobs["api"] == [f"127.0.0.1:{settings.metrics_base_port}"]
    assert set(jobs) == {"matcher", "api", "fanout", "candles", "sweeper", "ws-gateway",
                         "ledger-auditor", "infra", "prometheus"}
    assert all(target.startswith("127.0.0.1:") for targets in jobs.values()
               for target in targets)
    assert f"--web.listen-address=127.0.0.1:{settings.prometheus_port}" in \
        prometheus.server_command(settings)
