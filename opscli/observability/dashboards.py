"""The Grafana dashboards, generated: iac/observability/dashboards/<name>.json.

    python -m opscli.observability.dashboards --write   rewrite the committed JSON
    python -m opscli.observability.dashboards --check   exit 1 if it differs (the unit test)

Every dashboard takes a `datasource` variable (any Prometheus data source: Amazon Managed
Prometheus through Managed Grafana, or the local one) and, where panels are per market, a
`market` variable. `panel_queries` gives each panel's PromQL as an instant query for a
plain Prometheus: the live test runs them against the local one.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opscli.observability.model import Dashboard, Panel
from opscli.observability.panels import DASHBOARDS

DASHBOARDS_DIR = Path(__file__).resolve().parents[2] / "iac" / "observability" / "dashboards"
SCHEMA_VERSION = 39
GRID_WIDTH = 24
HEIGHTS = {"stat": 4, "timeseries": 8}
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
MARKETS_QUERY = "label_values(exchange_trades_total, market)"
# Grafana's variables as a plain Prometheus instant query needs them.
INSTANT_SUBSTITUTIONS = {"$__rate_interval": "1m", "$__interval": "15s", "$market": ".*"}


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    panel: str
    expr: str


def build() -> dict[str, dict[str, Any]]:
    """Every dashboard as Grafana JSON, by file name (without .json)."""
    return {dashboard.name: _dashboard_json(dashboard) for dashboard in DASHBOARDS}


def panel_queries() -> list[PanelQuery]:
    """Every panel's every query, with Grafana's variables replaced: "All" markets, a
    one-minute rate window."""
    return [PanelQuery(dashboard.title, panel.title, instant_expr(query.expr))
            for dashboard in DASHBOARDS for panel in dashboard.panels
            for query in panel.queries]


def instant_expr(expr: str) -> str:
    pattern = "|".join(re.escape(name) for name in
                       sorted(INSTANT_SUBSTITUTIONS, key=len, reverse=True))
    return re.sub(pattern, lambda match: INSTANT_SUBSTITUTIONS[match.group(0)], expr)


def render(dashboard: dict[str, Any]) -> str:
    return json.dumps(dashboard, indent=2, sort_keys=True) + "\n"


def stale_files(directory: Path = DASHBOARDS_DIR) -> list[str]:
    """The files that differ from the generator's output (or are missing, or extra)."""
    wanted = {f"{name}.json": render(body) for name, body in build().items()}
    present = {path.name for path in directory.glob("*.json")}
    return sorted(name for name in wanted.keys() | present
                  if name not in present or name not in wanted
                  or (directory / name).read_text() != wanted[name])


def write(directory: Path = DASHBOARDS_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, body in build().items():
        path = directory / f"{name}.json"
        path.write_text(render(body))
        written.append(path)
    return written


def _dashboard_json(dashboard: Dashboard) -> dict[str, Any]:
    variables: list[dict[str, Any]] = [{
        "name": "datasource", "label": "Data source", "type": "datasource",
        "query": "prometheus", "current": {}, "hide": 0, "refresh": 1, "regex": "",
        "options": [], "skipUrlSync": False,
    }]
    if dashboard.by_market:
        variables.append({
            "name": "market", "label": "Market", "type": "query", "datasource": DATASOURCE,
            "definition": MARKETS_QUERY,
            "query": {"query": MARKETS_QUERY, "refId": "PrometheusVariableQueryEditor"},
            "includeAll": True, "multi": True, "allValue": ".*",
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "hide": 0, "refresh": 2, "regex": "", "sort": 1, "options": [],
            "skipUrlSync": False,
        })
    return {
        "uid": dashboard.uid, "title": dashboard.title, "description": dashboard.description,
        "tags": ["exchange"], "timezone": "utc", "schemaVersion": SCHEMA_VERSION,
        "version": 1, "editable": True, "graphTooltip": 1, "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"}, "timepicker": {}, "fiscalYearStartMonth": 0,
        "liveNow": False, "weekStart": "",
        "annotations": {"list": []},
        "links": [{"title": "Exchange dashboards", "type": "dashboards", "tags": ["exchange"],
                   "asDropdown": True, "includeVars": True, "keepTime": True,
                   "icon": "external link", "targetBlank": False, "tooltip": "", "url": ""}],
        "templating": {"list": variables},
        "panels": _laid_out(dashboard.panels),
    }


def _laid_out(panels: tuple[Panel, ...]) -> list[dict[str, Any]]:
    """Panels left to right, a new row when the next does not fit the 24 columns."""
    laid_out = []
    x = y = row_height = 0
    for number, panel in enumerate(panels, start=1):
        height = HEIGHTS[panel.kind]
        if x + panel.width > GRID_WIDTH:
            x, y, row_height = 0, y + row_height, 0
        laid_out.append(_panel_json(panel, number, {"x": x, "y": y, "w": panel.width,
                                                    "h": height}))
        x += panel.width
        row_height = max(row_height, height)
    return laid_out


def _panel_json(panel: Panel, panel_id: int, grid: dict[str, int]) -> dict[str, Any]:
    targets = [{"refId": chr(ord("A") + index), "datasource": DATASOURCE, "expr": query.expr,
                "legendFormat": query.legend or "__auto", "range": True, "instant": False,
                "editorMode": "code"}
               for index, query in enumerate(panel.queries)]
    options: dict[str, Any] = (
        {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
         "colorMode": "value", "graphMode": "area", "justifyMode": "auto",
         "orientation": "auto", "textMode": "auto"}
        if panel.kind == "stat" else
        {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True,
                    "calcs": []},
         "tooltip": {"mode": "multi", "sort": "desc"}})
    return {
        "id": panel_id, "type": panel.kind, "title": panel.title,
        "description": panel.description, "datasource": DATASOURCE, "gridPos": grid,
        "targets": targets, "options": options,
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="rewrite the committed JSON")
    action.add_argument("--check", action="store_true", help="exit 1 if it is stale")
    args = parser.parse_args(argv)
    if args.write:
        for path in write():
            print(f"wrote {path}")
        return 0
    stale = stale_files()
    for name in stale:
        print(f"stale: {DASHBOARDS_DIR / name} (run --write)")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
