"""The Grafana dashboards in iac/observability/dashboards: importable, and every query
reads a metric something exports.

Names are read out of the PromQL with a small tokenizer: what is left of an expression
once strings, label matchers, range windows, grouping lists and function calls are
taken out is metric names (and the binary operators' keywords). The live test (the
demo's Prometheus) shows that each query also returns data.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from chalicelib.domain.metric_catalogue import CATALOGUE, MetricSpec
from opscli.observability.dashboards import (
    DASHBOARDS_DIR,
    DATASOURCE,
    build,
    panel_queries,
    stale_files,
)

RULES_DIR = DASHBOARDS_DIR.parent / "rules"
KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def committed() -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text())
            for path in sorted(DASHBOARDS_DIR.glob("*.json"))}


def panels() -> list[tuple[str, dict[str, Any]]]:
    return [(name, panel) for name, dashboard in committed().items()
            for panel in dashboard["panels"]]


def exprs() -> list[str]:
    return [target["expr"] for _, panel in panels() for target in panel["targets"]]


def metric_names(expr: str) -> set[str]:
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ",
                  text)
    text = re.sub(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\s*\(", "(", text)  # function calls
    names = set(re.findall(r"(?<![\w.$])[a-zA-Z_:][a-zA-Z0-9_:]*", text))
    return names - KEYWORDS


def exposed_names(spec: MetricSpec) -> set[str]:
    """What Prometheus stores for a catalogue metric."""
    if spec.kind == "histogram":
        return {spec.name + suffix for suffix in HISTOGRAM_SUFFIXES}
    return {spec.name}


def recorded_names() -> set[str]:
    """The recording rules' names (iac/observability/rules/*.yml)."""
    names: set[str] = set()
    for path in sorted(RULES_DIR.glob("*.yml")):
        for group in (yaml.safe_load(path.read_text()) or {}).get("groups", []):
            names |= {rule["record"] for rule in group.get("rules", []) if "record" in rule}
    return names


def test_the_tokenizer_finds_metric_names_and_nothing_else() -> None:
    expr = ('histogram_quantile(0.99, sum by (route, le) (rate(x_bucket{status=~"5..",'
            ' route="/a"}[$__rate_interval]))) or on() (0 * sum(up)) and on(job) y'
            " / time() - max(z:ratio_rate5m offset 5m)")

    assert metric_names(expr) == {"x_bucket", "up", "y", "z:ratio_rate5m"}


def test_the_committed_json_is_the_generators_output() -> None:
    assert stale_files() == [], "run: .venv/bin/python -m opscli.observability.dashboards --write"
    assert committed() == build()


def test_there_are_the_five_dashboards_with_unique_uids_and_titles() -> None:
    dashboards = committed()

    assert set(dashboards) == {"overview", "matcher", "api", "money", "infrastructure"}
    assert len({d["uid"] for d in dashboards.values()}) == len(dashboards)
    assert len({d["title"] for d in dashboards.values()}) == len(dashboards)
    for dashboard in dashboards.values():
        assert dashboard["schemaVersion"] >= 39
        assert re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", dashboard["uid"])


def test_every_dashboard_chooses_its_prometheus_data_source() -> None:
    for name, dashboard in committed().items():
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource", name
        assert variables["datasource"]["query"] == "prometheus", name
        uses_market = any("$market" in expr for panel in dashboard["panels"]
                          for expr in (t["expr"] for t in panel["targets"]))
        assert ("market" in variables) == uses_market, name
        if uses_market:
            market = variables["market"]
            assert market["datasource"] == DATASOURCE
            assert market["definition"] == "label_values(exchange_trades_total, market)"
            assert market["allValue"] == ".*"
            assert market["includeAll"]


def test_every_panel_reads_the_chosen_data_source_and_has_a_query() -> None:
    for name, panel in panels():
        assert panel["datasource"] == DATASOURCE, (name, panel["title"])
        assert panel["targets"], (name, panel["title"])
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE
            assert target["expr"].strip()
        assert panel["description"], (name, panel["title"])


def test_panels_do_not_overlap_and_fit_the_grid() -> None:
    for name, dashboard in committed().items():
        cells: set[tuple[int, int]] = set()
        assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
        for panel in dashboard["panels"]:
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24, (name, panel["title"])
            covered = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                       for y in range(grid["y"], grid["y"] + grid["h"])}
            assert not covered & cells, (name, panel["title"])
            cells |= covered


def test_every_query_names_only_metrics_that_something_exports() -> None:
    known = set().union(*(exposed_names(spec) for spec in CATALOGUE)) | recorded_names()
    unknown = {name for expr in exprs() for name in metric_names(expr)
               if name not in known and name != "up" and not name.startswith("process_")}

    assert unknown == set()


def test_every_catalogue_metric_is_on_a_dashboard() -> None:
    used = set().union(*(metric_names(expr) for expr in exprs()))
    unseen = [spec.name for spec in CATALOGUE if not exposed_names(spec) & used]

    assert unseen == []


def test_panel_queries_are_instant_queries_for_a_plain_prometheus() -> None:
    queries = panel_queries()

    assert len(queries) == len(exprs())
    assert {(q.dashboard, q.panel) for q in queries} == {
        (d["title"], p["title"]) for d in committed().values() for p in d["panels"]}
    for query in queries:
        assert "$" not in query.expr, query
    assert any('market=~".*"' in q.expr and "[1m]" in q.expr for q in queries)


def test_promtool_parses_every_query(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is missing: run scripts/install.sh (Debian's prometheus)")
    rules = [{"record": f"dashboard:query_{i}", "expr": q.expr}
             for i, q in enumerate(panel_queries())]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))

    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True,
                            text=True, check=False, timeout=60)

    assert result.returncode == 0, result.stdout + result.stderr
